"""Per-period claims and run records of the periodic tasks.

A claim is a row of ``periodic_claims``, unique on (task, period, item).
Claiming is an INSERT in its own transaction: the proxy whose insert
commits has the item for that period; every other insert fails on the
unique constraint and that proxy leaves the item alone. A global task
claims the item ``'*'``. The claim commits before the work starts, so an
item is handled at most once per period whatever the proxies believe about
the ring; a proxy that dies between its claim and the work leaves those
items unhandled for the rest of that period only.

``claim_many`` claims a batch of items in one statement that skips the
taken ones and returns those it inserted (``INSERT ... ON CONFLICT DO
NOTHING RETURNING`` on PostgreSQL and SQLite, ``INSERT IGNORE ...
RETURNING`` on MariaDB), so that a sweep over thousands of items costs a
few statements, not one transaction per item.

A run is a row of ``periodic_runs``: what one proxy did for one task in one
period (items, result, details). The purge task deletes claims after
``[periodic] claim_retention`` (a claim only matters within its period) and
runs after ``record_retention``.
"""

import json

from oslo_db import exception as db_exc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from nova_proxy.db import models
from nova_proxy.db import session as db_session

__all__ = ['GLOBAL_ITEM', 'claim', 'claim_many', 'claimed_items',
           'claims_of_period', 'record_run', 'run_list', 'purge_claims',
           'purge_runs',
           'RESULT_OK', 'RESULT_PARTIAL', 'RESULT_ERROR']

GLOBAL_ITEM = '*'

RESULT_OK = 'ok'
RESULT_PARTIAL = 'partial'
RESULT_ERROR = 'error'

_MAX_ITEM = 255


def _check_item(item):
    if not isinstance(item, str) or not item or len(item) > _MAX_ITEM:
        raise ValueError('a periodic item is a string of 1 to %d '
                         'characters, not %r' % (_MAX_ITEM, item))


@db_session.writer
def _insert_claim(context, task, period, item, owner):
    context.session.execute(sa.insert(models.PeriodicClaim).values(
        task=task, period=period, item=item, owner=owner,
        claimed_at=db_session.db_utcnow()))


def claim(context, task, period, item, owner):
    """Claim ``item`` of ``task`` for ``period``; True if this call won.

    :raises: ValueError for an item that cannot be stored.
    """
    _check_item(item)
    try:
        _insert_claim(context, task, period, item, owner)
    except db_exc.DBDuplicateEntry:
        return False
    return True


@db_session.writer
def _insert_claims(context, task, period, items, owner):
    session = context.session
    c = models.PeriodicClaim
    # Sorted: concurrent batches then take the unique-index entries in
    # the same order and wait for each other instead of deadlocking.
    rows = [dict(task=task, period=period, item=item, owner=owner,
                 claimed_at=db_session.db_utcnow()) for item in sorted(items)]
    dialect = session.get_bind().dialect.name
    if dialect == 'postgresql':
        stmt = postgresql.insert(c).values(rows).on_conflict_do_nothing()
    elif dialect == 'sqlite':
        stmt = sqlite.insert(c).values(rows).on_conflict_do_nothing()
    else:
        stmt = sa.insert(c).values(rows).prefix_with('IGNORE')
    return set(session.execute(stmt.returning(c.item)).scalars())


def claim_many(context, task, period, items, owner):
    """Claim each of ``items`` of ``task`` for ``period`` in one statement;
    returns the items this call won, in the order given.

    :raises: ValueError for an item that cannot be stored (nothing is
        claimed then).
    """
    items = list(dict.fromkeys(items))
    for item in items:
        _check_item(item)
    if not items:
        return []
    won = _insert_claims(context, task, period, items, owner)
    return [item for item in items if item in won]


@db_session.reader
def claimed_items(context, task, period):
    """The items of ``task`` already claimed in ``period``, as a set."""
    c = models.PeriodicClaim
    return set(context.session.execute(
        sa.select(c.item).where(c.task == task, c.period == period))
        .scalars())


@db_session.reader
def claims_of_period(context, task, period):
    """``{item: owner}`` of the claims of ``task`` in ``period``."""
    c = models.PeriodicClaim
    return dict(context.session.execute(
        sa.select(c.item, c.owner).where(c.task == task,
                                         c.period == period)).all())


@db_session.writer
def record_run(context, task, period, owner, started_at, handled, result,
               details=None, duration=None):
    """Store what ``owner`` did for ``task`` in ``period``.

    :param started_at: the database's time when the run started.
    :param handled: the items handled (a list of strings).
    :param result: ``ok``, ``partial`` (some items failed) or ``error``.
    :param details: a JSON-serializable dict (outcomes, errors).
    """
    context.session.execute(sa.insert(models.PeriodicRun).values(
        task=task, period=period, owner=owner, started_at=started_at,
        finished_at=db_session.db_utcnow(), items=len(handled),
        handled=json.dumps(list(handled)), result=result,
        details=json.dumps(details or {}, sort_keys=True, default=str),
        duration=duration))


def _run_dict(row):
    result = {}
    for key in ('id', 'task', 'period', 'owner', 'started_at', 'finished_at',
                'items', 'result', 'duration'):
        value = getattr(row, key)
        if hasattr(value, 'isoformat'):
            value = value.isoformat()
        result[key] = value
    result['handled'] = json.loads(row.handled) if row.handled else []
    result['details'] = json.loads(row.details) if row.details else {}
    return result


@db_session.reader
def run_list(context, task=None, period=None, owner=None, since_period=None,
             limit=None):
    """Run records, newest first, as dicts (``handled`` and ``details``
    decoded)."""
    r = models.PeriodicRun
    query = sa.select(r)
    if task is not None:
        query = query.where(r.task == task)
    if period is not None:
        query = query.where(r.period == period)
    if since_period is not None:
        query = query.where(r.period >= since_period)
    if owner is not None:
        query = query.where(r.owner == owner)
    query = query.order_by(r.id.desc())
    if limit:
        query = query.limit(limit)
    return [_run_dict(row) for row in context.session.execute(query)
            .scalars()]


def _purge(session, model, column, before, limit):
    ids = session.execute(
        sa.select(model.id).where(column < before).order_by(model.id)
        .limit(limit)).scalars().all()
    if ids:
        session.execute(sa.delete(model).where(model.id.in_(ids)))
    return len(ids)


@db_session.writer
def purge_claims(context, before, limit):
    """Delete up to ``limit`` claims made before ``before`` (a naive UTC
    datetime of the database's clock); returns how many."""
    c = models.PeriodicClaim
    return _purge(context.session, c, c.claimed_at, before, limit)


@db_session.writer
def purge_runs(context, before, limit):
    """Delete up to ``limit`` runs started before ``before``; returns how
    many."""
    r = models.PeriodicRun
    return _purge(context.session, r, r.started_at, before, limit)
