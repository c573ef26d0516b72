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

The statements are in ``nova_proxy.db.api.operations``.
"""

from oslo_db import exception as db_exc
from oslo_log import log as logging
import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import operations as db_operations

LOG = logging.getLogger(__name__)

__all__ = ['KINDS', 'create', 'get', 'get_all', 'active_for_instance',
           'fenced_write', 'take', 'candidates', 'to_record', 'check_same']

KINDS = ('build', 'migrate', 'confirm_resize', 'revert_resize')

to_record = db_operations.to_record
get = db_operations.operation_get
get_all = db_operations.operation_get_all
active_for_instance = db_operations.operation_get_active_for_instance
fenced_write = db_operations.operation_fenced_write
candidates = db_operations.operation_candidates


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
    expected_instance = instance_uuid if check_instance else None
    try:
        record, created = db_operations.operation_create(
            context, operation_id, kind, instance_uuid, owner,
            params=params, state=state, prepare=prepare,
            request_id=request_id)
    except db_exc.DBDuplicateEntry:
        # A concurrent retry with the same id won the insert; ours rolled
        # back whole (prepare included).
        return check_same(get(context, operation_id), kind,
                          expected_instance), False
    if not created:
        return check_same(record, kind, expected_instance), False
    return record, True


def _lock_timed_out(error):
    text = str(error).lower()
    return 'lock timeout' in text or 'lock wait timeout' in text


def take(context, operation_id, seen_owner, seen_epoch, new_owner,
         count_attempt=True):
    """Move an operation to ``new_owner`` and bump its epoch: one
    compare-and-swap on the owner and epoch the caller read.

    Used both to take over a dead proxy's operation and, by a restarted
    proxy, to take its own back (which fences any earlier incarnation).
    The row lock is waited for at most
    ``db_operations.TAKE_LOCK_TIMEOUT_MS``.

    :returns: the new record, or None when another proxy (or the owner)
        changed the row first, it is no longer active, or its row stayed
        locked (a paused owner in the middle of a write: try again later).
    """
    try:
        return db_operations.operation_take(
            context, operation_id, seen_owner, seen_epoch, new_owner,
            count_attempt)
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
