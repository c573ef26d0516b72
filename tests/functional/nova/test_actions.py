"""nova's InstanceAction, InstanceActionEvent and InstanceFault objects
(and their lists) on live proxies: what nova-compute records around each
operation (an action per request, an event per step with its result, a
fault when a step fails), read back as nova reads them, and what host
scope refuses it (the records of another host's instance).

Scenarios run in the nova object process (see conftest.py).
"""

from nova_proxy.common import context as np_context
from nova_proxy.proxy import rpcapi
from tests.functional import nova as nova_tests
from tests.functional.nova import conftest


def record_and_read(ctx, host, uuid, other_uuid, other_action_id,
                    other_event_id):
    import sys

    from nova import context as nova_context
    from nova import exception
    from nova import objects

    facts = {}
    action = objects.InstanceAction.action_start(ctx, uuid, 'reboot')
    facts['action'] = [action.action, action.instance_uuid,
                       action.request_id == ctx.request_id,
                       action.user_id, action.start_time is not None,
                       action.finish_time, action.message]
    facts['by_request'] = objects.InstanceAction.get_by_request_id(
        ctx, uuid, ctx.request_id).id == action.id

    # A step that fails, as nova-compute's wrap_instance_event records it.
    started = objects.InstanceActionEvent.event_start(
        ctx, uuid, 'compute_reboot_instance', host=host)
    facts['event'] = [started.action_id == action.id, started.host,
                      started.result, started.finish_time]
    try:
        raise exception.InstanceNotReady(instance_id=uuid)
    except exception.InstanceNotReady as e:
        failed = objects.InstanceActionEvent.event_finish_with_failure(
            ctx, uuid, 'compute_reboot_instance', exc_val=e,
            exc_tb=sys.exc_info()[2], want_result=True)
    facts['failed'] = [failed.id == started.id, failed.result,
                       'InstanceNotReady' in failed.details or
                       uuid in failed.details,
                       'Traceback' in failed.traceback or
                       'raise' in failed.traceback,
                       failed.finish_time is not None]
    # A step that succeeds.
    objects.InstanceActionEvent.event_start(ctx, uuid, 'compute_power_on')
    ok = objects.InstanceActionEvent.event_finish(ctx, uuid,
                                                  'compute_power_on')
    facts['ok'] = [ok.result, ok.traceback]
    events = objects.InstanceActionEventList.get_by_action(ctx, action.id)
    facts['events'] = [[e.event, e.result] for e in events]
    facts['event_by_id'] = objects.InstanceActionEvent.get_by_id(
        ctx, action.id, started.id).result
    # nova marks the action of a failed event.
    facts['message'] = objects.InstanceAction.get_by_request_id(
        ctx, uuid, ctx.request_id).message
    finished = objects.InstanceAction.action_finish(ctx, uuid)
    facts['finished'] = [finished.id == action.id,
                         finished.finish_time is not None]

    # A later request; the list is newest first and pages by request id.
    later = nova_context.get_admin_context()
    second = objects.InstanceAction.action_start(later, uuid, 'stop')
    listed = objects.InstanceActionList.get_by_instance_uuid(ctx, uuid)
    facts['list'] = [a.id for a in listed] == [second.id, action.id]
    facts['paged'] = [
        [a.id == second.id for a in objects.InstanceActionList.
         get_by_instance_uuid(ctx, uuid, limit=1)],
        [a.id == action.id for a in objects.InstanceActionList.
         get_by_instance_uuid(ctx, uuid, marker=later.request_id)]]

    # Faults, newest first; the latest alone.
    for code, message in ((500, 'first'), (409, 'second')):
        objects.InstanceFault(ctx, instance_uuid=uuid, code=code,
                              message=message, details='d',
                              host=host).create()
    facts['latest_fault'] = objects.InstanceFault.get_latest_for_instance(
        ctx, uuid).message
    facts['faults'] = [f.message for f in objects.InstanceFaultList.
                       get_by_instance_uuids(ctx, [uuid])]
    facts['latest_faults'] = [f.message for f in objects.InstanceFaultList.
                              get_latest_by_instance_uuids(ctx, [uuid])]

    # nova's errors, as nova's classes.
    errors = []
    try:
        objects.InstanceActionEvent.event_finish(ctx, uuid, 'never_started')
    except exception.InstanceActionEventNotFound as e:
        errors.append(['InstanceActionEventNotFound', e.kwargs['event']])
    try:
        objects.InstanceAction.action_finish(
            nova_context.RequestContext(user_id='u', project_id='p'), uuid)
    except exception.InstanceActionNotFound as e:
        errors.append(['InstanceActionNotFound',
                       e.kwargs['instance_uuid'] == uuid])
    facts['errors'] = errors
    facts['no_action'] = objects.InstanceAction.get_by_request_id(
        ctx, uuid, 'req-none')

    # Another host's instance: nothing of it, read or written.
    attempts = {
        'action start': lambda: objects.InstanceAction.action_start(
            ctx, other_uuid, 'reboot'),
        'action finish': lambda: objects.InstanceAction.action_finish(
            ctx, other_uuid),
        'get by request id': lambda: objects.InstanceAction.
        get_by_request_id(ctx, other_uuid, 'req-other'),
        'list': lambda: objects.InstanceActionList.get_by_instance_uuid(
            ctx, other_uuid),
        'event start': lambda: objects.InstanceActionEvent.event_start(
            ctx, other_uuid, 'compute_x'),
        'event finish': lambda: objects.InstanceActionEvent.event_finish(
            ctx, other_uuid, 'compute_x'),
        'event by id': lambda: objects.InstanceActionEvent.get_by_id(
            ctx, other_action_id, other_event_id),
        'events': lambda: objects.InstanceActionEventList.get_by_action(
            ctx, other_action_id),
        'fault create': lambda: objects.InstanceFault(
            ctx, instance_uuid=other_uuid, code=500, message='m',
            details='d', host=host).create(),
        'latest fault': lambda: objects.InstanceFault.
        get_latest_for_instance(ctx, other_uuid),
        'faults': lambda: objects.InstanceFaultList.get_by_instance_uuids(
            ctx, [uuid, other_uuid]),
    }
    refused = nova_tests.refusals(attempts)
    facts['refused'] = refused
    return facts


