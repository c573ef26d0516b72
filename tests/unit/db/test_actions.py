"""Instance actions, their events and instance faults in the DB API
(``db/api/actions.py``), on SQLite, PostgreSQL and MariaDB."""

import pytest

from nova_proxy.common import context as np_context
from nova_proxy.db import api
from nova_proxy.db.api import actions
from nova_proxy import exception
from tests.unit.db import factories


def test_faults(db_all, admin_context):
    inst = factories.instance(admin_context, host='src')
    first = api.instance_fault_create(admin_context, {
        'instance_uuid': inst['uuid'], 'message': 'x' * 1000,
        'details': 'Traceback ...\n' * 200, 'host': 'src'})
    assert first['code'] == 500
    assert first['message'] == 'x' * 255   # cut as nova cuts it
    assert first['details'].startswith('Traceback')
    second = api.instance_fault_create(admin_context, {
        'instance_uuid': inst['uuid'], 'code': 404, 'message': 'gone'})
    got = api.instance_fault_get_by_instance_uuids(
        admin_context, [inst['uuid'], factories.MISSING])
    assert [f['id'] for f in got[inst['uuid']]] == [second['id'],
                                                    first['id']]
    assert got[factories.MISSING] == []
    with pytest.raises(exception.InstanceNotFound):
        api.instance_fault_create(
            admin_context, {'instance_uuid': factories.MISSING})
    with pytest.raises(exception.InvalidUpdate) as e:
        api.instance_fault_create(admin_context, {'message': 'no uuid'})
    assert e.value.kwargs['field'] == 'instance_uuid'
    with pytest.raises(exception.InvalidUpdate) as e:
        api.instance_fault_create(admin_context, {
            'instance_uuid': inst['uuid'], 'id': 1})
    assert e.value.kwargs['field'] == 'id'


def test_actions_and_events(db_all):
    ctx = np_context.RequestContext(user_id='u1', project_id='p1')
    inst = factories.instance(ctx, host='src')
    base = {'instance_uuid': inst['uuid'], 'request_id': 'req-1'}
    action = api.instance_action_start(ctx, dict(base, action='reboot'))
    assert (action['action'], action['user_id'], action['project_id']) == (
        'reboot', 'u1', 'p1')
    factories.iso(action['start_time'])
    assert action['finish_time'] is None
    event = api.action_event_start(ctx, dict(base, event='compute_reboot',
                                             host='src'))
    assert event['action_id'] == action['id']
    assert (event['event'], event['host'], event['finish_time']) == (
        'compute_reboot', 'src', None)
    done = api.action_event_finish(ctx, dict(base, event='compute_reboot',
                                             result='Success'))
    assert done['id'] == event['id'] and done['result'] == 'Success'
    factories.iso(done['finish_time'])
    finished = api.instance_action_finish(ctx, dict(base))
    factories.iso(finished['finish_time'])
    assert finished['message'] is None
    actions = api.actions_get(ctx, inst['uuid'])
    assert [a['id'] for a in actions] == [action['id']]
    assert [e['event'] for e in actions[0]['events']] == ['compute_reboot']


def test_event_error_marks_action_and_restart(db_all, admin_context):
    inst = factories.instance(admin_context, host='src')
    base = {'instance_uuid': inst['uuid'], 'request_id': 'req-2'}
    api.instance_action_start(admin_context, dict(base, action='create'))
    first = api.action_event_start(admin_context, dict(base, event='build'))
    failed = api.action_event_finish(admin_context, dict(
        base, event='build', result='Error', traceback='Traceback: boom'))
    assert failed['result'] == 'Error'
    assert api.actions_get(admin_context,
                           inst['uuid'])[0]['message'] == 'Error'
    # A retried step starts the same event again: one event, restarted.
    again = api.action_event_start(admin_context, dict(base, event='build'))
    assert again['id'] == first['id']
    assert (again['finish_time'], again['result'], again['traceback']) == (
        None, None, None)
    assert len(api.actions_get(admin_context,
                               inst['uuid'])[0]['events']) == 1
    # Finishing an event that was never started records it finished.
    extra = api.action_event_finish(admin_context, dict(
        base, event='cleanup', result='Success'))
    assert extra['finish_time'] is not None


