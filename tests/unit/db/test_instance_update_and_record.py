"""``instance_update_and_record``: a compare-and-swap with its action
event and fault in one transaction, on SQLite, PostgreSQL and MariaDB.

Each test compares it with the separate calls it replaces: what it writes
when it succeeds, and that it writes nothing and raises the same error when
any part fails.
"""

import pytest

from nova_proxy.db import api
from nova_proxy import exception
from tests.unit.db import factories

REQUEST = 'req-update-and-record'


def _instance(ctx, host='h1', **values):
    """A building instance with its create action started."""
    values = dict({'vm_state': 'building', 'task_state': 'scheduling'},
                  **values)
    inst = factories.instance(ctx, host=host, node=host, **values)
    api.instance_action_start(ctx, {
        'instance_uuid': inst['uuid'], 'action': 'create',
        'request_id': REQUEST})
    return inst


def _event(inst, **values):
    return dict({'instance_uuid': inst['uuid'], 'request_id': REQUEST,
                 'event': 'compute_build'}, **values)


def _fault(inst):
    return {'instance_uuid': inst['uuid'], 'code': 500,
            'message': 'Boom: it broke', 'details': 'tb', 'host': 'h1'}


def _records(ctx, inst):
    """Everything the call may write besides the instance row."""
    [action] = api.actions_get_with_events(ctx, inst['uuid'])
    faults = api.instance_fault_get_by_instance_uuids(
        ctx, [inst['uuid']])[inst['uuid']]
    return action, faults


def test_success_writes_every_part(db_all, admin_context):
    ctx = admin_context
    inst = _instance(ctx)
    updated = api.instance_update_and_record(
        ctx, inst['uuid'],
        {'task_state': 'spawning', 'expected_task_state': 'scheduling'},
        event_start=_event(inst, host='h1'), fault=_fault(inst),
        scope_host='h1')
    # The result is instance_update's: the instance as updated.
    assert updated == api.instance_get_by_uuid(
        ctx, inst['uuid'], columns_to_join=['metadata', 'system_metadata'])
    assert updated['task_state'] == 'spawning'
    action, faults = _records(ctx, inst)
    [event] = action['events']
    assert (event['event'], event['host'], event['finish_time']) == (
        'compute_build', 'h1', None)
    assert [(f['code'], f['message']) for f in faults] == [
        (500, 'Boom: it broke')]

    finished = api.instance_update_and_record(
        ctx, inst['uuid'],
        {'vm_state': 'active', 'task_state': None,
         'expected_task_state': 'spawning'},
        event_finish=_event(inst, result='Error', traceback='tb'),
        scope_host='h1')
    assert (finished['vm_state'], finished['task_state']) == ('active', None)
    action, _ = _records(ctx, inst)
    [event] = action['events']
    assert event['result'] == 'Error' and event['finish_time'] is not None
    # As action_event_finish does: an Error result marks the action.
    assert action['message'] == 'Error'


def test_without_parts_it_is_instance_update(db_all, admin_context):
    inst = _instance(admin_context)
    updated = api.instance_update_and_record(
        admin_context, inst['uuid'], {'progress': 7})
    assert updated['progress'] == 7
    action, faults = _records(admin_context, inst)
    assert action['events'] == [] and faults == []


def _same_error(ctx, inst, values, scope_host=None):
    """The error instance_update raises for ``values``."""
    with pytest.raises(exception.NovaProxyException) as separate:
        api.instance_update(ctx, inst['uuid'], values, scope_host=scope_host)
    return type(separate.value), separate.value.kwargs


@pytest.mark.parametrize('values', [
    {'task_state': 'spawning', 'expected_task_state': 'networking'},
    {'task_state': 'spawning', 'expected_vm_state': 'active'},
    {'task_state': 'spawning', 'expected_task_state': 'deleting'},
    {'no_such_field': 1},
])
def test_cas_miss_writes_nothing_and_raises_the_same_error(
        db_all, admin_context, values):
    ctx = admin_context
    inst = _instance(ctx)
    api.action_event_start(ctx, _event(inst, event='earlier'))
    expected = _same_error(ctx, inst, values)
    with pytest.raises(expected[0]) as e:
        api.instance_update_and_record(
            ctx, inst['uuid'], values,
            event_start=_event(inst), fault=_fault(inst),
            event_finish=_event(inst, event='earlier', result='Success'))
    assert e.value.kwargs == expected[1]
    action, faults = _records(ctx, inst)
    # The event started before the CAS (and so its transaction's first
    # write), the fault and the finish were all rolled back.
    assert [(ev['event'], ev['finish_time']) for ev in action['events']] == [
        ('earlier', None)]
    assert faults == []
    row = api.instance_get_by_uuid(ctx, inst['uuid'])
    assert (row['task_state'], row['updated_at']) == (
        'scheduling', inst['updated_at'])


def test_missing_instance_raises_instance_not_found(db_all, admin_context):
    missing = '2c7c3c5e-0000-4000-8000-000000000000'
    with pytest.raises(exception.InstanceNotFound):
        api.instance_update_and_record(admin_context, missing,
                                       {'progress': 1})


def test_scope_violation_writes_nothing(db_all, admin_context):
    ctx = admin_context
    inst = _instance(ctx, host='h1')
    values = {'task_state': 'spawning', 'expected_task_state': 'scheduling'}
    # The update alone is refused to another host...
    expected = _same_error(ctx, inst, values, scope_host='h2')
    assert expected[0] is exception.HostScopeViolation
    # ...and so is every part: the first one refused raises.
    with pytest.raises(exception.HostScopeViolation):
        api.instance_update_and_record(
            ctx, inst['uuid'], values, event_start=_event(inst),
            fault=_fault(inst), scope_host='h2')
    with pytest.raises(exception.HostScopeViolation) as e:
        api.instance_update_and_record(
            ctx, inst['uuid'], values,
            event_finish=_event(inst, result='Success'), scope_host='h2')
    assert e.value.kwargs == expected[1]
    # A part about another host's instance is refused too, even when the
    # update of the caller's own instance would pass.
    other = _instance(ctx, host='h2')
    with pytest.raises(exception.HostScopeViolation):
        api.instance_update_and_record(
            ctx, inst['uuid'], values, fault=_fault(other), scope_host='h1')
    for instance in (inst, other):
        action, faults = _records(ctx, instance)
        assert action['events'] == [] and faults == []
        assert api.instance_get_by_uuid(ctx, instance['uuid'])[
            'task_state'] == 'scheduling'


def test_a_failing_part_rolls_back_the_update(db_all, admin_context):
    ctx = admin_context
    inst = _instance(ctx)
    values = {'task_state': 'spawning', 'expected_task_state': 'scheduling'}
    # No action for this request: the event finish after the update fails
    # as action_event_finish does, and the update is undone with it.
    with pytest.raises(exception.InstanceActionNotFound):
        api.instance_update_and_record(
            ctx, inst['uuid'], values,
            event_finish=_event(inst, request_id='req-unknown',
                                result='Success'))
    assert api.instance_get_by_uuid(ctx, inst['uuid'])['task_state'] == \
        'scheduling'
    with pytest.raises(exception.InvalidUpdate) as e:
        api.instance_update_and_record(ctx, inst['uuid'], values,
                                       fault=['not', 'a', 'dict'])
    assert e.value.kwargs['field'] == 'fault'
    action, faults = _records(ctx, inst)
    assert action['events'] == [] and faults == []
    assert api.instance_get_by_uuid(ctx, inst['uuid'])['task_state'] == \
        'scheduling'
