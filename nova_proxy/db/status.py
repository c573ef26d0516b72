"""What ``nova-compute-proxy-manage status`` and ``nova-compute-proxy-status
upgrade check`` read: the proxies' liveness rows, the active operations,
the latest periodic runs and the compute services. Every age is computed
with the database's clock, the one the proxies write with.
"""

import sqlalchemy as sa

from nova_proxy.db import models
from nova_proxy.db import session as db_session

__all__ = ['proxies', 'active_operations', 'latest_runs',
           'compute_hosts']


def _age(now, moment):
    return None if moment is None else round(
        (now - moment).total_seconds(), 1)


def _now(session):
    return session.execute(sa.select(db_session.db_utcnow())).scalar_one()


@db_session.reader
def proxies(context):
    """Every liveness row, by member: ``member, host, release, pid,
    started_at, heartbeat_at, heartbeat_age`` (seconds), ``stopped``."""
    session = context.session
    now = _now(session)
    p = models.Proxy
    rows = session.execute(sa.select(p).order_by(p.member)).scalars()
    return [{'member': r.member, 'host': r.host, 'release': r.release,
             'pid': r.pid, 'started_at': r.started_at,
             'heartbeat_at': r.heartbeat_at,
             'heartbeat_age': _age(now, r.heartbeat_at),
             'stopped': r.stopped} for r in rows]


@db_session.reader
def active_operations(context):
    """The pending and running operations, oldest first, each with
    ``idle`` (seconds since its journal row was last written) and
    ``age`` (since it was accepted)."""
    session = context.session
    now = _now(session)
    o = models.Operation
    rows = session.execute(
        sa.select(o).where(o.status.in_(('pending', 'running')))
        .order_by(o.created_at)).scalars()
    return [{'id': r.id, 'kind': r.kind, 'instance_uuid': r.instance_uuid,
             'status': r.status, 'step': r.step, 'progress': r.progress,
             'owner': r.owner, 'attempts': r.attempts,
             'age': _age(now, r.created_at),
             'idle': _age(now, r.updated_at)} for r in rows]


@db_session.reader
def latest_runs(context):
    """``{task: run}`` of each task's newest run record: ``period,
    owner, started_at, age`` (seconds), ``result``, ``items``."""
    session = context.session
    now = _now(session)
    r = models.PeriodicRun
    newest = sa.select(r.task, sa.func.max(r.id).label('id')).group_by(
        r.task).subquery()
    rows = session.execute(sa.select(r).join(newest, r.id == newest.c.id)
                           ).scalars()
    return {row.task: {'period': row.period, 'owner': row.owner,
                       'started_at': row.started_at,
                       'age': _age(now, row.started_at),
                       'result': row.result, 'items': row.items}
            for row in rows}


@db_session.reader
def compute_hosts(context, binary='nova-compute'):
    """The hosts of the compute services not deleted, sorted."""
    s = models.Service
    return sorted(context.session.execute(
        sa.select(s.host).where(s.binary == binary, s.deleted == 0)
        .distinct()).scalars())
