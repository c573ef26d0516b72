"""Client of the compute service API: topic ``[compute] topic`` (``compute``),
server ``<host>`` (queue ``compute.<host>``), default namespace.

The proxies (the orchestration engine) call compute hosts with it; tests
and demos may too. Every method is an ``rpc.call``: the caller drives each
step and waits for it. The client methods take ``(context, host, ...)``;
the endpoint receives the same arguments without ``host``. Results are
plain JSON dicts.

Lifecycle methods change the instance record themselves, through the shim
(nova's calls on wire 2.x, ``nova_proxy.compute.db``), and record instance
actions, events and faults. The instance they return is the row as the
2.x ``instance_update_and_get_original`` gives it (docs/wire.rst), with
times as ISO 8601 UTC strings. Migration steps do the hypervisor work
only (the engine writes the instance and migration records), except
that ``resize_instance`` reports the copy's progress in the migration
record. Each migration step is idempotent by
``(operation_id, step)``: calling it again returns the stored result and
does not apply its effect twice.

The compute reads and writes the instance under the proxies' host scope:
the instance's ``host`` must be the called host (or a migration in progress
must name it) before a lifecycle call reaches it.

API version history:

* 1.0 (2026.2) - Initial version: build_and_run_instance, stop_instance,
  start_instance, terminate_instance; prep_resize, resize_instance,
  finish_resize, confirm_resize, revert_resize, finish_revert_resize,
  abort_prep_resize; get_driver_state.
* 1.1 - finish_resize and finish_revert_resize take ``power_on`` (default
  True): False leaves the instance shut down, for one that was stopped
  before the resize. Under a cap below 1.1 the client sends them as 1.0,
  without ``power_on``, and the compute powers the instance on.
"""

from oslo_log import log as logging
import oslo_messaging as messaging

from nova_proxy.common import rpc
from nova_proxy import conf

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['ComputeAPI', 'RPC_API_VERSION', 'METHODS', 'foreign_topic']

RPC_API_VERSION = '1.1'

# Every method of the wire with the version that introduced it, or last
# changed its arguments (the version the client sends when the cap allows
# it). The compute's endpoints expose exactly these (a test checks it).
METHODS = {
    'build_and_run_instance': '1.0',
    'stop_instance': '1.0',
    'start_instance': '1.0',
    'terminate_instance': '1.0',
    'prep_resize': '1.0',
    'resize_instance': '1.0',
    'finish_resize': '1.1',
    'confirm_resize': '1.0',
    'revert_resize': '1.0',
    'finish_revert_resize': '1.1',
    'abort_prep_resize': '1.0',
    'get_driver_state': '1.0',
}

# What finish_resize and finish_revert_resize were before 1.1 added
# power_on: the version a capped client sends them as, without it.
BEFORE_POWER_ON = '1.0'


def foreign_topic(service):
    """The topic a compute service's record names when it is not the one
    this client calls (``[compute] topic``), else None.

    A compute listens on its own ``[compute] topic`` and writes it in its
    service record when it creates the record, at its first start (a
    compute host may not change it later: ``service_update``). Nothing
    else tells a compute on another topic apart from a slow or dead one:
    every call to it waits until it times out. The record may be older
    than the compute's configuration, so this is a strong hint, not a
    proof. A record without a topic (nova's schema allows it) is not
    judged.
    """
    topic = service.get('topic')
    return None if topic in (None, CONF.compute.topic) else topic


