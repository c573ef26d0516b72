"""Instance actions, events and faults, recorded through the shim.

As in nova: an instance action (``create``, ``stop``, ...) groups the
events of one request (``request_id``); the compute records one event per
operation it runs (``compute_stop_instance``, ...) with its result, and a
fault when an operation fails. Here every write is an RPC call to the
proxies (``nova_proxy.compute.db``).
"""

import contextlib
import traceback

from oslo_log import log as logging

from nova_proxy.compute import db
from nova_proxy import exception

LOG = logging.getLogger(__name__)

__all__ = ['record_event', 'add_fault']


@contextlib.contextmanager
def record_event(context, instance_uuid, action, event, request_id, host):
    """Record ``event`` of the action of ``request_id`` around a block.

    The action is started here when the caller did not start it (and then
    finished here too). The event ends ``Success`` when the block returns,
    ``Error`` with the traceback when it raises; the error is re-raised.
    """
    values = {'instance_uuid': instance_uuid, 'request_id': request_id,
              'event': event, 'host': host}
    own_action = False
    try:
        db.action_event_start(context, values)
    except exception.InstanceActionNotFound:
        db.instance_action_start(context, {
            'instance_uuid': instance_uuid, 'action': action,
            'request_id': request_id, 'user_id': context.user_id,
            'project_id': context.project_id})
        own_action = True
        db.action_event_start(context, values)
    try:
        yield
    except Exception:
        tb = traceback.format_exc()
        _finish(context, values, own_action, result='Error', tb=tb)
        raise
    _finish(context, values, own_action, result='Success')


def _finish(context, values, own_action, result, tb=None):
    try:
        db.action_event_finish(context, dict(values, result=result,
                                             traceback=tb))
        if own_action:
            db.instance_action_finish(context, {
                'instance_uuid': values['instance_uuid'],
                'request_id': values['request_id']})
    except Exception:
        # The operation's own outcome matters more than its bookkeeping.
        LOG.warning('Could not finish event %(event)s of instance %(uuid)s',
                    {'event': values['event'],
                     'uuid': values['instance_uuid']}, exc_info=True)


def add_fault(context, instance_uuid, error, host):
    """Record ``error`` as a fault of the instance (best effort)."""
    if isinstance(error, exception.NovaProxyException):
        message = '%s: %s' % (type(error).__name__, error.format_message())
    else:
        message = '%s: %s' % (type(error).__name__, error)
    try:
        db.instance_fault_create(context, {
            'instance_uuid': instance_uuid, 'code': 500,
            'message': message[:255],
            'details': ''.join(traceback.format_exception(error)),
            'host': host})
    except Exception:
        LOG.warning('Could not record a fault of instance %s',
                    instance_uuid, exc_info=True)
