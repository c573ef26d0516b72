"""What the orchestration's scheduler reads: compute hosts that are up,
the resources their compute nodes report, and the builds placed on them.

A compute host is up while its ``nova-compute`` service is not forced
down and heartbeated within ``down_time`` seconds by the database's clock
(``nova_proxy.db.session.db_utcnow``), read in the same transaction.

A compute node's resources are nova's ``compute_nodes`` columns as
nova-compute's ``update_available_resource`` writes them
(``compute_node_update``): totals (``vcpus``, ``memory_mb``,
``local_gb``), usage (``*_used``, ``free_ram_mb``, ``free_disk_gb``,
``disk_available_least``) and allocation ratios. They are returned as
read (``RESOURCE_COLUMNS``); what they leave room for is the scheduler's
arithmetic (``nova_proxy.orchestration.scheduler``), not SQL's. A node is
named by nova's ``hypervisor_hostname``.
"""

import datetime

import sqlalchemy as sa

from nova_proxy.common import states
from nova_proxy.db import models
from nova_proxy.db import session as db_session

__all__ = ['COMPUTE_BINARY', 'RESOURCE_COLUMNS', 'compute_host_up',
           'compute_nodes_up', 'compute_node_room', 'compute_node_first']

# The service record compute hosts register, as nova-compute does.
COMPUTE_BINARY = 'nova-compute'

# The columns of a compute node the scheduler reads, nova's names.
RESOURCE_COLUMNS = (
    'id', 'host', 'hypervisor_hostname', 'host_ip', 'vcpus', 'memory_mb',
    'local_gb', 'vcpus_used', 'memory_mb_used', 'local_gb_used',
    'free_ram_mb', 'free_disk_gb', 'disk_available_least',
    'cpu_allocation_ratio', 'ram_allocation_ratio', 'disk_allocation_ratio')

_SERVICES = models.Service.__table__
_NODES = models.ComputeNode.__table__
_INSTANCES = models.Instance.__table__


def _resources():
    return [_NODES.c[name] for name in RESOURCE_COLUMNS]


def _record(row):
    record = dict(row._mapping)
    # host_ip is an address type; the scheduler hands it on as text.
    if record['host_ip'] is not None:
        record['host_ip'] = str(record['host_ip'])
    return record


def _up_cutoff(connection, down_time):
    db_now = connection.execute(
        sa.select(db_session.db_utcnow())).scalar_one()
    return db_now - datetime.timedelta(seconds=down_time)


@db_session.core_reader
def compute_host_up(context, host, down_time):
    """True when ``host`` has a compute service, not forced down, that
    heartbeated within ``down_time`` seconds."""
    s = _SERVICES.c
    cutoff = _up_cutoff(context.connection, down_time)
    row = context.connection.execute(
        sa.select(s.id).where(s.host == host, s.deleted == 0,
                              s.binary == COMPUTE_BINARY,
                              s.forced_down.is_(False),
                              s.last_seen_up >= cutoff)).first()
    return row is not None


@db_session.core_reader
def compute_nodes_up(context, down_time):
    """The compute nodes (``RESOURCE_COLUMNS`` dicts) whose compute
    service is enabled and up, by id."""
    s, n = _SERVICES.c, _NODES.c
    cutoff = _up_cutoff(context.connection, down_time)
    return [_record(row) for row in context.connection.execute(
        sa.select(*_resources())
        .select_from(_NODES)
        .join(_SERVICES, sa.and_(s.host == n.host, s.deleted == 0,
                                 s.binary == COMPUTE_BINARY))
        .where(n.deleted == 0, s.disabled.is_(False),
               s.forced_down.is_(False), s.last_seen_up >= cutoff)
        .order_by(n.id))]


@db_session.core_reader
def compute_node_room(context, host, node):
    """The compute node ``host``/``node`` (its ``hypervisor_hostname``)
    and the builds placed there and not yet claimed, read under the node
    row's lock (held until the caller's transaction ends).

    :returns: ``(node, (placed memory MB, placed VCPUs, placed disk
        GB))``, ``node`` a ``RESOURCE_COLUMNS`` dict; None when there is
        no such node
    """
    n, i = _NODES.c, _INSTANCES.c
    connection = context.connection
    row = connection.execute(
        sa.select(*_resources())
        .where(n.host == host, n.hypervisor_hostname == node,
               n.deleted == 0)
        .with_for_update()).first()
    if row is None:
        return None
    placed = connection.execute(
        sa.select(sa.func.coalesce(sa.func.sum(i.memory_mb), 0),
                  sa.func.coalesce(sa.func.sum(i.vcpus), 0),
                  sa.func.coalesce(sa.func.sum(i.root_gb), 0))
        .where(i.host == host, i.node == node, i.deleted == 0,
               i.vm_state == states.VM_BUILDING,
               i.task_state == states.TASK_SCHEDULING)).one()
    # SUM is a DECIMAL on MySQL/MariaDB: integers, as on the others (a
    # Decimal does not mix with the float room of an allocation ratio).
    return _record(row), tuple(int(value) for value in placed)


@db_session.core_reader
def compute_node_first(context, host, node=None):
    """``host``'s compute node named ``node``, or its first one (by id)
    when ``node`` is None, as a ``RESOURCE_COLUMNS`` dict; None when
    there is none."""
    n = _NODES.c
    query = sa.select(*_resources()).where(n.host == host, n.deleted == 0)
    if node is not None:
        query = query.where(n.hypervisor_hostname == node)
    row = context.connection.execute(query.order_by(n.id)).first()
    return _record(row) if row is not None else None