class ComputeAPI:
    """Calls compute services. One per process is enough; thread-safe.

    :param timeout: seconds to wait for an answer; defaults to
        ``[compute] rpc_timeout``.
    :param call_monitor_timeout: seconds without a heartbeat from the
        compute while it works after which a call fails; defaults to
        ``[compute] call_monitor_timeout``. It applies to every call, so a
        dead compute is noticed in seconds even in a long copy.
    """

    def __init__(self, timeout=None, call_monitor_timeout=None):
        self._timeout = timeout
        self._call_monitor_timeout = call_monitor_timeout
        self._client = None

    @property
    def client(self):
        if self._client is None:
            target = messaging.Target(topic=CONF.compute.topic,
                                      version=RPC_API_VERSION)
            self._client = rpc.get_client(
                target, version_cap=rpc.version_cap('compute'),
                timeout=self._timeout or CONF.compute.rpc_timeout)
        return self._client

    def can_send_version(self, version):
        return self.client.can_send_version(version)

    def _call(self, context, host, method, version=None, **kwargs):
        monitor = (self._call_monitor_timeout or
                   CONF.compute.call_monitor_timeout)
        cctxt = self.client.prepare(server=host,
                                    version=version or METHODS[method],
                                    call_monitor_timeout=monitor)
        return cctxt.call(context, method, **kwargs)

    def _call_finish(self, context, host, method, power_on, **kwargs):
        """``finish_resize`` / ``finish_revert_resize``: with
        ``power_on`` at 1.1; under a lower ``[upgrade_levels] compute``
        cap as 1.0 without it (that compute powers the instance on)."""
        if self.can_send_version(METHODS[method]):
            return self._call(context, host, method, power_on=power_on,
                              **kwargs)
        if not power_on:
            LOG.warning('%(method)s of instance %(uuid)s sent as compute '
                        'API %(old)s ([upgrade_levels] compute cap): the '
                        'compute on %(host)s will power the instance on',
                        {'method': method, 'old': BEFORE_POWER_ON,
                         'uuid': kwargs.get('instance_uuid'),
                         'host': host})
        return self._call(context, host, method, version=BEFORE_POWER_ON,
                          **kwargs)

    # -- lifecycle --

    def build_and_run_instance(self, context, host, instance_uuid,
                               operation_id=None, request_id=None):
        """Claim resources on ``host`` and spawn the instance there.

        The instance record must exist with ``vm_state`` ``building`` and
        ``host`` set to ``host``. On success it is ``active``, task_state
        None, power_state 1 (running), with ``launched_at``, ``host`` and
        ``node`` set. On failure the claim is released, the instance is in
        ``error`` with task_state None, a fault is recorded, and the error
        is raised here.

        :param host: the compute host.
        :param instance_uuid: the instance.
        :param operation_id: idempotency key: a second call with the same
            id does not spawn again and returns the instance.
        :param request_id: the request id of the instance action to record
            the ``compute_build_and_run_instance`` event under (default: the
            context's); the ``create`` action is started if it does not
            exist.
        :returns: the instance dict.
        :raises: ComputeResourcesUnavailable (no room; instance in error),
            StepFailed (the spawn failed; instance in error),
            InstanceNotFound, UnexpectedVMStateError (not building),
            UnexpectedTaskStateError, HostScopeViolation (the instance's
            host is not ``host``), MessagingTimeout.
        """
        return self._call(context, host, 'build_and_run_instance',
                          instance_uuid=instance_uuid,
                          operation_id=operation_id, request_id=request_id)

    def stop_instance(self, context, host, instance_uuid):
        """Power the instance off: vm_state ``stopped``, power_state 4.

        :returns: the instance dict.
        :raises: InstanceNotFound, UnexpectedTaskStateError (another task
            in progress), UnexpectedVMStateError (not active or stopped),
            StepFailed (the driver failed; task_state reset, fault
            recorded), MessagingTimeout.
        """
        return self._call(context, host, 'stop_instance',
                          instance_uuid=instance_uuid)

    def start_instance(self, context, host, instance_uuid):
        """Power the instance on: vm_state ``active``, power_state 1.

        :returns: the instance dict.
        :raises: as ``stop_instance``.
        """
        return self._call(context, host, 'start_instance',
                          instance_uuid=instance_uuid)

    def terminate_instance(self, context, host, instance_uuid):
        """Destroy the instance on the hypervisor, release its claims and
        soft-delete its record (vm_state ``deleted``, ``terminated_at``).

        :returns: the soft-deleted instance dict (``deleted`` != 0).
        :raises: InstanceNotFound (also when already deleted),
            UnexpectedTaskStateError (another task in progress), StepFailed
            (instance left in ``error`` with a fault), MessagingTimeout.
        """
        return self._call(context, host, 'terminate_instance',
                          instance_uuid=instance_uuid)

    # -- migration steps: idempotent by (operation_id, step) --

    def prep_resize(self, context, host, instance_uuid, migration_id, flavor,
                    operation_id):
        """On the destination ``host``: claim ``flavor``'s resources.

        :param migration_id: the migration record's id.
        :param flavor: dict with at least ``memory_mb``, ``vcpus``,
            ``root_gb`` (``ephemeral_gb`` and ``name`` optional).
        :param operation_id: the journal's operation id.
        :returns: ``{'claim': {'host', 'memory_mb', 'vcpus', 'disk_gb',
            'instance_uuid', 'migration_id'}}``.
        :raises: ComputeResourcesUnavailable (no room), StepFailed,
            InvalidRequest (bad flavor), MessagingTimeout.
        """
        return self._call(context, host, 'prep_resize',
                          instance_uuid=instance_uuid,
                          migration_id=migration_id, flavor=flavor,
                          operation_id=operation_id)

    def resize_instance(self, context, host, instance_uuid, migration_id,
                        operation_id):
        """On the source ``host``: power off and copy the disk; the copy
        takes ``[compute] fake_copy_seconds`` and writes the migration's
        ``progress`` (percent) as it goes.

        :returns: ``{}``.
        :raises: StepFailed, MessagingTimeout (also when the compute dies:
            after ``call_monitor_timeout`` without heartbeat).
        """
        return self._call(context, host, 'resize_instance',
                          instance_uuid=instance_uuid,
                          migration_id=migration_id,
                          operation_id=operation_id)

    def finish_resize(self, context, host, instance_uuid, migration_id,
                      flavor, operation_id, power_on=True):
        """On the destination ``host``: create the instance with the new
        ``flavor``, and start it when ``power_on``.

        :param power_on: False leaves the instance shut down (it was
            stopped before the resize). Since 1.1: under a lower cap it is
            not sent, and the compute starts the instance.
        :returns: ``{}``. :raises: StepFailed, MessagingTimeout.
        """
        return self._call_finish(context, host, 'finish_resize', power_on,
                                 instance_uuid=instance_uuid,
                                 migration_id=migration_id, flavor=flavor,
                                 operation_id=operation_id)

    def confirm_resize(self, context, host, instance_uuid, migration_id,
                       operation_id):
        """On the source ``host``: destroy the source copy and release its
        resources.

        :returns: ``{}``. :raises: StepFailed, MessagingTimeout.
        """
        return self._call(context, host, 'confirm_resize',
                          instance_uuid=instance_uuid,
                          migration_id=migration_id,
                          operation_id=operation_id)

    def revert_resize(self, context, host, instance_uuid, migration_id,
                      operation_id):
        """On the destination ``host``: destroy the copy there and release
        the claim of ``prep_resize``.

        :returns: ``{}``. :raises: StepFailed, MessagingTimeout.
        """
        return self._call(context, host, 'revert_resize',
                          instance_uuid=instance_uuid,
                          migration_id=migration_id,
                          operation_id=operation_id)

    def finish_revert_resize(self, context, host, instance_uuid,
                             migration_id, flavor, operation_id,
                             power_on=True):
        """On the source ``host``: bring the original back with the old
        ``flavor``, powered on when ``power_on``.

        :param power_on: as for ``finish_resize`` (since 1.1).
        :returns: ``{}``. :raises: StepFailed, MessagingTimeout.
        """
        return self._call_finish(context, host, 'finish_revert_resize',
                                 power_on, instance_uuid=instance_uuid,
                                 migration_id=migration_id, flavor=flavor,
                                 operation_id=operation_id)

    def abort_prep_resize(self, context, host, instance_uuid, migration_id,
                          operation_id):
        """On the destination ``host``: drop the claim of ``prep_resize``
        (rollback before any disk was copied).

        :returns: ``{}``. :raises: StepFailed, MessagingTimeout.
        """
        return self._call(context, host, 'abort_prep_resize',
                          instance_uuid=instance_uuid,
                          migration_id=migration_id,
                          operation_id=operation_id)

    # -- monitoring --

    def get_driver_state(self, context, host):
        """The fake driver's state, for tests, demos and monitoring.

        :returns: ``{'instances': {uuid: {...}}, 'claims': {id: {...}},
            'ledger': {'<operation_id>/<step>': {...}}}``.
        :raises: MessagingTimeout.
        """
        return self._call(context, host, 'get_driver_state')
