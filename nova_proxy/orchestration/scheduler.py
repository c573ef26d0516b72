"""Pick a compute host for a build or a migration.

A deliberately small scheduler: a host qualifies when its compute service
is enabled and up (heartbeat younger than ``[periodic] service_down_time``,
by the database's clock) and its compute node reports room for the flavor.
Among those, the one with the most free memory wins (ties by name), so a
placement is stable and easy to predict in tests. The destination's
``prep_resize`` claim is the real check: if the host filled up meanwhile,
the claim fails and the operation rolls back.

The room is read from nova's ``compute_nodes`` columns, as nova-compute's
``update_available_resource`` writes them, with the arithmetic of nova's
RAM, core and disk filters (``room()``): for memory and disk, the total
times its allocation ratio less what is used (``total - free``, from
``free_ram_mb``/``free_disk_gb``, the disk's free space never more than
``disk_available_least``); for VCPUs, ``vcpus`` times the ratio less
``vcpus_used``. A node that reports no ratio (None or 0.0, as the 1.x
calls leave them) is not overcommitted: ratio 1.0. A node is named by its
``hypervisor_hostname``, which is what nova writes to an instance's and a
migration's ``node`` columns.

Builds placed but not yet claimed (instances ``building`` and
``scheduling`` on a node: the compute has not started them, and its
report does not count them yet) are counted against the node's room,
under a lock on its compute node row taken in the placing transaction:
builds accepted at once do not all land on the best host, where every
one after the first would fail its claim (a build is never moved).
"""

from nova_proxy import conf
from nova_proxy.db.api import scheduling as db_scheduling
from nova_proxy import exception

CONF = conf.CONF

__all__ = ['select_host', 'compute_host_up', 'hosts_with_room', 'room',
           'compute_node', 'node_of', 'COMPUTE_BINARY']

# The service record compute hosts register, as nova-compute does.
COMPUTE_BINARY = db_scheduling.COMPUTE_BINARY


def _flavor_need(flavor):
    return (int(flavor.get('memory_mb') or 0), int(flavor.get('vcpus') or 0),
            int(flavor.get('root_gb') or 0))


def _ratio(value):
    return value or 1.0


def _free(free, total, used):
    return free if free is not None else total - used


def room(node):
    """``(memory MB, VCPUs, disk GB)`` that ``node`` (a compute node row
    with nova's columns) still has room for, as nova's RAM, core and disk
    filters count it."""
    memory = node['memory_mb']
    free_ram = _free(node['free_ram_mb'], memory, node['memory_mb_used'])
    disk = node['local_gb']
    free_disk = _free(node['free_disk_gb'], disk, node['local_gb_used'])
    if node['disk_available_least'] is not None:
        free_disk = min(free_disk, node['disk_available_least'])
    return (memory * _ratio(node['ram_allocation_ratio']) -
            (memory - free_ram),
            node['vcpus'] * _ratio(node['cpu_allocation_ratio']) -
            node['vcpus_used'],
            disk * _ratio(node['disk_allocation_ratio']) -
            (disk - free_disk))


def compute_host_up(context, host):
    """True when ``host`` has an enabled compute service that heartbeated
    within ``[periodic] service_down_time``."""
    return db_scheduling.compute_host_up(
        context, host, CONF.periodic.service_down_time)


def hosts_with_room(context, flavor, exclude=()):
    """``[(free_memory_mb, host, node)]`` of up hosts with room, best
    first; ``node`` is the node's ``hypervisor_hostname``."""
    need = _flavor_need(flavor)
    result = []
    for node in db_scheduling.compute_nodes_up(
            context, CONF.periodic.service_down_time):
        if node['host'] in exclude:
            continue
        free = room(node)
        if all(have >= wanted for have, wanted in zip(free, need)):
            result.append((free[0], node['host'],
                           node['hypervisor_hostname']))
    result.sort(key=lambda r: (-r[0], r[1]))
    return result


def _room_now(context, host, node, flavor):
    """Whether ``host``/``node`` has room for ``flavor`` once the builds
    placed there and not yet claimed are counted, under its node row's
    lock (held until the caller's transaction ends)."""
    found = db_scheduling.compute_node_room(context, host, node)
    if found is None:
        return False
    node_row, placed = found
    return all(have - taken >= need for have, taken, need in zip(
        room(node_row), placed, _flavor_need(flavor)))


def select_host(context, flavor, exclude=()):
    """The best ``(host, node)`` for ``flavor``, never one of ``exclude``.
    Called in the transaction that places the instance there (see the
    module's docstring).

    :raises: NoValidHost
    """
    for _free, host, node in hosts_with_room(context, flavor,
                                             exclude=tuple(exclude)):
        if _room_now(context, host, node, flavor):
            return host, node
    raise exception.NoValidHost(
        reason='No compute host that is up has room for %s MB, %s '
               'VCPUs, %s GB%s.' % (_flavor_need(flavor) + (
                   ' (excluding %s)' % ', '.join(sorted(exclude))
                   if exclude else '',)))


def compute_node(context, host, node=None):
    """``host``'s compute node named ``node`` (its first one when None):
    a dict of ``db_scheduling.RESOURCE_COLUMNS``, whose ``id`` an
    instance's and a migration's ``compute_id``/``dest_compute_id`` take
    and whose ``host_ip`` a migration's ``dest_host`` takes, as nova's
    resource tracker writes them.

    :raises: ComputeHostNotFound when there is no such node: an
        operation sent there would wait for a compute that does not
        exist, then be rolled back, minutes later.
    """
    found = db_scheduling.compute_node_first(context, host, node)
    if found is None:
        raise exception.ComputeHostNotFound(host=host, node=node or host)
    return found


def node_of(context, host):
    """The ``hypervisor_hostname`` of ``host``'s first compute node, for
    a destination the caller named.

    :raises: ComputeHostNotFound
    """
    return compute_node(context, host)['hypervisor_hostname']
