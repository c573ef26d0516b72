"""A compute state change and its bookkeeping, as nova-compute makes
them: nova's calls over wire 2.x (``nova_proxy.compute.db``), each its
own round trip, and the records they leave.

Through the real RPC path on the fake transport (see ``conftest.Stack``).
"""

import threading

import oslo_messaging as messaging
import pytest

from nova_proxy.common import context as np_context
from nova_proxy.common import rpc
from nova_proxy.compute import actions as compute_actions
from nova_proxy.compute import periodic
from nova_proxy import conf
from nova_proxy.db import api as db
from nova_proxy import exception

CONF = conf.CONF

# The calls that write an instance's state and its bookkeeping.
BOOKKEEPING = {'instance_update_and_get_original', 'action_get_by_request_id',
               'action_start', 'action_finish', 'action_event_start',
               'action_event_finish', 'instance_fault_create'}


@pytest.fixture
def calls(monkeypatch):
    """The 2.x proxy calls the compute makes for an operation, as
    ``[(method, uuid)]``.

    The power-state sync runs every second beside the operation and may
    save the same instance (a failed build's power state, say) between or
    after the operation's calls; its calls are not the operation's and
    are left out, or the sequence would depend on the machine's speed.
    """
    made = []
    real = rpc.call_retrying

    def spy(cctxt, context, method, retry_safe, kwargs, **rest):
        uuid = kwargs.get('instance_uuid') or (
            kwargs.get('values') or {}).get('instance_uuid')
        periodic_task = (threading.current_thread().name ==
                         periodic.PowerStateSync.name)
        if method in BOOKKEEPING and not periodic_task:
            made.append((method, uuid))
        return real(cctxt, context, method, retry_safe, kwargs, **rest)
    monkeypatch.setattr(rpc, 'call_retrying', spy)
    return made


@pytest.fixture
def compute(stack):
    return stack.start_compute('c1')


def _new_instance():
    return db.instance_create(np_context.get_admin_context(), {
        'host': 'c1', 'vm_state': 'building', 'task_state': 'scheduling',
        'memory_mb': 512, 'vcpus': 1, 'root_gb': 1})['uuid']


def _records(uuid):
    ctx = np_context.get_admin_context()
    result = []
    for action in db.actions_get_with_events(ctx, uuid):
        result.append((action['action'], action['message'],
                       action['finish_time'] is not None,
                       [(e['event'], e['result'], e['host'],
                         e['finish_time'] is not None)
                        for e in action['events']]))
    faults = db.instance_fault_get_by_instance_uuids(ctx, [uuid])[uuid]
    return result, [f['message'].split(':')[0] for f in faults]


def _mine(calls, uuid):
    return [method for method, u in calls if u == uuid]


SAVE = 'instance_update_and_get_original'


def test_lifecycle_records_and_round_trips(stack, compute, calls):
    uuid = _new_instance()
    ctx = np_context.get_admin_context()
    db.instance_action_start(ctx, {'instance_uuid': uuid, 'action': 'create',
                                   'request_id': 'req-build'})
    built = stack.api.build_and_run_instance(ctx, 'c1', uuid,
                                             request_id='req-build')
    assert (built['vm_state'], built['task_state']) == ('active', None)
    # The caller's action: looked up, not started nor finished here.
    assert _mine(calls, uuid) == [
        'action_get_by_request_id', 'action_event_start', SAVE, SAVE,
        'action_event_finish']
    del calls[:]
    stack.api.stop_instance(np_context.get_admin_context(), 'c1', uuid)
    # No action yet for this request: the compute starts and finishes it.
    assert _mine(calls, uuid) == [
        'action_get_by_request_id', 'action_start', 'action_event_start',
        SAVE, SAVE, 'action_event_finish', 'action_finish']
    stack.api.start_instance(np_context.get_admin_context(), 'c1', uuid)
    stack.api.terminate_instance(np_context.get_admin_context(), 'c1', uuid)
    records, faults = _records(uuid)
    assert faults == []
    assert records == [
        ('create', None, False,
         [('compute_build_and_run_instance', 'Success', 'c1', True)]),
        ('stop', None, True,
         [('compute_stop_instance', 'Success', 'c1', True)]),
        ('start', None, True,
         [('compute_start_instance', 'Success', 'c1', True)]),
        ('delete', None, True,
         [('compute_terminate_instance', 'Success', 'c1', True)])]


def test_failed_spawn_fault_and_error_state(stack, compute, calls,
                                            monkeypatch):
    monkeypatch.setenv('NOVA_PROXY_FAKE_FAIL_STEPS', 'spawn')
    uuid = _new_instance()
    with pytest.raises(exception.StepFailed):
        stack.api.build_and_run_instance(np_context.get_admin_context(),
                                         'c1', uuid, operation_id='op-1')
    instance = db.instance_get_by_uuid(np_context.get_admin_context(), uuid)
    assert (instance['vm_state'], instance['task_state']) == ('error', None)
    records, faults = _records(uuid)
    assert faults == ['StepFailed']
    assert records == [('create', 'Error', True, [
        ('compute_build_and_run_instance', 'Error', 'c1', True)])]
    # The fault first, then the error state, as nova-compute does.
    assert _mine(calls, uuid) == [
        'action_get_by_request_id', 'action_start', 'action_event_start',
        SAVE, 'instance_fault_create', SAVE, 'action_event_finish',
        'action_finish']


