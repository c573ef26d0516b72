"""The orchestration journal: one ``operations`` row per operation.

Ownership is fenced by an epoch:

* a new operation belongs to the proxy that accepted it, at epoch 1;
* every write of an owner is one UPDATE with ``id = <op> AND owner = <me>
  AND epoch = <my epoch>`` in its WHERE clause (``fenced_write``); when it
  matches no row the owner has been replaced and gets ``StaleEpoch``, having
  written nothing. The instance and migration writes of a step go in the
  same transaction as the fenced journal write, so they are fenced too;
* a takeover (``take``) is one compare-and-swap that moves ``owner`` and
  bumps ``epoch`` from the values the taker read; of several proxies trying
  at once exactly one matches.

On PostgreSQL and MariaDB the fenced UPDATE locks the row, so a takeover
that races an owner's write waits for it and then re-evaluates its own
condition: either the owner's write lands first (and the taker resumes from
it) or the owner's write matches nothing.
"""

import json

from oslo_db import exception as db_exc
from oslo_log import log as logging
import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db import models
from nova_proxy.db import session as db_session

LOG = logging.getLogger(__name__)

__all__ = ['PENDING', 'RUNNING', 'DONE', 'FAILED', 'ROLLED_BACK',
           'ACTIVE_STATUSES', 'STATUSES', 'KINDS', 'create', 'get',
           'get_all', 'active_for_instance', 'fenced_write', 'take',
           'candidates', 'to_record', 'check_same']

PENDING = 'pending'
RUNNING = 'running'
DONE = 'done'
FAILED = 'failed'
ROLLED_BACK = 'rolled_back'
ACTIVE_STATUSES = (PENDING, RUNNING)
FINAL_STATUSES = (DONE, FAILED, ROLLED_BACK)
STATUSES = ACTIVE_STATUSES + FINAL_STATUSES

KINDS = ('build', 'migrate', 'confirm_resize', 'revert_resize')

_RECORD_FIELDS = ('id', 'kind', 'instance_uuid', 'status', 'step',
                  'progress', 'owner', 'epoch', 'attempts', 'error',
                  'migration_id', 'request_id', 'created_at', 'updated_at',
                  'finished_at', 'step_started_at')

Op = models.Operation


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


def _get_row(session, operation_id):
    row = session.execute(sa.select(Op).where(Op.id == operation_id)
                          ).scalar_one_or_none()
    if row is None:
        raise exception.OperationNotFound(operation_id=operation_id)
    return row


@db_session.reader
def get(context, operation_id):
    """:raises: OperationNotFound"""
    return to_record(_get_row(context.session, operation_id))


@db_session.reader
def get_all(context, instance_uuid=None, status=None, owner=None,
            limit=None):
    """Operations, newest first, filtered by whatever is given. ``status``
    may be one status or a list."""
    query = sa.select(Op)
    if instance_uuid is not None:
        query = query.where(Op.instance_uuid == instance_uuid)
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        query = query.where(Op.status.in_(statuses))
    if owner is not None:
        query = query.where(Op.owner == owner)
    query = query.order_by(Op.created_at.desc(), Op.id)
    if limit:
        query = query.limit(limit)
    return [to_record(r) for r in context.session.execute(query).scalars()]


@db_session.reader
def active_for_instance(context, instance_uuid):
    """The pending or running operation of an instance, or None."""
    row = context.session.execute(
        sa.select(Op).where(Op.instance_uuid == instance_uuid,
                            Op.status.in_(ACTIVE_STATUSES))
        .order_by(Op.created_at)).scalars().first()
    return to_record(row) if row is not None else None


def check_same(existing, kind, instance_uuid=None):
    """``existing``, found under the id a call asked for, if it is the
    call's kind of operation (and of ``instance_uuid``, when given);
    else OperationConflict."""
    if existing['kind'] != kind or (
            instance_uuid is not None and
            existing['instance_uuid'] != instance_uuid):
        raise exception.OperationConflict(
            operation_id=existing['id'], kind=existing['kind'],
            instance_uuid=existing['instance_uuid'])
    return existing


def _check_no_active(session, instance_uuid):
    """After ``prepare`` took the instance: its compare-and-swap matched,
    yet an operation may still be active on it (its last step freed the
    instance; its DONE is a later transaction). Not two at once: checked
    after the compare-and-swap, which holds the instance's row lock until
    the accepting transaction ends."""
    active = session.execute(
        sa.select(Op.id).where(Op.instance_uuid == instance_uuid,
                               Op.status.in_(ACTIVE_STATUSES))
        .limit(1)).scalar_one_or_none()
    if active is not None:
        raise exception.OperationInProgress(instance_uuid=instance_uuid,
                                            operation_id=active)


@db_session.writer
def _create(context, operation_id, kind, instance_uuid, owner, params,
            state, prepare, request_id, check_instance):
    session = context.session
    existing = session.execute(sa.select(Op).where(Op.id == operation_id)
                               ).scalar_one_or_none()
    if existing is not None:
        return check_same(to_record(existing), kind,
                          instance_uuid if check_instance else None), False
    extra = {}
    if prepare is not None:
        # Before prepare too: a caller that meets a running operation is
        # told so by name, whatever prepare would refuse first (a confirm
        # during a resize finds no finished migration yet).
        _check_no_active(session, instance_uuid)
        extra = prepare(context)
        _check_no_active(session, instance_uuid)
    now = db_session.utcnow()
    values = dict(id=operation_id, kind=kind, instance_uuid=instance_uuid,
                  status=PENDING, step=None, progress=0, owner=owner,
                  epoch=1, attempts=1, params=json.dumps(params or {}),
                  state=json.dumps(dict(state or {}, **extra.get('state',
                                                                 {}))),
                  migration_id=extra.get('migration_id'),
                  request_id=request_id, created_at=now, updated_at=now)
    session.execute(sa.insert(Op).values(**values))
    return to_record(_get_row(session, operation_id)), True


