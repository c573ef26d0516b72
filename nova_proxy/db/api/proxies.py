"""Liveness of the proxies in SQL: one row per proxy worker in
``proxies``, its heartbeat written with the database's clock
(``nova_proxy.proxy.liveness`` says what the rows mean)."""

import datetime
import os

import sqlalchemy as sa

from nova_proxy.db import models
from nova_proxy.db import session as db_session

__all__ = ['proxy_heartbeat', 'proxy_members']

_PROXIES = models.Proxy.__table__


@db_session.core_writer
def proxy_heartbeat(context, member, host, stopped=False):
    """Insert or refresh ``member``'s row with the database's clock."""
    connection = context.connection
    now = db_session.db_utcnow()
    result = connection.execute(
        sa.update(_PROXIES).where(_PROXIES.c.member == member)
        .values(heartbeat_at=now, host=host, pid=os.getpid(),
                stopped=stopped))
    if result.rowcount == 0:
        connection.execute(sa.insert(_PROXIES).values(
            member=member, host=host, pid=os.getpid(), started_at=now,
            heartbeat_at=now, stopped=stopped))


@db_session.core_reader
def proxy_members(context, deadline, alive):
    """The members, sorted, whose heartbeat is younger than ``deadline``
    seconds and that did not stop (``alive``), or the others."""
    # The cutoff comes from the database's clock, read once; comparing in
    # Python-built SQL keeps it portable across our three backends.
    connection = context.connection
    db_now = connection.execute(
        sa.select(db_session.db_utcnow())).scalar_one()
    cutoff = db_now - datetime.timedelta(seconds=deadline)
    p = _PROXIES.c
    if alive:
        cond = sa.and_(p.heartbeat_at >= cutoff, p.stopped.is_(False))
    else:
        cond = sa.or_(p.heartbeat_at < cutoff, p.stopped.is_(True))
    return sorted(connection.execute(sa.select(p.member).where(cond))
                  .scalars().all())
