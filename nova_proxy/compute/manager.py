"""Endpoints of the compute service API (default namespace, version 1.1).

Three small endpoint classes: instance lifecycle, migration steps, driver
state. Only ``@rpc.remotable`` methods are callable, and they are exactly
``rpcapi.METHODS`` (a test checks). Endpoints never touch the database:
every read and write is a call of nova's database API through the shim
(``nova_proxy.compute.db``, wire 2.x) with this host's compute context, so
the proxies' host scope applies, and its errors are ``nova_proxy.exception``
classes (nova installed or not), which these endpoints raise to their
callers as they are.
"""

import contextlib

from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_utils import timeutils
from oslo_utils import uuidutils

from nova_proxy.common import context as np_context
from nova_proxy.common import rpc
from nova_proxy.common import states
from nova_proxy.common import utils
from nova_proxy.compute import actions
from nova_proxy.compute import db
from nova_proxy.compute.db import _client as db_client
from nova_proxy.compute import rpcapi
from nova_proxy import exception

LOG = logging.getLogger(__name__)

__all__ = ['endpoints', 'LifecycleEndpoint', 'MigrationEndpoint',
           'DriverEndpoint']


def _result(instance):
    """An instance as this API's callers get it: plain JSON, times as
    ISO 8601 UTC strings (the shim gives nova's naive datetimes)."""
    return db_client.to_wire(instance)


class _Endpoint:
    target = messaging.Target(version=rpcapi.RPC_API_VERSION)

    def __init__(self, host, node, driver, resources_changed=None):
        self.host = host
        self.node = node
        self.driver = driver
        self._resources_changed = resources_changed or (lambda: None)

    def _context(self, context):
        """This host's compute context, carrying the caller's request id
        into the proxies' logs and the action records."""
        ctx = np_context.get_compute_context(self.host)
        if context is not None:
            ctx.request_id = context.request_id or ctx.request_id
            ctx.global_request_id = context.global_request_id
            ctx.user_id = context.user_id
            ctx.project_id = context.project_id
        return ctx


