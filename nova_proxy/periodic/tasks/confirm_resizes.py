"""Confirm resizes that nobody confirmed within ``resize_confirm_window``.

Like nova-compute's ``_poll_unconfirmed_resizes``, but for the whole cloud
from the proxies, and through the orchestration API (``compute_task``
``confirm_resize``), so the confirmation is a journaled operation like one
an operator starts: it is resumed by another proxy if this one dies, and it
shows in ``nova-compute-proxy-manage operation list``.

A resize is *unconfirmed* when its instance is ``vm_state = resized`` with
no ``task_state`` and its newest migration is ``finished`` and has not
changed for ``[periodic] resize_confirm_window`` seconds (by the database's
clock). A window of 0 (the default, as in nova) disables the task's work.

The operation id is ``auto-confirm-<migration uuid>``: the orchestration
API treats it as an idempotency key, so a retry, or a second proxy that
acts on a stale view, gets the same operation instead of a second one.
When that confirmation ended without success (failed or rolled back) and
the resize is still unconfirmed, a later period tries again under
``auto-confirm-<migration uuid>-<n>``, up to ``MAX_ATTEMPTS`` in all;
then the task leaves the resize to an operator and says so (``gave_up``).

Items: one per unconfirmed instance (its uuid).
"""

import datetime

from oslo_log import log as logging
from nova_proxy.common import states
from nova_proxy.db.api import operations as db_operations
from nova_proxy.db.api import periodic as db_periodic
from nova_proxy import exception
from nova_proxy.periodic.tasks import base

LOG = logging.getLogger(__name__)

__all__ = ['ConfirmResizes', 'operation_id_for']

OPERATION_PREFIX = 'auto-confirm-'

# Outcomes recorded per item besides the operation's status.
NOT_DUE = 'not_due'
BUSY = 'busy'
GAVE_UP = 'gave_up'

# Automatic confirmations of one migration, counting the first.
MAX_ATTEMPTS = 3
_UNSUCCESSFUL = (states.OP_FAILED, states.OP_ROLLED_BACK)


def operation_id_for(migration_uuid, attempt=1):
    """The idempotency key of the ``attempt``-th automatic confirmation."""
    base_id = OPERATION_PREFIX + migration_uuid
    return base_id if attempt == 1 else '%s-%d' % (base_id, attempt)


def _attempt(context, migration_uuid):
    """The attempt to make now: 1 + the automatic confirmations of this
    migration that ended without success."""
    ids = [operation_id_for(migration_uuid, n)
           for n in range(1, MAX_ATTEMPTS + 1)]
    return db_operations.operation_count(context, ids, _UNSUCCESSFUL) + 1


def _rpc_confirm(context, instance_uuid, operation_id):
    # Imported here: the orchestration API is another package's, and the
    # client is only needed when a resize is due.
    from nova_proxy.orchestration import rpcapi as orchestration_rpcapi
    return orchestration_rpcapi.ComputeTaskAPI().confirm_resize(
        context, instance_uuid, operation_id=operation_id)


class ConfirmResizes(base.ItemTask):

    name = 'confirm_resizes'

    def __init__(self, confirm=None):
        """:param confirm: ``confirm(context, instance_uuid, operation_id)``
            returning the operation record; the orchestration RPC API's
            ``confirm_resize`` by default."""
        self._confirm = confirm or _rpc_confirm

    def list_items(self, context, now):
        window = base.CONF.periodic.resize_confirm_window
        if not window:
            return []
        return [uuid for uuid, _ in _due(context, _cutoff(now, window))]

    def handle_item(self, context, item, now):
        window = base.CONF.periodic.resize_confirm_window
        if not window:
            return NOT_DUE
        due = dict(_due(context, _cutoff(now, window), instance_uuid=item))
        if item not in due:
            return NOT_DUE
        attempt = _attempt(context, due[item])
        if attempt > MAX_ATTEMPTS:
            LOG.warning('Gave up confirming the resize of %(uuid)s '
                        'automatically after %(n)d unsuccessful attempts; '
                        'confirm or revert it by hand',
                        {'uuid': item, 'n': MAX_ATTEMPTS})
            return GAVE_UP
        try:
            record = self._confirm(context, item,
                                   operation_id_for(due[item], attempt))
        except (exception.OperationInProgress,
                exception.UnexpectedTaskStateError,
                exception.UnexpectedVMStateError) as e:
            LOG.info('Not confirming the resize of %s now: %s', item, e)
            return BUSY
        except exception.Invalid as e:
            # Confirmed or reverted by someone else since it was listed.
            LOG.info('Not confirming the resize of %s: %s', item, e)
            return NOT_DUE
        return '%s:%s' % (record.get('id'), record.get('status'))


def _cutoff(now, window):
    return now - datetime.timedelta(seconds=window)


def _due(context, cutoff, instance_uuid=None):
    """``[(instance uuid, migration uuid)]`` of unconfirmed resizes."""
    return db_periodic.migration_get_unconfirmed(context, cutoff,
                                                 instance_uuid=instance_uuid)
