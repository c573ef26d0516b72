"""The orchestration's journal in SQL: one ``operations`` row per operation.

``nova_proxy.orchestration.journal`` is the API of the journal and says
how ownership is fenced by an epoch; the statements are here:

* ``operation_fenced_write``: one UPDATE with ``id = <op> AND owner = <me>
  AND epoch = <my epoch>`` in its WHERE clause; when it matches no row the
  owner has been replaced and gets ``StaleEpoch``, having written nothing;
* ``operation_take``: one compare-and-swap that moves ``owner`` and bumps
  ``epoch`` from the values the taker read, its lock waits bounded by
  ``TAKE_LOCK_TIMEOUT_MS``.

Records are JSON-safe dicts (``to_record``): times as ISO 8601 strings
with a ``Z``, ``params`` and ``state`` decoded.
"""

import json

import sqlalchemy as sa

from nova_proxy.common import states
from nova_proxy import exception
from nova_proxy.db import models
from nova_proxy.db import session as db_session

__all__ = ['operation_get', 'operation_get_all',
           'operation_get_active_for_instance', 'operation_create',
           'operation_fenced_write', 'operation_take',
           'operation_candidates', 'operation_count', 'to_record',
           'TAKE_LOCK_TIMEOUT_MS']

_OPS = models.Operation.__table__

_RECORD_FIELDS = ('id', 'kind', 'instance_uuid', 'status', 'step',
                  'progress', 'owner', 'epoch', 'attempts', 'error',
                  'migration_id', 'request_id', 'created_at', 'updated_at',
                  'finished_at', 'step_started_at')

# How long a takeover waits for the row lock of an operation. An owner
# paused in the middle of a journal transaction holds that lock; without a
# bound (PostgreSQL waits forever by default) it would stall the taker's
# whole scan.
TAKE_LOCK_TIMEOUT_MS = 2000


def _iso(value):
    if value is None:
        return None
    return value.isoformat() + 'Z' if value.tzinfo is None else \
        value.isoformat()


def to_record(row):
    """The operation record the API returns: a JSON-safe dict."""
    record = {}
    for name in _RECORD_FIELDS:
        value = getattr(row, name)
        if name.endswith('_at'):
            value = _iso(value)
        record[name] = value
    record['params'] = json.loads(row.params) if row.params else {}
    record['state'] = json.loads(row.state) if row.state else {}
    return record


def _find_row(connection, operation_id):
    return connection.execute(
        sa.select(*_OPS.c).where(_OPS.c.id == operation_id)).one_or_none()


def _get_row(connection, operation_id):
    row = _find_row(connection, operation_id)
    if row is None:
        raise exception.OperationNotFound(operation_id=operation_id)
    return row


@db_session.core_reader
def operation_get(context, operation_id):
    """:raises: OperationNotFound"""
    return to_record(_get_row(context.connection, operation_id))


@db_session.core_reader
def operation_get_all(context, instance_uuid=None, status=None, owner=None,
                      limit=None):
    """Operations, newest first, filtered by whatever is given. ``status``
    may be one status or a list."""
    op = _OPS.c
    query = sa.select(*op)
    if instance_uuid is not None:
        query = query.where(op.instance_uuid == instance_uuid)
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        query = query.where(op.status.in_(statuses))
    if owner is not None:
        query = query.where(op.owner == owner)
    query = query.order_by(op.created_at.desc(), op.id)
    if limit:
        query = query.limit(limit)
    return [to_record(r) for r in context.connection.execute(query)]


@db_session.core_reader
def operation_get_active_for_instance(context, instance_uuid):
    """The pending or running operation of an instance, or None."""
    op = _OPS.c
    row = context.connection.execute(
        sa.select(*op).where(op.instance_uuid == instance_uuid,
                             op.status.in_(states.OP_ACTIVE_STATUSES))
        .order_by(op.created_at)).first()
    return to_record(row) if row is not None else None


def _check_no_active(connection, instance_uuid):
    """After ``prepare`` took the instance: its compare-and-swap matched,
    yet an operation may still be active on it (its last step freed the
    instance; its DONE is a later transaction). Not two at once: checked
    after the compare-and-swap, which holds the instance's row lock until
    the accepting transaction ends."""
    op = _OPS.c
    active = connection.execute(
        sa.select(op.id).where(op.instance_uuid == instance_uuid,
                               op.status.in_(states.OP_ACTIVE_STATUSES))
        .limit(1)).scalar_one_or_none()
    if active is not None:
        raise exception.OperationInProgress(instance_uuid=instance_uuid,
                                            operation_id=active)


