"""A compute state change and its bookkeeping in one call to the proxies
(``instance_update_and_record``), against the separate calls a 1.0 cap
keeps: the same records either way, fewer round trips with 1.1.

Through the real RPC path on the fake transport (see ``conftest.Stack``).
"""

from unittest import mock

import oslo_messaging as messaging
import pytest

from nova_proxy.common import context as np_context
from nova_proxy.compute import actions as compute_actions
from nova_proxy import conf
from nova_proxy.db import api as db
from nova_proxy import exception
from nova_proxy.proxy import rpcapi

CONF = conf.CONF

# The calls that write an instance's state and its bookkeeping.
BOOKKEEPING = {'instance_update', 'instance_update_and_record',
               'action_event_start', 'action_event_finish',
               'instance_action_start', 'instance_action_finish',
               'instance_fault_create'}


@pytest.fixture(params=[None, '1.0'], ids=['cap-none', 'cap-1.0'])
def cap(request, stack):
    CONF.set_override('compute_proxy', request.param, group='upgrade_levels')
    return request.param


@pytest.fixture
def calls(monkeypatch):
    """The proxy calls the compute makes, as ``[(method, uuid)]``."""
    made = []
    real = rpcapi.ProxyAPI._call

    def spy(self, context, method, retry_safe=None, **kwargs):
        uuid = kwargs.get('instance_uuid') or (
            kwargs.get('values') or {}).get('instance_uuid')
        if method in BOOKKEEPING:
            made.append((method, uuid))
        return real(self, context, method, retry_safe=retry_safe, **kwargs)
    monkeypatch.setattr(rpcapi.ProxyAPI, '_call', spy)
    return made


@pytest.fixture
def compute(stack, cap):
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


def test_lifecycle_records_and_round_trips(stack, compute, cap, calls):
    uuid = _new_instance()
    ctx = np_context.get_admin_context()
    db.instance_action_start(ctx, {'instance_uuid': uuid, 'action': 'create',
                                   'request_id': 'req-build'})
    built = stack.api.build_and_run_instance(ctx, 'c1', uuid,
                                             request_id='req-build')
    assert (built['vm_state'], built['task_state']) == ('active', None)
    if cap is None:
        # The event start with the first update, its finish with the last.
        assert _mine(calls, uuid) == ['instance_update_and_record'] * 2
    else:
        assert _mine(calls, uuid) == [
            'action_event_start', 'instance_update', 'instance_update',
            'action_event_finish']
    del calls[:]
    stack.api.stop_instance(np_context.get_admin_context(), 'c1', uuid)
    if cap is None:
        # No action yet for this request: the first call finds that out
        # and writes nothing; the action is started and the call made
        # again.
        assert _mine(calls, uuid) == [
            'instance_update_and_record', 'instance_action_start',
            'instance_update_and_record', 'instance_update_and_record',
            'instance_action_finish']
    else:
        assert _mine(calls, uuid) == [
            'action_event_start', 'instance_action_start',
            'action_event_start', 'instance_update', 'instance_update',
            'action_event_finish', 'instance_action_finish']
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


