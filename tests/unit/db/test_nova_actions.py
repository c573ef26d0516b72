"""nova's action, event and fault calls of the DB API (wire 2.x), on
SQLite, PostgreSQL and MariaDB: the results and errors nova's own DB API
gives, and the host scope nova lacks."""

import datetime

import pytest

from nova_proxy.common import context as np_context
from nova_proxy.db import api
from nova_proxy import exception
from tests.unit.db import factories

MISSING = factories.MISSING
T0 = datetime.datetime(2030, 1, 2, 3, 4, 5)


def _time(minutes):
    return (T0 + datetime.timedelta(minutes=minutes)).isoformat()


def _project():
    return np_context.RequestContext(user_id='u1', project_id='p1',
                                     is_admin=True)


def _start(ctx, uuid, request_id, action='reboot', minute=0):
    # What nova's InstanceAction.pack_action_start sends.
    return api.action_start(ctx, {
        'request_id': request_id, 'instance_uuid': uuid, 'user_id': 'u1',
        'project_id': 'p1', 'action': action, 'start_time': _time(minute),
        'updated_at': _time(minute)})


def test_action_start_and_finish_take_what_nova_objects_send(db_all):
    ctx = _project()
    inst = factories.instance(ctx, 'h1')
    action = _start(ctx, inst['uuid'], 'req-1')
    assert (action['action'], action['user_id'], action['finish_time'],
            action['deleted']) == ('reboot', 'u1', None, 0)
    assert action['updated_at'].startswith(_time(0))
    finished = api.action_finish(ctx, {
        'request_id': 'req-1', 'instance_uuid': inst['uuid'],
        'finish_time': _time(5), 'updated_at': _time(5)})
    assert finished['id'] == action['id']
    assert finished['finish_time'].startswith(_time(5))
    assert api.action_get_by_request_id(ctx, inst['uuid'], 'req-1') == \
        finished
    assert api.action_get_by_request_id(ctx, inst['uuid'], 'nope') is None
    with pytest.raises(exception.InstanceActionNotFound) as e:
        api.action_finish(ctx, {'request_id': 'nope',
                                'instance_uuid': inst['uuid']})
    assert e.value.kwargs == {'request_id': 'nope',
                              'instance_uuid': inst['uuid']}
    with pytest.raises(exception.InvalidUpdate) as e:
        api.action_start(ctx, {'instance_uuid': inst['uuid'], 'id': 7})
    assert e.value.kwargs['field'] == 'id'
    with pytest.raises(exception.InstanceNotFound):
        api.action_start(ctx, {'instance_uuid': MISSING, 'action': 'a'})


def test_actions_get_pages_and_filters_as_nova(db_all):
    ctx = _project()
    inst = factories.instance(ctx, 'h1')
    made = [_start(ctx, inst['uuid'], 'req-%d' % i, minute=i)
            for i in range(4)]
    ids = [a['id'] for a in reversed(made)]
    assert [a['id'] for a in api.actions_get(ctx, inst['uuid'])] == ids
    assert 'events' not in api.actions_get(ctx, inst['uuid'])[0]
    assert api.actions_get(ctx, inst['uuid'], limit=0) == []
    assert [a['id'] for a in api.actions_get(
        ctx, inst['uuid'], limit=2)] == ids[:2]
    assert [a['id'] for a in api.actions_get(
        ctx, inst['uuid'], marker='req-2')] == ids[2:]
    assert [a['id'] for a in api.actions_get(
        ctx, inst['uuid'], limit=1, marker='req-3')] == ids[1:2]
    with pytest.raises(exception.MarkerNotFound) as e:
        api.actions_get(ctx, inst['uuid'], marker='req-9')
    assert e.value.kwargs == {'marker': 'req-9'}
    assert [a['id'] for a in api.actions_get(
        ctx, inst['uuid'], filters={'changes-since': _time(2)})] == ids[:2]
    assert [a['id'] for a in api.actions_get(ctx, inst['uuid'], filters={
        'changes-since': _time(1), 'changes-before': _time(2)})] == \
        ids[1:3]


def test_events_as_nova(db_all):
    ctx = _project()
    inst = factories.instance(ctx, 'h1')
    action = _start(ctx, inst['uuid'], 'req-1')
    base = {'instance_uuid': inst['uuid'], 'request_id': 'req-1'}
    started = api.action_event_start(ctx, dict(
        base, event='compute_reboot', start_time=_time(1), host='h1'))
    assert (started['action_id'], started['host'], started['result']) == (
        action['id'], 'h1', None)
    # The action's updated_at follows its events, as in nova.
    assert api.action_get_by_request_id(
        ctx, inst['uuid'], 'req-1')['updated_at'].startswith(_time(1))
    other = api.action_event_start(ctx, dict(base, event='compute_other'))
    failed = api.action_event_finish(ctx, dict(
        base, event='compute_reboot', finish_time=_time(2), result='Error',
        traceback='Traceback: boom', details='it broke'))
    assert (failed['id'], failed['result'], failed['details']) == (
        started['id'], 'Error', 'it broke')
    now = api.action_get_by_request_id(ctx, inst['uuid'], 'req-1')
    assert now['message'] == 'Error'
    assert now['updated_at'].startswith(_time(2))
    assert api.action_event_get_by_id(ctx, action['id'],
                                      started['id']) == failed
    assert api.action_event_get_by_id(ctx, action['id'], 999999) is None
    # Newest first, by created_at then id.
    assert [e['id'] for e in api.action_events_get(ctx, action['id'])] == [
        other['id'], started['id']]
    with pytest.raises(exception.InstanceActionEventNotFound) as e:
        api.action_event_finish(ctx, dict(base, event='never',
                                          result='Success'))
    assert e.value.kwargs == {'action_id': action['id'], 'event': 'never'}
    with pytest.raises(exception.InstanceActionNotFound) as e:
        api.action_event_start(ctx, dict(base, request_id='req-x',
                                         event='e'))
    assert e.value.kwargs == {'request_id': 'req-x',
                              'instance_uuid': inst['uuid']}