def create(context, operation_id, kind, instance_uuid, owner, params=None,
           state=None, prepare=None, request_id=None, check_instance=True):
    """Record a new operation owned by ``owner`` at epoch 1, idempotently.

    ``prepare(context)``, if given, runs in the same transaction before the
    insert (the instance compare-and-swap, the migration record); it may
    return ``{'migration_id': .., 'state': {..}}``. With it, the operation
    is refused while another one of the instance is still active. If an
    operation with this id exists, nothing is written and it is returned
    as it is.

    ``check_instance=False`` accepts an existing operation of another
    instance (a build retried without a uuid generates a new one).

    :returns: ``(record, created)``
    :raises: OperationConflict when the id names another kind of operation
        or another instance; OperationInProgress; whatever ``prepare``
        raises.
    """
    try:
        return _create(context, operation_id, kind, instance_uuid, owner,
                       params, state, prepare, request_id, check_instance)
    except db_exc.DBDuplicateEntry:
        # A concurrent retry with the same id won the insert; ours rolled
        # back whole (prepare included).
        return check_same(get(context, operation_id), kind,
                          instance_uuid if check_instance else None), False


@db_session.writer
def fenced_write(context, op, values=None, then=None):
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
    result = context.session.execute(
        sa.update(Op).where(Op.id == op['id'], Op.owner == op['owner'],
                            Op.epoch == op['epoch'])
        .values(**values).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise exception.StaleEpoch(operation_id=op['id'],
                                   epoch=op['epoch'])
    if then is not None:
        return then(context)
    return None


# How long a takeover waits for the row lock of an operation. An owner
# paused in the middle of a journal transaction holds that lock; without a
# bound (PostgreSQL waits forever by default) it would stall the taker's
# whole scan.
TAKE_LOCK_TIMEOUT_MS = 2000


def _bound_lock_wait(session):
    """Bound this transaction's lock waits; returns a function restoring
    the session's setting (MySQL's is per session, not per
    transaction)."""
    dialect = session.get_bind().dialect.name
    if dialect == 'postgresql':
        session.execute(sa.text("SET LOCAL lock_timeout = '%dms'" %
                                TAKE_LOCK_TIMEOUT_MS))
    elif dialect in ('mysql', 'mariadb'):
        old = session.execute(sa.text(
            'SELECT @@SESSION.innodb_lock_wait_timeout')).scalar_one()
        session.execute(sa.text(
            'SET SESSION innodb_lock_wait_timeout = %d' %
            max(1, TAKE_LOCK_TIMEOUT_MS // 1000)))
        return lambda: session.execute(sa.text(
            'SET SESSION innodb_lock_wait_timeout = %d' % int(old)))
    return lambda: None


@db_session.unretried_writer
def _take(context, operation_id, seen_owner, seen_epoch, new_owner,
          count_attempt):
    values = {'owner': new_owner, 'epoch': Op.epoch + 1,
              'updated_at': db_session.utcnow()}
    if count_attempt:
        values['attempts'] = Op.attempts + 1
    restore = _bound_lock_wait(context.session)
    try:
        result = context.session.execute(
            sa.update(Op).where(Op.id == operation_id,
                                Op.owner == seen_owner,
                                Op.epoch == seen_epoch,
                                Op.status.in_(ACTIVE_STATUSES))
            .values(**values).execution_options(synchronize_session=False))
    finally:
        restore()
    if result.rowcount != 1:
        return None
    return to_record(_get_row(context.session, operation_id))


def _lock_timed_out(error):
    text = str(error).lower()
    return 'lock timeout' in text or 'lock wait timeout' in text


def take(context, operation_id, seen_owner, seen_epoch, new_owner,
         count_attempt=True):
    """Move an operation to ``new_owner`` and bump its epoch: one
    compare-and-swap on the owner and epoch the caller read.

    Used both to take over a dead proxy's operation and, by a restarted
    proxy, to take its own back (which fences any earlier incarnation).
    The row lock is waited for at most ``TAKE_LOCK_TIMEOUT_MS``.

    :returns: the new record, or None when another proxy (or the owner)
        changed the row first, it is no longer active, or its row stayed
        locked (a paused owner in the middle of a write: try again later).
    """
    try:
        return _take(context, operation_id, seen_owner, seen_epoch,
                     new_owner, count_attempt)
    except db_exc.DBDeadlock:
        # Not retried here (the row is contended: the next scan sees what
        # became of it); MariaDB's lock wait timeout arrives as this too.
        LOG.warning('Operation %s is locked by another writer; not taken '
                    'this time', operation_id)
        return None
    except (db_exc.DBError, sa.exc.OperationalError) as e:
        if not _lock_timed_out(e):
            raise
        LOG.warning('Operation %s is locked by a paused writer; not taken '
                    'this time', operation_id)
        return None


@db_session.reader
def candidates(context, me, live_members, exclude=(), limit=None):
    """Active operations this proxy should drive: its own (after a
    restart) and those whose owner is not among ``live_members``. Oldest
    first; returns ``[(id, owner, epoch)]``."""
    query = sa.select(Op.id, Op.owner, Op.epoch).where(
        Op.status.in_(ACTIVE_STATUSES),
        sa.or_(Op.owner == me, Op.owner.is_(None),
               Op.owner.not_in(list(live_members) or [''])))
    if exclude:
        query = query.where(Op.id.not_in(list(exclude)))
    query = query.order_by(Op.created_at)
    if limit:
        query = query.limit(limit)
    return [tuple(r) for r in context.session.execute(query)]