def test_a_refused_state_change_ends_the_event_error(stack, compute, calls):
    """A compare-and-swap miss of the first save: the event ends Error
    with the miss, the caller gets the miss as ``nova_proxy.exception``'s
    class (nova is installed in this test environment), no fault."""
    uuid = _new_instance()
    stack.api.build_and_run_instance(np_context.get_admin_context(), 'c1',
                                     uuid)
    db.instance_update(np_context.get_admin_context(), uuid,
                       {'task_state': 'resize_prep'})
    del calls[:]
    with pytest.raises(exception.UnexpectedTaskStateError) as info:
        stack.api.stop_instance(np_context.get_admin_context(), 'c1', uuid)
    assert info.value.kwargs['actual'] == {'task_state': 'resize_prep'}
    records, faults = _records(uuid)
    assert records[-1] == ('stop', 'Error', True, [
        ('compute_stop_instance', 'Error', 'c1', True)])
    [stop] = [a for a in db.actions_get_with_events(
        np_context.get_admin_context(), uuid) if a['action'] == 'stop']
    assert 'UnexpectedTaskStateError' in stop['events'][0]['traceback']
    assert faults == []
    assert db.instance_get_by_uuid(np_context.get_admin_context(), uuid)[
        'task_state'] == 'resize_prep'
    assert _mine(calls, uuid)[-3:] == [SAVE, 'action_event_finish',
                                       'action_finish']


# -- the paths where a call fails (the shim mocked) -----------------------

class FakeShim:
    """The shim's functions, recording calls; ``fail`` maps a function
    name to the errors its successive calls raise (None: it succeeds)."""

    def __init__(self, fail=None, action=None):
        self.made = []
        self._fail = {k: list(v) for k, v in (fail or {}).items()}
        self._action = action

    def __getattr__(self, name):
        def call(context, *args, **kwargs):
            self.made.append(name)
            errors = self._fail.get(name)
            error = errors.pop(0) if errors else None
            if error is not None:
                raise error
            if name == 'action_get_by_request_id':
                return self._action
            if name == SAVE:
                return [{'uuid': UUID}, {'uuid': UUID, 'from': name}]
            return {'uuid': UUID, 'from': name}
        return call


UUID = '11111111-2222-4333-8444-555555555555'
MISS = exception.UnexpectedTaskStateError(instance_uuid=UUID, expected='a',
                                          actual='b')


def _record(shim, monkeypatch, body=None):
    monkeypatch.setattr(compute_actions, 'db', shim)
    ctx = np_context.get_compute_context('c1')
    with compute_actions.record_event(ctx, UUID, 'stop', 'compute_stop',
                                      'req', 'c1',
                                      update={'task_state': 'x'}) as rec:
        (body or (lambda r: r.update_and_finish({'task_state': None})))(rec)
    return rec


def test_the_callers_action_is_neither_started_nor_finished(monkeypatch):
    shim = FakeShim(action={'id': 1})
    record = _record(shim, monkeypatch)
    assert record.instance == {'uuid': UUID, 'from': SAVE}
    assert shim.made == ['action_get_by_request_id', 'action_event_start',
                         SAVE, SAVE, 'action_event_finish']


def test_a_timeout_of_the_first_save_ends_the_event_error(monkeypatch):
    shim = FakeShim(fail={SAVE: [messaging.MessagingTimeout()]})
    with pytest.raises(messaging.MessagingTimeout):
        _record(shim, monkeypatch)
    assert shim.made == ['action_get_by_request_id', 'action_start',
                         'action_event_start', SAVE, 'action_event_finish',
                         'action_finish']


def test_a_timeout_of_the_last_save_is_the_operations_error(monkeypatch):
    shim = FakeShim(fail={SAVE: [None, messaging.MessagingTimeout()]})
    with pytest.raises(messaging.MessagingTimeout):
        _record(shim, monkeypatch)
    assert shim.made[-3:] == [SAVE, 'action_event_finish', 'action_finish']


def test_a_failing_event_finish_is_logged_not_raised(monkeypatch):
    shim = FakeShim(fail={'action_event_finish': [
        exception.InstanceActionEventNotFound(action_id=1,
                                              event='compute_stop')]})
    _record(shim, monkeypatch)
    # The operation succeeded: its bookkeeping's failure stays a warning,
    # and the action is not finished after its event could not be.
    assert shim.made[-2:] == [SAVE, 'action_event_finish']


@pytest.mark.parametrize('error', [None, MISS, messaging.MessagingTimeout()])
def test_fail_records_the_fault_then_saves(monkeypatch, error):
    shim = FakeShim(fail={SAVE: [error]})
    monkeypatch.setattr(compute_actions, 'db', shim)
    # A failure of either part is logged: the caller's error is what
    # counts.
    compute_actions.fail(np_context.get_compute_context('c1'), UUID,
                         RuntimeError('boom'), 'c1', {'task_state': None})
    assert shim.made == ['instance_fault_create', SAVE]
