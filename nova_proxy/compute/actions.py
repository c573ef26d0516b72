"""Instance actions, events and faults, recorded through the shim.

As in nova: an instance action (``create``, ``stop``, ...) groups the
events of one request (``request_id``); the compute records one event per
operation it runs (``compute_stop_instance``, ...) with its result, and a
fault when an operation fails. Here every write is an RPC call to the
proxies (``nova_proxy.compute.db_v1``).

A state change and its bookkeeping go in one call
(``instance_update_and_record``, proxy API 1.1) where the proxies have it:
the first update of an operation with its event's start, the last one with
its ``Success`` finish, a failure's update with its fault. That call writes
all or nothing, so when it fails with a domain error nothing was written
and the separate calls are made instead: they leave exactly the records
the separate calls always left, and raise or log what they always did.
Under an ``[upgrade_levels] compute_proxy`` cap of 1.0 only the separate
calls are made.
"""

import contextlib
import traceback

from oslo_log import log as logging

from nova_proxy.compute import db_v1 as db
from nova_proxy import exception

LOG = logging.getLogger(__name__)

__all__ = ['record_event', 'add_fault', 'fail', 'EventRecord']

# The proxy API version of instance_update_and_record.
_COMBINED = '1.1'


def _can_combine():
    return db.get_api().can_send_version(_COMBINED)


class EventRecord:
    """What ``record_event`` gives its block: the instance its first update
    returned, and the last update of the operation."""

    def __init__(self, context, values, combine):
        self.instance = None
        self.finished = False
        self._context = context
        self._values = values
        self._combine = combine

    def update_and_finish(self, values):
        """The operation's last ``instance_update``: with the event's
        ``Success`` finish in the same call where the proxies can. The
        block should end right after it.

        :returns: the updated instance. :raises: what ``instance_update``
            raises.
        """
        instance_uuid = self._values['instance_uuid']
        if self._combine:
            try:
                instance = db.instance_update_and_record(
                    self._context, instance_uuid, values,
                    event_finish=_finish_values(self._values, 'Success'))
            except Exception as e:
                if _unknown_outcome(e):
                    # It may be written: the step fails, and its next
                    # delivery sees what became of it.
                    raise
                # Nothing was written: the separate calls say what fails.
            else:
                self.finished = True
                return instance
        return db.instance_update(self._context, instance_uuid, values)


def _unknown_outcome(error):
    """Whether a failed call to the proxies may still have been written:
    any error but our own, and among ours ``DatabaseUnavailable`` (a
    connection lost during COMMIT)."""
    return (not isinstance(error, exception.NovaProxyException) or
            isinstance(error, exception.DatabaseUnavailable))


def _finish_values(values, result, tb=None):
    return dict(values, result=result, traceback=tb)


@contextlib.contextmanager
def record_event(context, instance_uuid, action, event, request_id, host,
                 update=None):
    """Record ``event`` of the action of ``request_id`` around a block.

    The action is started here when the caller did not start it (and then
    finished here too). The event ends ``Success`` when the block returns,
    ``Error`` with the traceback when it raises; the error is re-raised.

    :param update: the operation's first ``instance_update`` values, made
        after the event starts (with its start, in one call, where the
        proxies can); a failure of it ends the event ``Error`` and is
        raised from the ``with`` statement.
    :returns: (as the ``with`` target) an ``EventRecord``.
    """
    values = {'instance_uuid': instance_uuid, 'request_id': request_id,
              'event': event, 'host': host}
    combine = _can_combine()
    record = EventRecord(context, values, combine)
    own_action = False

    def with_action(call):
        """``call()``, which starts the event; when the caller did not start
        the action, start it (then it is ours to finish) and call again."""
        nonlocal own_action
        try:
            return call()
        except exception.InstanceActionNotFound:
            db.instance_action_start(context, {
                'instance_uuid': instance_uuid, 'action': action,
                'request_id': request_id, 'user_id': context.user_id,
                'project_id': context.project_id})
            own_action = True
            return call()

    started = False
    if combine and update is not None:
        try:
            record.instance = with_action(
                lambda: db.instance_update_and_record(
                    context, instance_uuid, update, event_start=values))
            started = True
        except Exception as e:
            if _unknown_outcome(e):
                # Not known whether it was written (a timeout): as when
                # the separate update times out, the event ends Error.
                _finish(context, values, own_action, result='Error',
                        tb=traceback.format_exc())
                raise
            # Nothing of the call was written: the separate calls below
            # leave the records they always left and raise what they did.
    if not started:
        with_action(lambda: db.action_event_start(context, values))
        if update is not None:
            try:
                record.instance = db.instance_update(context, instance_uuid,
                                                     update)
            except Exception:
                _finish(context, values, own_action, result='Error',
                        tb=traceback.format_exc())
                raise
    try:
        yield record
    except Exception:
        tb = traceback.format_exc()
        _finish(context, values, own_action, result='Error', tb=tb)
        raise
    _finish(context, values, own_action, result='Success',
            event_done=record.finished)


def _finish(context, values, own_action, result, tb=None, event_done=False):
    try:
        if not event_done:
            db.action_event_finish(context,
                                   _finish_values(values, result, tb))
        if own_action:
            db.instance_action_finish(context, {
                'instance_uuid': values['instance_uuid'],
                'request_id': values['request_id']})
    except Exception:
        # The operation's own outcome matters more than its bookkeeping.
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
    """After a failed operation: record ``error`` as a fault and update the
    instance with ``values``, in one call where the proxies can. Best
    effort, each part logged when it fails: the original error is what the
    caller must see."""
    if _can_combine():
        try:
            db.instance_update_and_record(
                context, instance_uuid, values,
                fault=_fault_values(instance_uuid, error, host))
            return
        except Exception as e:
            if _unknown_outcome(e):
                # Not known whether it was written (a timeout): repeating
                # it could record the fault twice.
                LOG.warning('Could not record a fault of instance %s nor '
                            'set it after a failure', instance_uuid,
                            exc_info=True)
                return
            # Nothing was written: the separate calls below.
    add_fault(context, instance_uuid, error, host)
    try:
        db.instance_update(context, instance_uuid, values)
    except Exception:
        LOG.warning('Could not set instance %s after a failure',
                    instance_uuid, exc_info=True)