def test_failed_spawn_fault_and_error_state(stack, compute, cap, calls,
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
    if cap is None:
        # The fault with the error state, in one call.
        assert 'instance_fault_create' not in _mine(calls, uuid)
        assert _mine(calls, uuid).count('instance_update_and_record') == 3
    else:
        assert 'instance_update_and_record' not in _mine(calls, uuid)
        assert _mine(calls, uuid).count('instance_fault_create') == 1


def test_a_refused_state_change_records_what_it_always_did(
        stack, compute, cap, calls):
    """A compare-and-swap miss with the event start writes nothing, so the
    separate calls follow: the event is started and ends Error with the
    miss, and the caller gets the miss."""
    uuid = _new_instance()
    stack.api.build_and_run_instance(np_context.get_admin_context(), 'c1',
                                     uuid)
    db.instance_update(np_context.get_admin_context(), uuid,
                       {'task_state': 'resize_prep'})
    del calls[:]
    with pytest.raises(exception.UnexpectedTaskStateError):
        stack.api.stop_instance(np_context.get_admin_context(), 'c1', uuid)
    records, faults = _records(uuid)
    assert records[-1] == ('stop', 'Error', True, [
        ('compute_stop_instance', 'Error', 'c1', True)])
    [stop] = [a for a in db.actions_get_with_events(
        np_context.get_admin_context(), uuid) if a['action'] == 'stop']
    assert 'UnexpectedTaskStateError' in stop['events'][0]['traceback']
    assert faults == []
    assert db.instance_get_by_uuid(np_context.get_admin_context(), uuid)[
        'task_state'] == 'resize_prep'
    if cap is None:
        assert _mine(calls, uuid)[-4:] == [
            'action_event_start', 'instance_update', 'action_event_finish',
            'instance_action_finish']


# -- the paths where the combined call fails (the shim mocked) -------------

class FakeShim:
    """The shim's functions, recording calls; ``fail`` maps a function
    name to the errors its successive calls raise (None: it succeeds)."""

    def __init__(self, combine=True, fail=None):
        self.made = []
        self._combine = combine
        self._fail = {k: list(v) for k, v in (fail or {}).items()}

    def get_api(self):
        api = mock.Mock()
        api.can_send_version.side_effect = lambda v: self._combine
        return api

    def __getattr__(self, name):
        def call(context, *args, **kwargs):
            self.made.append((name, kwargs.get('event_start') is not None,
                              kwargs.get('event_finish') is not None,
                              kwargs.get('fault') is not None))
            errors = self._fail.get(name)
            error = errors.pop(0) if errors else None
            if error is not None:
                raise error
            return {'uuid': 'u', 'from': name}
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


def test_a_timeout_of_the_first_call_ends_the_event_error(monkeypatch):
    shim = FakeShim(fail={'instance_update_and_record': [
        messaging.MessagingTimeout()]})
    with pytest.raises(messaging.MessagingTimeout):
        _record(shim, monkeypatch)
    # Not known whether it was written: no replay, the event ends Error.
    assert [m[0] for m in shim.made] == ['instance_update_and_record',
                                         'action_event_finish']


def test_a_failing_finish_part_replays_the_update_alone(monkeypatch):
    shim = FakeShim(fail={'instance_update_and_record': [
        None, exception.InstanceActionNotFound(
            action=None, request_id='req', instance_uuid=UUID)]})
    record = _record(shim, monkeypatch)
    assert not record.finished
    assert shim.made == [
        ('instance_update_and_record', True, False, False),
        ('instance_update_and_record', False, True, False),
        ('instance_update', False, False, False),
        ('action_event_finish', False, False, False)]


def test_a_timeout_of_the_last_call_is_the_operations_error(monkeypatch):
    shim = FakeShim(fail={'instance_update_and_record': [
        None, messaging.MessagingTimeout()]})
    with pytest.raises(messaging.MessagingTimeout):
        _record(shim, monkeypatch)
    assert [m[0] for m in shim.made] == [
        'instance_update_and_record', 'instance_update_and_record',
        'action_event_finish']


def test_an_error_after_the_finish_still_ends_the_event_error(monkeypatch):
    shim = FakeShim()

    def body(record):
        record.update_and_finish({'task_state': None})
        raise RuntimeError('after the last update')
    with pytest.raises(RuntimeError):
        _record(shim, monkeypatch, body)
    assert [m[0] for m in shim.made] == [
        'instance_update_and_record', 'instance_update_and_record',
        'action_event_finish']


@pytest.mark.parametrize('error, expected', [
    (None, ['instance_update_and_record']),
    # Nothing written: the separate calls, as before.
    (MISS, ['instance_update_and_record', 'instance_fault_create',
            'instance_update']),
    # Not known: never a second fault.
    (messaging.MessagingTimeout(), ['instance_update_and_record']),
])
def test_fail_paths(monkeypatch, error, expected):
    shim = FakeShim(fail={'instance_update_and_record': [error],
                          'instance_update': [MISS]})
    monkeypatch.setattr(compute_actions, 'db', shim)
    compute_actions.fail(np_context.get_compute_context('c1'), UUID,
                         RuntimeError('boom'), 'c1', {'task_state': None})
    assert [m[0] for m in shim.made] == expected


def test_under_a_10_cap_only_the_separate_calls(monkeypatch):
    shim = FakeShim(combine=False)
    _record(shim, monkeypatch)
    monkeypatch.setattr(compute_actions, 'db', shim)
    compute_actions.fail(np_context.get_compute_context('c1'), UUID,
                         RuntimeError('boom'), 'c1', {'task_state': None})
    assert [m[0] for m in shim.made] == [
        'action_event_start', 'instance_update', 'instance_update',
        'action_event_finish', 'instance_fault_create', 'instance_update']
