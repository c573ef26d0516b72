"""Pick a compute host for a build or a migration.

A deliberately small scheduler: a host qualifies when its compute service
is enabled and up (heartbeat younger than ``[periodic] service_down_time``,
by the database's clock) and its compute node reports room for the flavor.
Among those, the one with the most free memory wins (ties by name), so a
placement is stable and easy to predict in tests. The destination's
``prep_resize`` claim is the real check: if the host filled up meanwhile,
the claim fails and the operation rolls back.
"""

import datetime

import sqlalchemy as sa

from nova_proxy import conf
from nova_proxy import exception
from nova_proxy.db import models
from nova_proxy.db import session as db_session

CONF = conf.CONF

__all__ = ['select_host', 'compute_host_up', 'hosts_with_room',
           'COMPUTE_BINARY']

# The service record compute hosts register, as nova-compute does.
COMPUTE_BINARY = 'nova-compute'


def _flavor_need(flavor):
    return (int(flavor.get('memory_mb') or 0), int(flavor.get('vcpus') or 0),
            int(flavor.get('root_gb') or 0))


def _up_cutoff(session):
    db_now = session.execute(sa.select(db_session.db_utcnow())).scalar_one()
    return db_now - datetime.timedelta(
        seconds=CONF.periodic.service_down_time)


@db_session.reader
def compute_host_up(context, host):
    """True when ``host`` has an enabled compute service that heartbeated
    within ``[periodic] service_down_time``."""
    s = models.Service
    cutoff = _up_cutoff(context.session)
    row = context.session.execute(
        sa.select(s.id).where(s.host == host, s.deleted == 0,
                              s.binary == COMPUTE_BINARY,
                              s.forced_down.is_(False),
                              s.last_seen_up >= cutoff)).first()
    return row is not None


@db_session.reader
def hosts_with_room(context, flavor, exclude=()):
    """``[(free_memory_mb, host, node)]`` of up hosts with room, best
    first."""
    memory, vcpus, disk = _flavor_need(flavor)
    s, n = models.Service, models.ComputeNode
    cutoff = _up_cutoff(context.session)
    rows = context.session.execute(
        sa.select(n.host, n.node, n.memory_mb - n.memory_mb_used,
                  n.vcpus - n.vcpus_used, n.local_gb - n.local_gb_used)
        .join(s, sa.and_(s.host == n.host, s.deleted == 0,
                         s.binary == COMPUTE_BINARY))
        .where(n.deleted == 0, s.disabled.is_(False),
               s.forced_down.is_(False), s.last_seen_up >= cutoff))
    result = []
    for host, node, free_mem, free_cpu, free_disk in rows:
        if host in exclude:
            continue
        if free_mem >= memory and free_cpu >= vcpus and free_disk >= disk:
            result.append((free_mem, host, node))
    result.sort(key=lambda r: (-r[0], r[1]))
    return result


def select_host(context, flavor, exclude=()):
    """The best ``(host, node)`` for ``flavor``, never one of ``exclude``.

    :raises: NoValidHost
    """
    candidates = hosts_with_room(context, flavor, exclude=tuple(exclude))
    if not candidates:
        raise exception.NoValidHost(
            reason='No compute host that is up has room for %s MB, %s '
                   'VCPUs, %s GB%s.' % (_flavor_need(flavor) + (
                       ' (excluding %s)' % ', '.join(sorted(exclude))
                       if exclude else '',)))
    _free, host, node = candidates[0]
    return host, node


@db_session.reader
def node_of(context, host):
    """The node name of ``host``'s compute node (the first one)."""
    n = models.ComputeNode
    node = context.session.execute(
        sa.select(n.node).where(n.host == host, n.deleted == 0)
        .order_by(n.id)).scalars().first()
    return node or host