def test_a_context_without_project_falls_back_to_the_last_action(
        db_all, admin_context):
    # nova-compute's init_host finishes what a request before its restart
    # began: its new context has another request id and no project.
    inst = factories.instance(admin_context, 'h1')
    _start(admin_context, inst['uuid'], 'req-old', minute=0)
    last = _start(admin_context, inst['uuid'], 'req-last', minute=1)
    values = {'instance_uuid': inst['uuid'], 'request_id': 'req-new',
              'event': 'compute_power_off', 'start_time': _time(9)}
    event = api.action_event_start(admin_context, values)
    assert event['action_id'] == last['id']
    # ... and leaves that action's updated_at alone.
    assert api.action_get_by_request_id(
        admin_context, inst['uuid'], 'req-last')['updated_at'] == \
        last['updated_at']
    done = api.action_event_finish(admin_context, dict(values,
                                                       result='Success'))
    assert done['id'] == event['id']
    # Not for a context with a project, nor for the 1.x callers.
    with pytest.raises(exception.InstanceActionNotFound):
        api.action_event_start(_project(), dict(values, event='other'))
    with pytest.raises(exception.InstanceActionNotFound):
        api.action_event_start(admin_context, dict(values, event='other'),
                               last_action_fallback=False)


def test_faults_as_nova(db_all, admin_context):
    inst = factories.instance(admin_context, 'h1')
    other = factories.instance(admin_context, 'h1')
    first = api.instance_fault_create(admin_context, {
        'instance_uuid': inst['uuid'], 'code': 500, 'message': 'm1',
        'details': 'd1', 'host': 'h1'})
    assert (first['code'], first['host'], first['deleted']) == (500, 'h1', 0)
    second = api.instance_fault_create(admin_context, {
        'instance_uuid': inst['uuid'], 'code': 404, 'message': 'm2',
        'details': None, 'host': 'h1'})
    third = api.instance_fault_create(admin_context, {
        'instance_uuid': other['uuid'], 'code': 409, 'message': 'm3',
        'details': None, 'host': 'h1'})
    got = api.instance_fault_get_by_instance_uuids(
        admin_context, [inst['uuid'], other['uuid'], MISSING])
    assert {u: [f['id'] for f in fs] for u, fs in got.items()} == {
        inst['uuid']: [second['id'], first['id']],
        other['uuid']: [third['id']], MISSING: []}
    latest = api.instance_fault_get_by_instance_uuids(
        admin_context, [inst['uuid'], other['uuid'], MISSING], latest=True)
    assert latest == {inst['uuid']: [second], other['uuid']: [third],
                      MISSING: []}
    assert api.instance_fault_get_by_instance_uuids(admin_context, []) == {}


def test_scope_of_actions_events_and_faults(db_all, admin_context):
    ctx = _project()
    mine, theirs = factories.instance(ctx, 'h1'), factories.instance(ctx, 'h2')
    action = _start(ctx, theirs['uuid'], 'req-1')
    base = {'instance_uuid': theirs['uuid'], 'request_id': 'req-1'}
    event = api.action_event_start(ctx, dict(base, event='e'))
    refused = [
        lambda: api.action_start(ctx, dict(base, action='a'),
                                 scope_host='h1'),
        lambda: api.action_finish(ctx, base, scope_host='h1'),
        lambda: api.action_get_by_request_id(ctx, theirs['uuid'], 'req-1',
                                             scope_host='h1'),
        lambda: api.actions_get(ctx, theirs['uuid'], scope_host='h1'),
        lambda: api.action_event_start(ctx, dict(base, event='f'),
                                       scope_host='h1'),
        lambda: api.action_event_finish(ctx, dict(base, event='e'),
                                        scope_host='h1'),
        lambda: api.action_events_get(ctx, action['id'], scope_host='h1'),
        lambda: api.action_event_get_by_id(ctx, action['id'], event['id'],
                                           scope_host='h1'),
        lambda: api.instance_fault_create(
            ctx, {'instance_uuid': theirs['uuid']}, scope_host='h1'),
        lambda: api.instance_fault_get_by_instance_uuids(
            ctx, [mine['uuid'], theirs['uuid']], scope_host='h1'),
    ]
    for call in refused:
        with pytest.raises(exception.HostScopeViolation):
            call()
    assert api.action_events_get(ctx, action['id']) == [event]
    assert api.instance_fault_get_by_instance_uuids(
        ctx, [theirs['uuid']])[theirs['uuid']] == []
    # The host's own instance, also after it destroyed it: nova-compute
    # records the end of the delete and reads its faults then.
    _start(ctx, mine['uuid'], 'req-2')
    api.instance_destroy(admin_context, mine['uuid'])
    api.action_event_start(ctx, {'instance_uuid': mine['uuid'],
                                 'request_id': 'req-2', 'event': 'delete'},
                           scope_host='h1')
    fault = api.instance_fault_create(
        ctx, {'instance_uuid': mine['uuid']}, scope_host='h1')
    assert api.instance_fault_get_by_instance_uuids(
        ctx, [mine['uuid']], scope_host='h1')[mine['uuid']] == [fault]
    assert [a['request_id'] for a in api.actions_get(
        ctx, mine['uuid'], scope_host='h1')] == ['req-2']
