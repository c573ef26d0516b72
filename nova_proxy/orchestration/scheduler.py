"""Pick a compute host for a build or a migration.

A deliberately small scheduler: a host qualifies when its compute service
is enabled and up (heartbeat younger than ``[periodic] service_down_time``,
by the database's clock) and its compute node reports room for the flavor.
Among those, the one with the most free memory wins (ties by name), so a
placement is stable and easy to predict in tests. The destination's
``prep_resize`` claim is the real check: if the host filled up meanwhile,
the claim fails and the operation rolls back.

Builds placed but not yet claimed (instances ``building`` and
``scheduling`` on a host: the compute has not started them, and its
report does not count them yet) are counted against the host's room,
under a lock on its compute node row taken in the placing transaction:
builds accepted at once do not all land on the best host, where every
one after the first would fail its claim (a build is never moved).
"""

from nova_proxy import conf
from nova_proxy.db.api import scheduling as db_scheduling
from nova_proxy import exception

CONF = conf.CONF

__all__ = ['select_host', 'compute_host_up', 'hosts_with_room',
           'COMPUTE_BINARY']

# The service record compute hosts register, as nova-compute does.
COMPUTE_BINARY = db_scheduling.COMPUTE_BINARY


def _flavor_need(flavor):
    return (int(flavor.get('memory_mb') or 0), int(flavor.get('vcpus') or 0),
            int(flavor.get('root_gb') or 0))


def compute_host_up(context, host):
    """True when ``host`` has an enabled compute service that heartbeated
    within ``[periodic] service_down_time``."""
    return db_scheduling.compute_host_up(
        context, host, CONF.periodic.service_down_time)


def hosts_with_room(context, flavor, exclude=()):
    """``[(free_memory_mb, host, node)]`` of up hosts with room, best
    first."""
    memory, vcpus, disk = _flavor_need(flavor)
    result = []
    for host, node, free_mem, free_cpu, free_disk in \
            db_scheduling.compute_nodes_up(
                context, CONF.periodic.service_down_time):
        if host in exclude:
            continue
        if free_mem >= memory and free_cpu >= vcpus and free_disk >= disk:
            result.append((free_mem, host, node))
    result.sort(key=lambda r: (-r[0], r[1]))
    return result


def _room_now(context, host, node, flavor):
    """Whether ``host``/``node`` has room for ``flavor`` once the builds
    placed there and not yet claimed are counted, under its node row's
    lock (held until the caller's transaction ends)."""
    room = db_scheduling.compute_node_room(context, host, node)
    if room is None:
        return False
    free, placed = room
    return all(have - taken >= need for have, taken, need in zip(
        free, placed, _flavor_need(flavor)))


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


def node_of(context, host):
    """The node name of ``host``'s compute node (the first one), for a
    destination the caller named.

    :raises: ComputeHostNotFound when ``host`` has no compute node: an
        operation sent there would wait for a compute that does not
        exist, then be rolled back, minutes later.
    """
    node = db_scheduling.compute_node_name(context, host)
    if node is None:
        raise exception.ComputeHostNotFound(host=host, node=host)
    return node
