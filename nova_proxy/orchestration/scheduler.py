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


@db_session.reader
def _room_now(context, host, node, flavor):
    """Whether ``host``/``node`` has room for ``flavor`` once the builds
    placed there and not yet claimed are counted, under its node row's
    lock (held until the caller's transaction ends)."""
    n, i = models.ComputeNode, models.Instance
    session = context.session
    free = session.execute(
        sa.select(n.memory_mb - n.memory_mb_used, n.vcpus - n.vcpus_used,
                  n.local_gb - n.local_gb_used)
        .where(n.host == host, n.node == node, n.deleted == 0)
        .with_for_update()).first()
    if free is None:
        return False
    pending = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(i.memory_mb), 0),
                  sa.func.coalesce(sa.func.sum(i.vcpus), 0),
                  sa.func.coalesce(sa.func.sum(i.root_gb), 0))
        .where(i.host == host, i.deleted == 0, i.vm_state == 'building',
               i.task_state == 'scheduling')).one()
    return all(have - placed >= need for have, placed, need in zip(
        free, pending, _flavor_need(flavor)))


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


@db_session.reader
def node_of(context, host):
    """The node name of ``host``'s compute node (the first one), for a
    destination the caller named.

    :raises: ComputeHostNotFound when ``host`` has no compute node: an
        operation sent there would wait for a compute that does not
        exist, then be rolled back, minutes later.
    """
    n = models.ComputeNode
    node = context.session.execute(
        sa.select(n.node).where(n.host == host, n.deleted == 0)
        .order_by(n.id)).scalars().first()
    if node is None:
        raise exception.ComputeHostNotFound(host=host, node=host)
    return node
