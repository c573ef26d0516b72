"""Instance actions, events and faults, recorded through the shim.

As in nova: an instance action (``create``, ``stop``, ...) groups the
events of one request (``request_id``); the compute records one event per
operation it runs (``compute_stop_instance``, ...) with its result, and a
fault when an operation fails. Every write is a call of nova's database
API over RPC (``nova_proxy.compute.db``), with the values nova's objects
send (``InstanceAction.pack_action_start``, ``InstanceActionEvent
.pack_action_event_start``/``_finish``, ``InstanceFault.create``).

A state change and its bookkeeping are separate calls, as nova-compute
makes them: the event starts (``action_event_start``), the instance is
saved with its expected states (``instance_update_and_get_original``, a
compare-and-swap), the event finishes (``action_event_finish``); a failure
adds a fault (``instance_fault_create``) before its save. The 1.x wire's
combined call (``instance_update_and_record``, proxy API 1.1: one
transaction, fewer round trips) has no equivalent in nova's API, so it is
not used: the records may be left half written by a crash between calls,
as nova-compute's are, and each half says what it is (an event never
finished, a fault without its error state).

The shim is called with this host's ``nova_proxy`` context, so its errors
are ``nova_proxy.exception`` classes whether or not nova is installed.
"""

import contextlib
import traceback

from oslo_log import log as logging
from oslo_utils import timeutils

from nova_proxy.compute import db
from nova_proxy import exception

LOG = logging.getLogger(__name__)

__all__ = ['record_event', 'save', 'add_fault', 'fail', 'EventRecord']


def save(context, instance_uuid, values):
    """nova's ``Instance.save``: the instance updated with ``values``, in
    which ``expected_task_state``/``expected_vm_state`` (a state or a list;
    None for "no task") make it a compare-and-swap.

    :returns: the updated instance.
    :raises: UnexpectedTaskStateError, UnexpectedVMStateError (its
        ``InstanceUpdateConflict``), InstanceNotFound, HostScopeViolation
    """
    _original, updated = db.instance_update_and_get_original(
        context, instance_uuid, values)
    return updated


class EventRecord:
    """What ``record_event`` gives its block: the instance its first update
    returned."""

    def __init__(self, context, instance_uuid):
        self.instance = None
        self._context = context
        self._instance_uuid = instance_uuid

    def update_and_finish(self, values):
        """The operation's last save; the event finishes ``Success`` when
        the block ends right after it.

        :returns: the updated instance. :raises: what ``save`` raises.
        """
        return save(self._context, self._instance_uuid, values)


def _event_values(instance_uuid, event, request_id, host):
    # InstanceActionEvent.pack_action_event_start, with the request of the
    # caller's action (the orchestration's) rather than the context's.
    return {'event': event, 'instance_uuid': instance_uuid,
            'request_id': request_id, 'start_time': timeutils.utcnow(),
            'host': host}


def _action_values(context, instance_uuid, action, request_id):
    # InstanceAction.pack_action_start.
    now = timeutils.utcnow()
    return {'request_id': request_id, 'instance_uuid': instance_uuid,
            'user_id': context.user_id, 'project_id': context.project_id,
            'action': action, 'start_time': now, 'updated_at': now}


@contextlib.contextmanager
def record_event(context, instance_uuid, action, event, request_id, host,
                 update=None):
    """Record ``event`` of the action of ``request_id`` around a block.

    The action is started here when the caller did not start it (and then
    finished here too), as nova's API starts it before it calls
    nova-compute. The event ends ``Success`` when the block returns,
    ``Error`` with the traceback when it raises; the error is re-raised.

    :param update: the operation's first save (``save`` values), made
        after the event starts; a failure of it ends the event ``Error``
        and is raised from the ``with`` statement.
    :returns: (as the ``with`` target) an ``EventRecord``.
    """
    values = _event_values(instance_uuid, event, request_id, host)
    # Looked up first: nova's action_event_start, called without a
    # project, puts an event whose request has no action in the
    # instance's last action instead of raising InstanceActionNotFound
    # (for nova-compute's restarts, whose requests are new).
    own_action = db.action_get_by_request_id(context, instance_uuid,
                                             request_id) is None
    if own_action:
        db.action_start(context, _action_values(context, instance_uuid,
                                                action, request_id))
    db.action_event_start(context, values)
    record = EventRecord(context, instance_uuid)
    if update is not None:
        try:
            record.instance = save(context, instance_uuid, update)
        except Exception:
            _finish(context, values, own_action, tb=traceback.format_exc())
            raise
    try:
        yield record
    except Exception:
        _finish(context, values, own_action, tb=traceback.format_exc())
        raise
    _finish(context, values, own_action)


def _finish(context, values, own_action, tb=None):
    """The event's finish (``Error`` with ``tb``, else ``Success``), then
    the action's when it is ours (best effort: the operation's own outcome
    matters more than its bookkeeping)."""
    finish = {'event': values['event'],
              'instance_uuid': values['instance_uuid'],
              'request_id': values['request_id'],
              'finish_time': timeutils.utcnow(),
              'result': 'Success' if tb is None else 'Error'}
    if tb is not None:
        finish['traceback'] = tb
    try:
        db.action_event_finish(context, finish)
        if own_action:
            now = timeutils.utcnow()
            db.action_finish(context, {
                'instance_uuid': values['instance_uuid'],
                'request_id': values['request_id'],
                'finish_time': now, 'updated_at': now})
    except Exception:
        LOG.warning('Could not finish event %(event)s of instance %(uuid)s',
                    {'event': values['event'],
                     'uuid': values['instance_uuid']}, exc_info=True)


def _fault_values(instance_uuid, error, host):
    if isinstance(error, exception.NovaProxyException):
        message = '%s: %s' % (type(error).__name__, error.format_message())
    else:
        message = '%s: %s' % (type(error).__name__, error)
    return {'instance_uuid': instance_uuid, 'code': 500,
            'message': message[:255],
            'details': ''.join(traceback.format_exception(error)),
            'host': host}


def add_fault(context, instance_uuid, error, host):
    """Record ``error`` as a fault of the instance (best effort)."""
    try:
        db.instance_fault_create(context,
                                 _fault_values(instance_uuid, error, host))
    except Exception:
        LOG.warning('Could not record a fault of instance %s',
                    instance_uuid, exc_info=True)


def fail(context, instance_uuid, error, host, values):
    """After a failed operation: record ``error`` as a fault, then save the
    instance with ``values``, as nova-compute does
    (``compute_utils.add_instance_fault_from_exc``, then
    ``instance.save()``). Best effort, each part logged when it fails: the
    original error is what the caller must see."""
    add_fault(context, instance_uuid, error, host)
    try:
        save(context, instance_uuid, values)
    except Exception:
        LOG.warning('Could not set instance %s after a failure',
                    instance_uuid, exc_info=True)