def test_event_finish_time(db_all, admin_context):
    inst = factories.instance(admin_context, host='src')
    base = {'instance_uuid': inst['uuid'], 'request_id': 'req-5',
            'event': 'e'}
    api.instance_action_start(admin_context, {
        'instance_uuid': inst['uuid'], 'request_id': 'req-5',
        'action': 'a'})
    api.action_event_start(admin_context, base)
    done = api.action_event_finish(admin_context, dict(base,
                                                       result='Success'))
    # Finished again: the first finish time stays.
    again = api.action_event_finish(admin_context, dict(base,
                                                        details='more'))
    assert again['finish_time'] == done['finish_time']
    assert (again['result'], again['details']) == ('Success', 'more')
    # A finish time given is the finish time.
    given = api.action_event_finish(admin_context, dict(
        base, finish_time='2030-01-02T03:04:05+00:00'))
    assert given['finish_time'].startswith('2030-01-02T03:04:05')
    assert api.actions_get(admin_context,
                           inst['uuid'])[0]['events'] == [given]


def test_event_started_concurrently_is_a_conflict(db_all, admin_context,
                                                  monkeypatch):
    """Two calls that both found no event both insert it: the second
    breaks the unique constraint and gets Conflict, nothing is written."""
    inst = factories.instance(admin_context, host='src')
    base = {'instance_uuid': inst['uuid'], 'request_id': 'req-4'}
    api.instance_action_start(admin_context, dict(base, action='create'))
    first = api.action_event_start(admin_context, dict(base, event='build'))
    found = actions._event_lookup

    def not_yet_seen(connection, values, scope_host):
        # What a call that looked before the first one committed saw.
        return found(connection, values, scope_host)[:3] + (None,)

    monkeypatch.setattr(actions, '_event_lookup', not_yet_seen)
    with pytest.raises(exception.Conflict) as e:
        api.action_event_start(admin_context, dict(base, event='build',
                                                   host='other'))
    assert 'build' in str(e.value) and 'req-4' in str(e.value)
    monkeypatch.undo()
    events = api.actions_get(admin_context, inst['uuid'])[0]['events']
    assert events == [first]


def test_action_errors(db_all, admin_context):
    inst = factories.instance(admin_context, host='src')
    base = {'instance_uuid': inst['uuid'], 'request_id': 'req-3'}
    for call, values in ((api.instance_action_finish, base),
                         (api.action_event_start, dict(base, event='x')),
                         (api.action_event_finish, dict(base, event='x'))):
        with pytest.raises(exception.InstanceActionNotFound) as e:
            call(admin_context, values)
        assert e.value.kwargs['request_id'] == 'req-3'
    for field in ('action', 'request_id', 'instance_uuid'):
        values = dict(base, action='create')
        del values[field]
        with pytest.raises(exception.InvalidUpdate) as e:
            api.instance_action_start(admin_context, values)
        assert e.value.kwargs['field'] == field
    with pytest.raises(exception.InstanceNotFound):
        api.instance_action_start(admin_context, {
            'instance_uuid': factories.MISSING, 'request_id': 'r',
            'action': 'a'})
    with pytest.raises(exception.InvalidUUID):
        api.instance_action_start(admin_context, {
            'instance_uuid': 'bad', 'request_id': 'r', 'action': 'a'})
    with pytest.raises(exception.InvalidUpdate) as e:
        api.instance_action_start(admin_context, dict(
            base, action='a', start_time='not a time'))
    assert e.value.kwargs['field'] == 'start_time'
    assert api.actions_get(admin_context, inst['uuid']) == []