@db_session.core_writer
def operation_create(context, operation_id, kind, instance_uuid, owner,
                     params=None, state=None, prepare=None,
                     request_id=None):
    """Insert a pending operation owned by ``owner`` at epoch 1, unless
    one with this id exists: then nothing is written.

    ``prepare(context)``, if given, runs in the same transaction before
    the insert, and may return ``{'migration_id': .., 'state': {..}}``;
    with it, the operation is refused while another one of the instance
    is still active (checked before ``prepare`` and after it).

    :returns: ``(record, created)``: the existing record and False, or
        the new one and True
    :raises: OperationInProgress; DBDuplicateEntry when a concurrent call
        inserted the same id first (this one wrote nothing); whatever
        ``prepare`` raises
    """
    connection = context.connection
    existing = _find_row(connection, operation_id)
    if existing is not None:
        return to_record(existing), False
    extra = {}
    if prepare is not None:
        # Before prepare too: a caller that meets a running operation is
        # told so by name, whatever prepare would refuse first (a confirm
        # during a resize finds no finished migration yet).
        _check_no_active(connection, instance_uuid)
        extra = prepare(context)
        _check_no_active(connection, instance_uuid)
    now = db_session.utcnow()
    values = dict(id=operation_id, kind=kind, instance_uuid=instance_uuid,
                  status=states.OP_PENDING, step=None, progress=0,
                  owner=owner, epoch=1, attempts=1,
                  params=json.dumps(params or {}),
                  state=json.dumps(dict(state or {}, **extra.get('state',
                                                                 {}))),
                  migration_id=extra.get('migration_id'),
                  request_id=request_id, created_at=now, updated_at=now)
    connection.execute(sa.insert(_OPS).values(**values))
    return to_record(_get_row(connection, operation_id)), True


@db_session.core_writer
def operation_fenced_write(context, op, values=None, then=None):
    """Write ``values`` to the journal row as its owner, fenced by epoch.

    ``op`` is the owner's view: a dict with ``id``, ``owner`` and
    ``epoch``. ``values`` may hold ``status``, ``step``, ``progress``,
    ``error``, ``state`` (a dict, stored as JSON), ``step_started_at``,
    ``finished_at``, ``migration_id``. ``then(context)``, if given, runs in
    the same transaction after the fenced UPDATE matched (instance and
    migration writes of the step), so it is fenced as well.

    :returns: whatever ``then`` returned
    :raises: StaleEpoch when the owner or epoch changed (nothing written)
    """
    values = dict(values or {})
    if 'state' in values:
        values['state'] = json.dumps(values['state'])
    values['updated_at'] = db_session.utcnow()
    result = context.connection.execute(
        sa.update(_OPS).where(_OPS.c.id == op['id'],
                              _OPS.c.owner == op['owner'],
                              _OPS.c.epoch == op['epoch'])
        .values(**values))
    if result.rowcount != 1:
        raise exception.StaleEpoch(operation_id=op['id'],
                                   epoch=op['epoch'])
    if then is not None:
        return then(context)
    return None


def _bound_lock_wait(connection):
    """Bound this transaction's lock waits; returns a function restoring
    the connection's setting (MySQL's is per session, not per
    transaction)."""
    dialect = connection.dialect.name
    if dialect == 'postgresql':
        connection.execute(sa.text("SET LOCAL lock_timeout = '%dms'" %
                                   TAKE_LOCK_TIMEOUT_MS))
    elif dialect in ('mysql', 'mariadb'):
        old = connection.execute(sa.text(
            'SELECT @@SESSION.innodb_lock_wait_timeout')).scalar_one()
        connection.execute(sa.text(
            'SET SESSION innodb_lock_wait_timeout = %d' %
            max(1, TAKE_LOCK_TIMEOUT_MS // 1000)))
        return lambda: connection.execute(sa.text(
            'SET SESSION innodb_lock_wait_timeout = %d' % int(old)))
    return lambda: None


# Never retried: it bounds its own lock waits, and the caller handles their
# end (MariaDB reports a lock wait timeout as a deadlock).
@db_session.unretried_core_writer
def operation_take(context, operation_id, seen_owner, seen_epoch, new_owner,
                   count_attempt=True):
    """Move an operation to ``new_owner`` and bump its epoch: one
    compare-and-swap on the owner and epoch the caller read, waiting at
    most ``TAKE_LOCK_TIMEOUT_MS`` for the row lock.

    :returns: the new record, or None when the row no longer matches
    :raises: DBDeadlock, or DBError / OperationalError for a lock wait
        timeout, when the row stayed locked
    """
    op = _OPS.c
    values = {'owner': new_owner, 'epoch': op.epoch + 1,
              'updated_at': db_session.utcnow()}
    if count_attempt:
        values['attempts'] = op.attempts + 1
    connection = context.connection
    restore = _bound_lock_wait(connection)
    try:
        result = connection.execute(
            sa.update(_OPS).where(op.id == operation_id,
                                  op.owner == seen_owner,
                                  op.epoch == seen_epoch,
                                  op.status.in_(states.OP_ACTIVE_STATUSES))
            .values(**values))
    finally:
        restore()
    if result.rowcount != 1:
        return None
    return to_record(_get_row(connection, operation_id))


@db_session.core_reader
def operation_candidates(context, me, live_members, exclude=(), limit=None):
    """Active operations whose owner is ``me``, nobody, or not among
    ``live_members``, oldest first, as ``[(id, owner, epoch)]``."""
    op = _OPS.c
    query = sa.select(op.id, op.owner, op.epoch).where(
        op.status.in_(states.OP_ACTIVE_STATUSES),
        sa.or_(op.owner == me, op.owner.is_(None),
               op.owner.not_in(list(live_members) or [''])))
    if exclude:
        query = query.where(op.id.not_in(list(exclude)))
    query = query.order_by(op.created_at)
    if limit:
        query = query.limit(limit)
    return [tuple(r) for r in context.connection.execute(query)]


@db_session.core_reader
def operation_count(context, operation_ids, statuses):
    """How many of ``operation_ids`` are in one of ``statuses``."""
    op = _OPS.c
    return context.connection.execute(
        sa.select(sa.func.count()).select_from(_OPS)
        .where(op.id.in_(list(operation_ids)),
               op.status.in_(list(statuses)))).scalar_one()
