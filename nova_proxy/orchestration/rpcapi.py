"""Client of the orchestration API: topic ``[proxy] topic``, namespace
``compute_task``.

Every method is an ``rpc.call`` that returns at once with the operation
record; it never waits for the operation. The record is a dict with
``id``, ``kind`` (build, migrate, confirm_resize, revert_resize),
``instance_uuid``, ``status`` (pending, running, done, failed,
rolled_back), ``step`` (the current step's name), ``progress`` (0-100),
``owner`` (the owning proxy's member name), ``epoch``, ``attempts``,
``error``, ``migration_id``, ``created_at``, ``updated_at``,
``finished_at``, ``params`` and ``state``. Watch an operation with
``operation_get``.

``operation_id`` is the caller's idempotency key: calling again with the
same id (after a ``MessagingTimeout``, say) returns the same operation and
never starts a second one.

These are the control plane's calls: every method raises ``Forbidden``
for a caller confined to a compute host (a ``compute_host`` in its
context, or a host key's signature).

API version history:

* 1.0 (2026.2) - Initial version: build_instance, migrate_server,
  confirm_resize, revert_resize, operation_get, operation_list.
"""

from oslo_log import log as logging
import oslo_messaging as messaging

from nova_proxy.common import rpc
from nova_proxy import conf

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['ComputeTaskAPI', 'RPC_API_VERSION', 'NAMESPACE', 'METHODS']

RPC_API_VERSION = '1.0'
NAMESPACE = 'compute_task'

# Every method of the wire with the version that introduced it; the
# endpoints expose exactly these (a test checks it).
METHODS = {
    'build_instance': '1.0',
    'migrate_server': '1.0',
    'confirm_resize': '1.0',
    'revert_resize': '1.0',
    'operation_get': '1.0',
    'operation_list': '1.0',
}


class ComputeTaskAPI:
    """Calls the orchestration API of the proxies (any proxy may answer;
    the one that answers owns the new operation)."""

    def __init__(self, timeout=None):
        self._timeout = timeout
        self._client = None

    @property
    def client(self):
        if self._client is None:
            target = messaging.Target(topic=CONF.proxy.topic,
                                      namespace=NAMESPACE,
                                      version=RPC_API_VERSION)
            self._client = rpc.get_client(
                target, version_cap=rpc.version_cap('compute_task'),
                timeout=self._timeout)
        return self._client

    def _call(self, context, method, **kwargs):
        cctxt = self.client.prepare(version=METHODS[method])
        return cctxt.call(context, method, **kwargs)

    def build_instance(self, context, values, host=None, operation_id=None):
        """Create an instance record and build it on a compute host.

        :param context: request context
        :param values: the instance's fields as ``instance_create`` takes
            them (``uuid`` optional; ``memory_mb``, ``vcpus``, ``root_gb``
            size the placement)
        :param host: the compute host; None lets the proxy pick a live one
            with room
        :param operation_id: idempotency key; None for a new one
        :returns: the operation record (kind ``build``)
        :raises: NoValidHost, ComputeHostNotFound (``host`` has no compute
            node), InstanceExists, InvalidUpdate, InvalidUUID,
            OperationConflict
        """
        return self._call(context, 'build_instance', values=values,
                          host=host, operation_id=operation_id)

    def migrate_server(self, context, instance_uuid, dest_host=None,
                       flavor=None, operation_id=None):
        """Cold-migrate an instance, or resize it when ``flavor`` is given.

        :param instance_uuid: the instance (vm_state active or stopped,
            task_state None)
        :param dest_host: the destination; None lets the proxy pick a live
            compute host with room, never the source
        :param flavor: the new flavor, a dict with at least ``name``,
            ``memory_mb``, ``vcpus``, ``root_gb``, and optionally ``id``
            (becomes the instance's ``instance_type_id``); None keeps the
            flavor
        :param operation_id: idempotency key; None for a new one
        :returns: the operation record (kind ``migrate``)
        :raises: InstanceNotFound, OperationInProgress (the instance has an
            operation running), UnexpectedVMStateError, NoValidHost,
            ComputeHostNotFound (``dest_host`` has no compute node),
            Invalid, OperationConflict
        """
        return self._call(context, 'migrate_server',
                          instance_uuid=instance_uuid, dest_host=dest_host,
                          flavor=flavor, operation_id=operation_id)

    def confirm_resize(self, context, instance_uuid, operation_id=None):
        """Confirm a finished resize or migration: clean up the source.

        :returns: the operation record (kind ``confirm_resize``)
        :raises: InstanceNotFound, OperationInProgress (the instance has
            an operation running, the resize itself included), Invalid (no
            finished resize), UnexpectedVMStateError, OperationConflict
        """
        return self._call(context, 'confirm_resize',
                          instance_uuid=instance_uuid,
                          operation_id=operation_id)

    def revert_resize(self, context, instance_uuid, operation_id=None):
        """Revert a finished resize or migration: back to the source host
        with the old flavor.

        :returns: the operation record (kind ``revert_resize``)
        :raises: InstanceNotFound, OperationInProgress (the instance has
            an operation running, the resize itself included), Invalid (no
            finished resize), UnexpectedVMStateError, OperationConflict
        """
        return self._call(context, 'revert_resize',
                          instance_uuid=instance_uuid,
                          operation_id=operation_id)

    def operation_get(self, context, operation_id):
        """:returns: the operation record
        :raises: OperationNotFound"""
        return self._call(context, 'operation_get',
                          operation_id=operation_id)

    def operation_list(self, context, instance_uuid=None, status=None):
        """:param instance_uuid: only this instance's operations
        :param status: one status or a list of them
        :returns: operation records, newest first, at most 1000
        :raises: Invalid (unknown status)"""
        return self._call(context, 'operation_list',
                          instance_uuid=instance_uuid, status=status)