class LifecycleEndpoint(_Endpoint):
    """Build, stop, start and terminate: the compute saves the instance
    record itself (nova's ``instance_update_and_get_original`` with the
    expected task and vm states: a compare-and-swap) and records actions,
    events and faults in calls of their own, as nova-compute does (see
    ``actions``)."""

    def _fail(self, ctx, instance_uuid, error, values):
        """Record a fault and put the instance in ``values`` (best effort:
        the original error is what the caller must see)."""
        actions.fail(ctx, instance_uuid, error, self.host, values)

    @staticmethod
    def _as_step_error(error, step, operation_id):
        if isinstance(error, exception.NovaProxyException):
            return error
        return exception.StepFailed(step=step, operation_id=operation_id,
                                    reason='%s: %s' % (type(error).__name__,
                                                       error))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._builds = utils.KeyedLocks()

    def _one_build_at_a_time(self, operation_id):
        """One delivery of a build step at a time: a takeover may send the
        step again while the first is still spawning, and the second
        would pass the spawning compare-and-swap (a resumed build must)
        and then fail the first's final one. After the first, the second
        finds the build done."""
        if operation_id is None:
            return contextlib.nullcontext()
        return self._builds.hold(operation_id)

    @rpc.remotable
    def build_and_run_instance(self, context, instance_uuid: str,
                               operation_id: str | None = None,
                               request_id: str | None = None):
        with self._one_build_at_a_time(operation_id):
            return _result(self._build(context, instance_uuid, operation_id,
                                       request_id))

    def _build(self, context, instance_uuid, operation_id, request_id):
        ctx = self._context(context)
        instance = db.instance_get_by_uuid(ctx, instance_uuid)
        if (self.driver.step_done(operation_id, 'spawn') and
                instance['vm_state'] == states.VM_ACTIVE and
                instance['host'] == self.host):
            LOG.info('Build of %(uuid)s (operation %(op)s) is already done',
                     {'uuid': instance_uuid, 'op': operation_id})
            return instance
        request_id = request_id or ctx.request_id
        spawning = {'host': self.host, 'node': self.node,
                    'launched_on': self.host,
                    'task_state': states.TASK_SPAWNING,
                    'expected_vm_state': states.VM_BUILDING,
                    'expected_task_state': list(states.BUILD_TASK_STATES)}
        with actions.record_event(ctx, instance_uuid, 'create',
                                  'compute_build_and_run_instance',
                                  request_id, self.host,
                                  update=spawning) as record:
            instance = record.instance
            try:
                self.driver.claim(instance_uuid, instance)
                self._resources_changed()
                self.driver.spawn(instance, operation_id=operation_id)
            except Exception as e:
                LOG.warning('Build of instance %(uuid)s failed: %(error)s',
                            {'uuid': instance_uuid, 'error': e})
                self.driver.release_claim(instance_uuid)
                self._resources_changed()
                self._fail(ctx, instance_uuid, e, {
                    'vm_state': states.VM_ERROR, 'task_state': None})
                raise self._as_step_error(e, 'spawn', operation_id)
            instance = record.update_and_finish({
                'vm_state': states.VM_ACTIVE, 'task_state': None,
                'power_state': states.POWER_RUNNING,
                'launched_at': timeutils.utcnow(),
                'expected_task_state': states.TASK_SPAWNING})
            self._resources_changed()
        LOG.info('Instance %s is active', instance_uuid)
        return instance

    def _power(self, context, instance_uuid, action, task_state, done_state,
               power_state, driver_call):
        ctx = self._context(context)
        begin = {'task_state': task_state,
                 'expected_task_state': [None, task_state],
                 'expected_vm_state': [states.VM_ACTIVE,
                                       states.VM_STOPPED]}
        with actions.record_event(ctx, instance_uuid, action,
                                  'compute_%s_instance' % action,
                                  ctx.request_id, self.host,
                                  update=begin) as record:
            try:
                driver_call(instance_uuid)
            except Exception as e:
                self._fail(ctx, instance_uuid, e, {
                    'task_state': None, 'expected_task_state': task_state})
                raise self._as_step_error(e, action, None)
            instance = record.update_and_finish({
                'vm_state': done_state, 'power_state': power_state,
                'task_state': None, 'expected_task_state': task_state})
            self._resources_changed()
        return _result(instance)

    @rpc.remotable
    def stop_instance(self, context, instance_uuid: str):
        return self._power(context, instance_uuid, 'stop',
                           states.TASK_POWERING_OFF, states.VM_STOPPED,
                           states.POWER_SHUTDOWN, self.driver.power_off)

    @rpc.remotable
    def start_instance(self, context, instance_uuid: str):
        return self._power(context, instance_uuid, 'start',
                           states.TASK_POWERING_ON, states.VM_ACTIVE,
                           states.POWER_RUNNING, self.driver.power_on)

    @rpc.remotable
    def terminate_instance(self, context, instance_uuid: str):
        ctx = self._context(context)
        deleting = {'task_state': states.TASK_DELETING,
                    'expected_task_state': [None, states.TASK_DELETING]}
        with actions.record_event(ctx, instance_uuid, 'delete',
                                  'compute_terminate_instance',
                                  ctx.request_id, self.host,
                                  update=deleting) as record:
            try:
                self.driver.destroy(instance_uuid)
            except Exception as e:
                self._fail(ctx, instance_uuid, e, {
                    'vm_state': states.VM_ERROR, 'task_state': None})
                raise self._as_step_error(e, 'destroy', None)
            self._resources_changed()
            record.update_and_finish({
                'vm_state': states.VM_DELETED, 'task_state': None,
                'power_state': states.POWER_NOSTATE,
                'terminated_at': timeutils.utcnow(),
                'expected_task_state': states.TASK_DELETING})
        # nova's Instance.destroy: only while the instance is still here.
        instance = db.instance_destroy(
            ctx, instance_uuid,
            constraint=db.constraint(host=db.equal_any(self.host)))
        LOG.info('Instance %s is deleted', instance_uuid)
        return _result(instance)


