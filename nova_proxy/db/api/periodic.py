"""What the periodic tasks read and write.

* The database's clock, which decides every period (``database_now``).
* Claims and run records (``nova_proxy.periodic.claims`` says what they
  mean): a claim is a row of ``periodic_claims``, unique on (task, period,
  item); a run is a row of ``periodic_runs``.
* The rows the tasks sweep, each task's read and its write in one
  transaction: services marked down or up (``services_mark``), instances
  stuck in a task_state (``instance_heal``), resizes due for an automatic
  confirmation (``migration_get_unconfirmed``). The task decides; the
  decision is a function given to the call, run inside its transaction
  on rows read under their locks.
"""

import collections
import json

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from nova_proxy.common import states
from nova_proxy.db.api import _dialect
from nova_proxy.db import models
from nova_proxy.db import session as db_session

__all__ = ['database_now', 'periodic_claim', 'periodic_claim_many',
           'periodic_claimed_items', 'periodic_claims_of_period',
           'periodic_run_record', 'periodic_run_list',
           'periodic_claims_purge', 'periodic_runs_purge', 'service_keys',
           'services_mark', 'instance_get_stuck_uuids', 'Healing',
           'instance_heal', 'migration_get_unconfirmed']

_CLAIMS = models.PeriodicClaim.__table__
_RUNS = models.PeriodicRun.__table__
_SERVICES = models.Service.__table__
_INSTANCES = models.Instance.__table__
_MIGRATIONS = models.Migration.__table__
_OPS = models.Operation.__table__
_FAULTS = models.InstanceFault.__table__
_NODES = models.ComputeNode.__table__


def _now(connection):
    return connection.execute(sa.select(db_session.db_utcnow())).scalar_one()


@db_session.core_reader
def database_now(context):
    """The database's current time (naive UTC)."""
    return _now(context.connection)


# -- claims and runs ------------------------------------------------------

@db_session.core_writer
def periodic_claim(context, task, period, item, owner):
    """Insert the claim of ``item``.

    :raises: DBDuplicateEntry when it is claimed already
    """
    context.connection.execute(sa.insert(_CLAIMS).values(
        task=task, period=period, item=item, owner=owner,
        claimed_at=db_session.db_utcnow()))


@db_session.core_writer
def periodic_claim_many(context, task, period, items, owner):
    """Insert the claims of ``items`` that nobody holds, in one statement
    (``INSERT ... ON CONFLICT DO NOTHING RETURNING`` on PostgreSQL and
    SQLite, ``INSERT IGNORE ... RETURNING`` on MariaDB); returns the set
    of items inserted."""
    connection = context.connection
    c = _CLAIMS.c
    # Sorted: concurrent batches then take the unique-index entries in
    # the same order and wait for each other instead of deadlocking.
    rows = [dict(task=task, period=period, item=item, owner=owner,
                 claimed_at=db_session.db_utcnow()) for item in sorted(items)]
    dialect = connection.dialect.name
    if dialect == 'postgresql':
        stmt = postgresql.insert(_CLAIMS).values(rows)\
            .on_conflict_do_nothing()
    elif dialect == 'sqlite':
        stmt = sqlite.insert(_CLAIMS).values(rows).on_conflict_do_nothing()
    else:
        stmt = sa.insert(_CLAIMS).values(rows).prefix_with('IGNORE')
    return set(connection.execute(stmt.returning(c.item)).scalars())


@db_session.core_reader
def periodic_claimed_items(context, task, period):
    """The items of ``task`` already claimed in ``period``, as a set."""
    c = _CLAIMS.c
    return set(context.connection.execute(
        sa.select(c.item).where(c.task == task, c.period == period))
        .scalars())


@db_session.core_reader
def periodic_claims_of_period(context, task, period):
    """``{item: owner}`` of the claims of ``task`` in ``period``."""
    c = _CLAIMS.c
    return dict(context.connection.execute(
        sa.select(c.item, c.owner).where(c.task == task,
                                         c.period == period)).all())


