"""nova's action, event and fault calls (wire 2.x) behind a real RPC
server on the fake driver: every method, served beside the 1.x methods of
the same names, and confined to the instance's host."""

import pytest

from nova_proxy.common import context as np_context
from nova_proxy import exception
from nova_proxy.proxy import rpcapi

ADMIN = np_context.get_admin_context()
T = '2030-01-02T03:04:05+00:00'


def _instance(host):
    return rpcapi.ProxyAPI(timeout=10).instance_create(
        ADMIN, {'host': host, 'node': host + '-n'})


def _records(nova, host, request_id='req-1'):
    """An instance on ``host`` with an action, an event and a fault."""
    inst = _instance(host)
    base = {'instance_uuid': inst['uuid'], 'request_id': request_id}
    action = nova.call(ADMIN, 'action_start', values=dict(
        base, action='reboot', user_id='u', project_id='p', start_time=T,
        updated_at=T))
    event = nova.call(ADMIN, 'action_event_start', values=dict(
        base, event='compute_reboot', start_time=T, host=host))
    fault = nova.call(ADMIN, 'instance_fault_create', values={
        'instance_uuid': inst['uuid'], 'code': 500, 'message': 'm',
        'details': 'd', 'host': host})
    return inst, action, event, fault


def test_every_call_by_its_own_host(nova):
    inst, action, event, fault = _records(nova, 'h1')
    ctx = np_context.get_compute_context('h1')
    base = {'instance_uuid': inst['uuid'], 'request_id': 'req-1'}
    assert nova.call(ctx, 'action_get_by_request_id',
                     instance_uuid=inst['uuid'],
                     request_id='req-1') == action
    assert nova.call(ctx, 'actions_get', instance_uuid=inst['uuid'],
                     limit=5, marker=None,
                     filters={'changes-since': T}) == [action]
    assert nova.call(ctx, 'action_events_get',
                     action_id=action['id']) == [event]
    assert nova.call(ctx, 'action_event_get_by_id', action_id=action['id'],
                     event_id=event['id']) == event
    done = nova.call(ctx, 'action_event_finish', values=dict(
        base, event='compute_reboot', result='Error', traceback='tb',
        details='boom'))
    assert (done['result'], done['details']) == ('Error', 'boom')
    finished = nova.call(ctx, 'action_finish', values=dict(
        base, finish_time=T, updated_at=T))
    assert finished['message'] == 'Error'
    assert nova.call(ctx, 'instance_fault_get_by_instance_uuids',
                     instance_uuids=[inst['uuid']], latest=True) == {
        inst['uuid']: [fault]}
    other = nova.call(ctx, 'action_start', values=dict(
        base, request_id='req-2', action='stop'))
    assert other['instance_uuid'] == inst['uuid']
    assert nova.call(ctx, 'instance_fault_create', values={
        'instance_uuid': inst['uuid'], 'code': 409})['code'] == 409
    with pytest.raises(exception.InstanceActionEventNotFound):
        nova.call(ctx, 'action_event_finish', values=dict(
            base, event='never', result='Success'))
    with pytest.raises(exception.MarkerNotFound):
        nova.call(ctx, 'actions_get', instance_uuid=inst['uuid'],
                  marker='req-9')


def test_1x_methods_of_nova_s_names_are_nova_s(nova):
    inst, action, event, _ = _records(nova, 'h1')
    old = rpcapi.ProxyAPI(timeout=10)
    base = {'instance_uuid': inst['uuid'], 'request_id': 'req-1'}
    # 1.x instance_action_start fills what nova's objects send.
    started = old.instance_action_start(ADMIN, dict(
        base, request_id='req-1x', action='stop'))
    assert started['start_time'] and started['user_id'] is None
    # 1.x action_event_finish of an event never started: nova's error.
    with pytest.raises(exception.InstanceActionEventNotFound):
        old.action_event_finish(ADMIN, dict(base, event='never',
                                            result='Success'))
    # 1.x has no fallback to the last action: its caller starts one.
    with pytest.raises(exception.InstanceActionNotFound):
        old.action_event_start(ADMIN, dict(base, request_id='req-none',
                                           event='e'))


def _action_values(inst, action, event):
    return {'instance_uuid': inst['uuid'], 'request_id': 'req-1'}


REFUSED = [
    ('action_start', lambda inst, action, event: {'values': dict(
        _action_values(inst, action, event), action='stop')}),
    ('action_finish', lambda inst, action, event: {
        'values': _action_values(inst, action, event)}),
    ('action_get_by_request_id', lambda inst, action, event: {
        'instance_uuid': inst['uuid'], 'request_id': 'req-1'}),
    ('actions_get', lambda inst, action, event: {
        'instance_uuid': inst['uuid']}),
    ('action_event_start', lambda inst, action, event: {'values': dict(
        _action_values(inst, action, event), event='other')}),
    ('action_event_finish', lambda inst, action, event: {'values': dict(
        _action_values(inst, action, event), event='compute_reboot',
        result='Error')}),
    ('action_events_get', lambda inst, action, event: {
        'action_id': action['id']}),
    ('action_event_get_by_id', lambda inst, action, event: {
        'action_id': action['id'], 'event_id': event['id']}),
    ('instance_fault_create', lambda inst, action, event: {'values': {
        'instance_uuid': inst['uuid'], 'code': 500}}),
    ('instance_fault_get_by_instance_uuids', lambda inst, action, event: {
        'instance_uuids': [inst['uuid']]}),
]

_NAMES = ('action_', 'actions_', 'instance_fault_')


def test_every_action_call_is_in_the_refused_list():
    assert {name for name, _ in REFUSED} == {
        n for n in rpcapi.NOVA_METHODS if n.startswith(_NAMES)}


@pytest.mark.parametrize('method, kwargs', REFUSED,
                         ids=[name for name, _ in REFUSED])
def test_refused_for_another_host(nova, method, kwargs):
    inst, action, event, fault = _records(nova, 'h2')
    with pytest.raises(exception.Forbidden):
        nova.call(np_context.get_compute_context('h1'), method,
                  **kwargs(inst, action, event))
    # Nothing was written on the way.
    assert nova.call(ADMIN, 'actions_get',
                     instance_uuid=inst['uuid']) == [action]
    assert nova.call(ADMIN, 'action_events_get',
                     action_id=action['id']) == [event]
    assert nova.call(ADMIN, 'instance_fault_get_by_instance_uuids',
                     instance_uuids=[inst['uuid']]) == {
        inst['uuid']: [fault]}