def _check_step(method, instance_uuid, operation_id):
    """A step without a valid instance or operation id would escape the
    ledger (and so its idempotency): refuse it by name."""
    if not uuidutils.is_uuid_like(instance_uuid):
        raise exception.InvalidUUID(uuid=instance_uuid)
    if not operation_id:
        raise exception.InvalidRequest(
            method=method, reason='operation_id must not be empty')


class MigrationEndpoint(_Endpoint):
    """Migration steps: hypervisor work only, each idempotent by
    ``(operation_id, step)`` through the driver's ledger. The engine that
    calls them writes the instance and migration records."""

    def _step(self, step, instance_uuid, operation_id, *args, **kwargs):
        """Run the driver's ``step`` (same name) once per (operation,
        step), then report the changed resources."""
        _check_step(step, instance_uuid, operation_id)
        result = getattr(self.driver, step)(instance_uuid, *args,
                                            operation_id, **kwargs)
        self._resources_changed()
        return result

    @rpc.remotable
    def prep_resize(self, context, instance_uuid: str, migration_id: int,
                    flavor: dict, operation_id: str):
        return self._step('prep_resize', instance_uuid, operation_id,
                          migration_id, flavor)

    @rpc.remotable
    def resize_instance(self, context, instance_uuid: str, migration_id: int,
                        operation_id: str):
        ctx = self._context(context)

        def progress(percent):
            db.migration_update(ctx, migration_id, {'progress': percent})
            LOG.debug('Copy of instance %(uuid)s: %(p)d%%',
                      {'uuid': instance_uuid, 'p': percent})

        return self._step('resize_instance', instance_uuid, operation_id,
                          migration_id, progress=progress)

    @rpc.remotable
    def finish_resize(self, context, instance_uuid: str, migration_id: int,
                      flavor: dict, operation_id: str, power_on: bool = True):
        # power_on: since 1.1; a 1.0 caller leaves it out and gets the
        # instance running, as before.
        return self._step('finish_resize', instance_uuid, operation_id,
                          migration_id, flavor, power_on=power_on)

    @rpc.remotable
    def confirm_resize(self, context, instance_uuid: str, migration_id: int,
                       operation_id: str):
        return self._step('confirm_resize', instance_uuid, operation_id,
                          migration_id)

    @rpc.remotable
    def revert_resize(self, context, instance_uuid: str, migration_id: int,
                      operation_id: str):
        return self._step('revert_resize', instance_uuid, operation_id,
                          migration_id)

    @rpc.remotable
    def finish_revert_resize(self, context, instance_uuid: str,
                             migration_id: int, flavor: dict,
                             operation_id: str, power_on: bool = True):
        return self._step('finish_revert_resize', instance_uuid,
                          operation_id, migration_id, flavor,
                          power_on=power_on)

    @rpc.remotable
    def abort_prep_resize(self, context, instance_uuid: str,
                          migration_id: int, operation_id: str):
        return self._step('abort_prep_resize', instance_uuid, operation_id,
                          migration_id)


class DriverEndpoint(_Endpoint):

    @rpc.remotable
    def get_driver_state(self, context):
        return self.driver.get_state()


def endpoints(host, node, driver, resources_changed=None):
    """The compute API's endpoints, fresh for each server.

    :param resources_changed: called after a claim is taken or released,
        so that the resource reporter sends the new counters at once.
    """
    return [cls(host, node, driver, resources_changed)
            for cls in (LifecycleEndpoint, MigrationEndpoint,
                        DriverEndpoint)]