@db_session.core_writer
def periodic_run_record(context, task, period, owner, started_at, handled,
                        result, details=None, duration=None):
    """Store what ``owner`` did for ``task`` in ``period``.

    :param started_at: the database's time when the run started.
    :param handled: the items handled (a list of strings).
    :param result: ``ok``, ``partial`` (some items failed) or ``error``.
    :param details: a JSON-serializable dict (outcomes, errors).
    """
    context.connection.execute(sa.insert(_RUNS).values(
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


@db_session.core_reader
def periodic_run_list(context, task=None, period=None, owner=None,
                      since_period=None, limit=None):
    """Run records, newest first, as dicts (``handled`` and ``details``
    decoded)."""
    r = _RUNS.c
    query = sa.select(*r)
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
    return [_run_dict(row) for row in context.connection.execute(query)]


def _purge(connection, table, column, before, limit):
    ids = connection.execute(
        sa.select(table.c.id).where(column < before).order_by(table.c.id)
        .limit(limit)).scalars().all()
    if ids:
        connection.execute(sa.delete(table).where(table.c.id.in_(ids)))
    return len(ids)


@db_session.core_writer
def periodic_claims_purge(context, before, limit):
    """Delete up to ``limit`` claims made before ``before`` (a naive UTC
    datetime of the database's clock); returns how many."""
    return _purge(context.connection, _CLAIMS, _CLAIMS.c.claimed_at,
                  before, limit)


@db_session.core_writer
def periodic_runs_purge(context, before, limit):
    """Delete up to ``limit`` runs started before ``before``; returns how
    many."""
    return _purge(context.connection, _RUNS, _RUNS.c.started_at, before,
                  limit)


# -- services marked down or up -------------------------------------------

@db_session.core_reader
def service_keys(context):
    """``[(host, binary)]`` of the live services, oldest first."""
    s = _SERVICES.c
    return [tuple(row) for row in context.connection.execute(
        sa.select(s.host, s.binary).where(s.deleted == 0).order_by(s.id))]


@db_session.core_writer
def services_mark(context, hosts, decide):
    """Lock the live services of ``hosts`` and write what ``decide``
    says about each.

    ``decide(service, now)`` gets the row and the database's time read in
    this transaction; it returns None (the row is not wanted), or
    ``(outcome, values)``: ``values`` (may be empty) are written to the
    row with a new ``updated_at``.

    :returns: ``{(host, binary): outcome}`` of the rows wanted
    """
    connection = context.connection
    s = _SERVICES.c
    now = _now(connection)
    services = connection.execute(
        sa.select(*s).where(s.host.in_(sorted(set(hosts))), s.deleted == 0)
        .order_by(s.id).with_for_update()).all()
    outcomes = {}
    stamp = db_session.utcnow()
    for service in services:
        decision = decide(service, now)
        if decision is None:
            continue
        outcome, values = decision
        if values:
            connection.execute(sa.update(_SERVICES).where(
                s.id == service.id).values(updated_at=stamp, **values))
        outcomes[(service.host, service.binary)] = outcome
    return outcomes


# -- instances stuck in a task_state --------------------------------------

@db_session.core_reader
def instance_get_stuck_uuids(context, task_states, updated_before, limit):
    """Uuids of live instances in one of ``task_states`` not updated since
    ``updated_before``, least recently updated first."""
    i = _INSTANCES.c
    return list(context.connection.execute(
        sa.select(i.uuid).where(i.deleted == 0,
                                i.task_state.in_(sorted(task_states)),
                                i.updated_at < updated_before)
        .order_by(i.updated_at, i.id).limit(limit)).scalars())


# What a heal writes: ``values`` on the instance, ``migrations`` ({id: new
# status}) on its migrations, and a fault with ``fault_message`` and
# ``fault_details``; ``outcome`` is what the heal returns.
Healing = collections.namedtuple(
    'Healing', 'values migrations fault_message fault_details outcome')


def _compute_id(connection, host, node):
    """The id of ``host``'s live compute node ``node`` (nova's
    ``hypervisor_hostname``), or None."""
    n = _NODES.c
    return connection.execute(
        sa.select(n.id).where(n.host == host, n.hypervisor_hostname == node,
                              n.deleted == 0)
        .order_by(n.id)).scalars().first()


@db_session.core_writer
def instance_heal(context, instance_uuid, plan):
    """Heal one instance as ``plan`` decides, in one transaction.

    Read by the database's clock (``now``): the live instance under its
    row lock (None if there is none), ``(status, updated_at)`` of each of
    its operations, and its migrations in progress, oldest first. Then
    ``plan(instance, operations, migrations, now)`` returns either an
    outcome (nothing is written) or a ``Healing``. Its write is a
    compare-and-swap: the instance's ``task_state`` and ``updated_at``
    must still be the ones read. A healing that moves the instance to a
    ``node`` also sets its ``compute_id`` to that node's id (None when the
    host has no such node), as nova keeps the two together.

    :returns: the plan's outcome; None when the compare-and-swap missed
    """
    connection = context.connection
    now = _now(connection)
    i = _INSTANCES.c
    instance = connection.execute(
        sa.select(*i).where(i.uuid == instance_uuid, i.deleted == 0)
        .with_for_update()).one_or_none()
    operations = migrations = ()
    if instance is not None:
        op, m = _OPS.c, _MIGRATIONS.c
        operations = connection.execute(
            sa.select(op.status, op.updated_at)
            .where(op.instance_uuid == instance_uuid)).all()
        rows = connection.execute(
            sa.select(*m).where(m.instance_uuid == instance_uuid,
                                m.deleted == 0).order_by(m.id))
        migrations = [mig for mig in rows
                      if mig.status not in states.MIGRATION_DONE_STATUSES]
    healing = plan(instance, operations, migrations, now)
    if not isinstance(healing, Healing):
        return healing
    values = dict(healing.values)
    if 'node' in values and 'compute_id' not in values:
        values['compute_id'] = _compute_id(
            connection, values.get('host', instance.host), values['node'])
    stamp = db_session.utcnow()
    result = connection.execute(
        sa.update(_INSTANCES).where(i.id == instance.id, i.deleted == 0,
                                    i.task_state == instance.task_state,
                                    i.updated_at == instance.updated_at)
        .values(updated_at=stamp, **values))
    if result.rowcount != 1:
        return None
    for migration_id, status in sorted(healing.migrations.items()):
        connection.execute(sa.update(_MIGRATIONS).where(
            _MIGRATIONS.c.id == migration_id).values(status=status,
                                                     updated_at=stamp))
    _dialect.insert_row(connection, _FAULTS, dict(
        instance_uuid=instance_uuid, code=500, host=instance.host,
        created_at=stamp, updated_at=stamp, deleted=0,
        message=healing.fault_message[:255],
        details=healing.fault_details))
    return healing.outcome


# -- resizes due for an automatic confirmation ----------------------------

@db_session.core_reader
def migration_get_unconfirmed(context, updated_before, instance_uuid=None):
    """``[(instance uuid, migration uuid)]`` of unconfirmed resizes: the
    instance ``resized`` with no task_state, its newest migration
    ``finished`` and not updated since ``updated_before``; oldest
    first."""
    i, m = _INSTANCES, _MIGRATIONS
    newest = (sa.select(sa.func.max(m.c.id))
              .where(m.c.instance_uuid == i.c.uuid, m.c.deleted == 0)
              .correlate(i).scalar_subquery())
    query = (sa.select(i.c.uuid, m.c.uuid)
             .select_from(i)
             .join(m, m.c.instance_uuid == i.c.uuid)
             .where(i.c.deleted == 0, i.c.vm_state == states.VM_RESIZED,
                    i.c.task_state.is_(None), m.c.id == newest,
                    m.c.status == states.MIGRATION_FINISHED,
                    m.c.updated_at < updated_before)
             .order_by(m.c.updated_at))
    if instance_uuid is not None:
        query = query.where(i.c.uuid == instance_uuid)
    return [tuple(r) for r in context.connection.execute(query)]