def test_nova_compute_records_actions_events_and_faults(nova):
    admin = np_context.get_admin_context()
    old = rpcapi.ProxyAPI(timeout=30)
    uuid = old.instance_create(admin, {'host': conftest.HOST,
                                       'node': 'n1'})['uuid']
    other = old.instance_create(admin, {'host': conftest.OTHER_HOST,
                                        'node': 'n2'})['uuid']
    base = {'instance_uuid': other, 'request_id': 'req-other'}
    other_action = nova.control_plane('action_start', values=dict(
        base, action='reboot'))
    other_event = nova.control_plane('action_event_start', values=dict(
        base, event='compute_x'))
    # As its event left it (nova's updated_at follows the events).
    other_action = nova.control_plane(
        'action_get_by_request_id', instance_uuid=other,
        request_id='req-other')

    facts = nova.run(record_and_read, uuid=uuid, other_uuid=other,
                     other_action_id=other_action['id'],
                     other_event_id=other_event['id'])
    assert facts['action'] == ['reboot', uuid, True, None, True, None,
                               None]
    assert facts['by_request'] is True
    assert facts['event'] == [True, conftest.HOST, None, None]
    assert facts['failed'] == [True, 'Error', True, True, True]
    assert facts['ok'] == ['Success', None]
    assert sorted(facts['events']) == [
        ['compute_power_on', 'Success'],
        ['compute_reboot_instance', 'Error']]
    assert facts['event_by_id'] == 'Error'
    assert facts['message'] == 'Error'
    assert facts['finished'] == [True, True]
    assert facts['list'] is True
    assert facts['paged'] == [[True], [True]]
    assert facts['latest_fault'] == 'second'
    assert facts['faults'] == ['second', 'first']
    assert facts['latest_faults'] == ['second']
    assert facts['errors'] == [
        ['InstanceActionEventNotFound', 'never_started'],
        ['InstanceActionNotFound', True]]
    assert facts['no_action'] is None
    assert facts['refused'] == dict.fromkeys([
        'action start', 'action finish', 'get by request id', 'list',
        'event start', 'event finish', 'event by id', 'events',
        'fault create', 'latest fault', 'faults'], 'HostScopeViolation')
    # The other host's records are as they were.
    assert nova.control_plane('actions_get', instance_uuid=other) == [
        other_action]
    assert nova.control_plane('action_events_get',
                              action_id=other_action['id']) == [other_event]
    assert nova.control_plane('instance_fault_get_by_instance_uuids',
                              instance_uuids=[other]) == {other: []}
