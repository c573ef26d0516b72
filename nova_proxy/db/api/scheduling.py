"""What the orchestration's scheduler reads: compute hosts that are up,
the room their compute nodes report, and the builds placed on them.

A compute host is up while its ``nova-compute`` service is not forced
down and heartbeated within ``down_time`` seconds by the database's clock
(``nova_proxy.db.session.db_utcnow``), read in the same transaction.
"""

import datetime

import sqlalchemy as sa

from nova_proxy.common import states
from nova_proxy.db import models
from nova_proxy.db import session as db_session

__all__ = ['COMPUTE_BINARY', 'compute_host_up', 'compute_nodes_up',
           'compute_node_room', 'compute_node_name']

# The service record compute hosts register, as nova-compute does.
COMPUTE_BINARY = 'nova-compute'

_SERVICES = models.Service.__table__
_NODES = models.ComputeNode.__table__
_INSTANCES = models.Instance.__table__


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
    """``[(host, node, free memory MB, free VCPUs, free disk GB)]`` of the
    compute nodes whose compute service is enabled and up."""
    s, n = _SERVICES.c, _NODES.c
    cutoff = _up_cutoff(context.connection, down_time)
    return [tuple(row) for row in context.connection.execute(
        sa.select(n.host, n.node, n.memory_mb - n.memory_mb_used,
                  n.vcpus - n.vcpus_used, n.local_gb - n.local_gb_used)
        .select_from(_NODES)
        .join(_SERVICES, sa.and_(s.host == n.host, s.deleted == 0,
                                 s.binary == COMPUTE_BINARY))
        .where(n.deleted == 0, s.disabled.is_(False),
               s.forced_down.is_(False), s.last_seen_up >= cutoff))]


@db_session.core_reader
def compute_node_room(context, host, node):
    """The room ``host``/``node`` reports and the builds placed there and
    not yet claimed, read under the node row's lock (held until the
    caller's transaction ends).

    :returns: ``((free memory MB, free VCPUs, free disk GB), (placed
        memory MB, placed VCPUs, placed disk GB))``, or None when there is
        no such node
    """
    n, i = _NODES.c, _INSTANCES.c
    connection = context.connection
    free = connection.execute(
        sa.select(n.memory_mb - n.memory_mb_used, n.vcpus - n.vcpus_used,
                  n.local_gb - n.local_gb_used)
        .where(n.host == host, n.node == node, n.deleted == 0)
        .with_for_update()).first()
    if free is None:
        return None
    placed = connection.execute(
        sa.select(sa.func.coalesce(sa.func.sum(i.memory_mb), 0),
                  sa.func.coalesce(sa.func.sum(i.vcpus), 0),
                  sa.func.coalesce(sa.func.sum(i.root_gb), 0))
        .where(i.host == host, i.deleted == 0,
               i.vm_state == states.VM_BUILDING,
               i.task_state == states.TASK_SCHEDULING)).one()
    return tuple(free), tuple(placed)


@db_session.core_reader
def compute_node_name(context, host):
    """The node name of ``host``'s first compute node, or None."""
    n = _NODES.c
    return context.connection.execute(
        sa.select(n.node).where(n.host == host, n.deleted == 0)
        .order_by(n.id)).scalars().first()
