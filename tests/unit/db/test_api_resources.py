"""Migrations, services, compute nodes, faults, actions and events of the
DB API, on SQLite, PostgreSQL and MariaDB."""

import datetime

import pytest

from nova_proxy.common import context as np_context
from nova_proxy.db import api
from nova_proxy.db.api import _values
from nova_proxy.db.api import actions
from nova_proxy import exception

MISSING = '2c7c3c5e-0000-4000-8000-000000000000'


def _iso(value):
    parsed = datetime.datetime.fromisoformat(value)
    assert parsed.utcoffset() == datetime.timedelta(0), value
    return parsed


def _instance(ctx, host='src'):
    return api.instance_create(ctx, {'host': host, 'node': host + '-n'})


# -- migrations -----------------------------------------------------------

def _migration(ctx, instance_uuid, **values):
    values.setdefault('source_compute', 'src')
    values.setdefault('source_node', 'src-n')
    values.setdefault('dest_compute', 'dst')
    values.setdefault('dest_node', 'dst-n')
    values.setdefault('status', 'pre-migrating')
    values['instance_uuid'] = instance_uuid
    return api.migration_create(ctx, values)


def test_migration_create_get_update(db_all, admin_context):
    inst = _instance(admin_context)
    mig = _migration(admin_context, inst['uuid'], migration_type='resize',
                     old_instance_type_id=1, new_instance_type_id=2)
    assert isinstance(mig['id'], int)
    assert _values.validate_uuid(mig['uuid']) is None
    assert (mig['status'], mig['migration_type'], mig['deleted']) == (
        'pre-migrating', 'resize', 0)
    _iso(mig['created_at'])
    assert api.migration_get(admin_context, mig['id']) == mig
    new = api.migration_update(admin_context, mig['id'],
                               {'status': 'migrating', 'progress': 40})
    assert (new['status'], new['progress']) == ('migrating', 40)
    assert _iso(new['updated_at']) >= _iso(mig['updated_at'])
    assert api.migration_get(admin_context, mig['id']) == new
    assert [m['id'] for m in api.migration_get_by_instance(
        admin_context, inst['uuid'])] == [mig['id']]


def test_migration_errors(db_all, admin_context):
    inst = _instance(admin_context)
    for bad_id in (999999, 'abc', None, True):
        with pytest.raises(exception.MigrationNotFound):
            api.migration_get(admin_context, bad_id)
        with pytest.raises(exception.MigrationNotFound):
            api.migration_update(admin_context, bad_id, {'status': 'x'})
    with pytest.raises(exception.InvalidUpdate) as e:
        api.migration_create(admin_context, {'status': 'x'})
    assert e.value.kwargs['field'] == 'instance_uuid'
    with pytest.raises(exception.InvalidUUID):
        api.migration_create(admin_context, {'instance_uuid': 'nope'})
    mig = _migration(admin_context, inst['uuid'])
    for field in ('id', 'uuid', 'deleted', 'bogus'):
        with pytest.raises(exception.InvalidUpdate) as e:
            api.migration_update(admin_context, mig['id'],
                                 {'status': 'done', field: 1})
        assert e.value.kwargs['field'] == field
    with pytest.raises(exception.InvalidUpdate) as e:
        api.migration_update(admin_context, mig['id'], {'hidden': 'yes'})
    assert api.migration_get(admin_context, mig['id']) == mig


def test_migration_in_progress_by_host_and_node(db_all, admin_context):
    inst = _instance(admin_context)
    out = _migration(admin_context, inst['uuid'], status='migrating')
    into = _migration(admin_context, inst['uuid'], source_compute='other',
                      source_node='other-n', dest_compute='src',
                      dest_node='src-n', status='post-migrating')
    _migration(admin_context, inst['uuid'], source_node='another-node')
    for status in api.MIGRATION_DONE_STATUSES:
        _migration(admin_context, inst['uuid'], status=status)
    assert [m['id'] for m in
            api.migration_get_in_progress_by_host_and_node(
                admin_context, 'src', 'src-n')] == [out['id'], into['id']]
    assert [m['id'] for m in
            api.migration_get_in_progress_by_host_and_node(
                admin_context, 'dst', 'dst-n')][0] == out['id']
    assert api.migration_get_in_progress_by_host_and_node(
        admin_context, 'src', 'nowhere') == []
    api.migration_update(admin_context, out['id'], {'status': 'confirmed'})
    assert [m['id'] for m in
            api.migration_get_in_progress_by_host_and_node(
                admin_context, 'src', 'src-n')] == [into['id']]


# -- services -------------------------------------------------------------

def _service(ctx, host='h1', binary='nova-compute', **values):
    values.update(host=host, binary=binary)
    values.setdefault('topic', 'compute')
    return api.service_create(ctx, values)


def test_service_create_get_update(db_all, admin_context):
    svc = _service(admin_context)
    assert (svc['host'], svc['binary'], svc['topic']) == (
        'h1', 'nova-compute', 'compute')
    assert (svc['report_count'], svc['disabled'], svc['forced_down'],
            svc['last_seen_up']) == (0, False, False, None)
    assert svc == api.service_get_by_host_and_binary(
        admin_context, 'h1', 'nova-compute')
    new = api.service_update(admin_context, svc['id'], {
        'disabled': True, 'disabled_reason': 'maintenance'})
    assert (new['disabled'], new['disabled_reason']) == (True,
                                                         'maintenance')
    # The row the UPDATE returned (or read back, on MariaDB) is the row.
    assert new == api.service_get_by_host_and_binary(
        admin_context, 'h1', 'nova-compute')
    _service(admin_context, host='h2')
    # Its own topic: nova has one service per host and topic too.
    _service(admin_context, host='h2', binary='other', topic='other')
    assert [s['host'] for s in api.service_get_all_by_binary(
        admin_context, 'nova-compute', include_disabled=True)] == [
        'h1', 'h2']
    assert [s['host'] for s in api.service_get_all_by_binary(
        admin_context, 'nova-compute')] == ['h2']
    assert len(api.service_get_all(admin_context)) == 3


def test_service_errors(db_all, admin_context):
    svc = _service(admin_context)
    with pytest.raises(exception.ServiceExists) as e:
        _service(admin_context)
    assert e.value.kwargs == {'host': 'h1', 'binary': 'nova-compute'}
    for field in ('host', 'binary'):
        with pytest.raises(exception.InvalidUpdate) as e:
            api.service_create(admin_context, {'host': 'h', 'binary': 'b',
                                               field: None})
        assert e.value.kwargs['field'] == field
    with pytest.raises(exception.ServiceNotFound):
        api.service_get_by_host_and_binary(admin_context, 'h1', 'nope')
    for bad_id in (999999, 'x', None, False):
        with pytest.raises(exception.ServiceNotFound):
            api.service_update(admin_context, bad_id, {'disabled': True})
        with pytest.raises(exception.ServiceNotFound):
            api.service_heartbeat(admin_context, bad_id)
    for field, value in (('id', 5), ('uuid', MISSING), ('bogus', 1),
                         ('report_count', 'many'), ('disabled', 'no')):
        with pytest.raises(exception.InvalidUpdate) as e:
            api.service_update(admin_context, svc['id'], {field: value})
        assert e.value.kwargs['field'] == field
    assert api.service_get_by_host_and_binary(
        admin_context, 'h1', 'nova-compute') == svc
    # Renamed onto another live service: a named conflict, nothing moved.
    other = api.service_create(admin_context, {'host': 'h2',
                                               'binary': 'nova-compute'})
    with pytest.raises(exception.Conflict) as e:
        api.service_update(admin_context, other['id'], {'host': 'h1'})
    assert 'service %s' % other['id'] in str(e.value)
    assert api.service_get_by_host_and_binary(
        admin_context, 'h2', 'nova-compute') == other


def test_service_heartbeat(db_all, admin_context):
    svc = _service(admin_context)
    before = datetime.datetime.now(datetime.timezone.utc)
    first = api.service_heartbeat(admin_context, svc['id'])
    second = api.service_heartbeat(admin_context, svc['id'])
    assert (first['report_count'], second['report_count']) == (1, 2)
    # last_seen_up is the database's clock, here the same machine's.
    seen = _iso(second['last_seen_up'])
    assert abs((seen - before).total_seconds()) < 60
    assert _iso(first['last_seen_up']) <= seen
    assert second == api.service_get_by_host_and_binary(
        admin_context, 'h1', 'nova-compute')


# -- compute nodes --------------------------------------------------------

def test_compute_node_create_get_update(db_all, admin_context):
    node = api.compute_node_create(admin_context, {
        'host': 'h1', 'node': 'n1', 'vcpus': 8, 'memory_mb': 16384,
        'local_gb': 100, 'hypervisor_type': 'fake'})
    assert (node['vcpus_used'], node['memory_mb_used'], node['local_gb_used'],
            node['running_vms']) == (0, 0, 0, 0)
    assert node == api.compute_node_get_by_host_and_node(admin_context,
                                                         'h1', 'n1')
    new = api.compute_node_update(admin_context, node['id'], {
        'vcpus_used': 2, 'memory_mb_used': 1024, 'running_vms': 1})
    assert (new['vcpus_used'], new['memory_mb_used'], new['running_vms'],
            new['vcpus']) == (2, 1024, 1, 8)
    assert new == api.compute_node_get_by_host_and_node(admin_context,
                                                        'h1', 'n1')
    api.compute_node_create(admin_context, {'host': 'h2', 'node': 'n2'})
    assert [n['host'] for n in api.compute_node_get_all(admin_context)] == [
        'h1', 'h2']


def test_compute_node_errors(db_all, admin_context):
    node = api.compute_node_create(admin_context, {'host': 'h1',
                                                   'node': 'n1'})
    with pytest.raises(exception.ComputeNodeExists):
        api.compute_node_create(admin_context, {'host': 'h1', 'node': 'n1'})
    with pytest.raises(exception.InvalidUpdate) as e:
        api.compute_node_create(admin_context, {'host': 'h1'})
    assert e.value.kwargs['field'] == 'node'
    with pytest.raises(exception.ComputeHostNotFound) as e:
        api.compute_node_get_by_host_and_node(admin_context, 'h1', 'n2')
    assert e.value.kwargs == {'host': 'h1', 'node': 'n2'}
    for bad_id in (999999, '1', None, True):
        with pytest.raises(exception.ComputeHostNotFound):
            api.compute_node_update(admin_context, bad_id, {'vcpus': 1})
    for field in ('id', 'uuid', 'created_at', 'bogus'):
        with pytest.raises(exception.InvalidUpdate) as e:
            api.compute_node_update(admin_context, node['id'],
                                    {'vcpus': 4, field: 1})
        assert e.value.kwargs['field'] == field
    assert api.compute_node_get_by_host_and_node(
        admin_context, 'h1', 'n1') == node


# -- faults ---------------------------------------------------------------

def test_faults(db_all, admin_context):
    inst = _instance(admin_context)
    first = api.instance_fault_create(admin_context, {
        'instance_uuid': inst['uuid'], 'message': 'x' * 1000,
        'details': 'Traceback ...\n' * 200, 'host': 'src'})
    assert first['code'] == 500
    assert first['message'] == 'x' * 255   # cut as nova cuts it
    assert first['details'].startswith('Traceback')
    second = api.instance_fault_create(admin_context, {
        'instance_uuid': inst['uuid'], 'code': 404, 'message': 'gone'})
    got = api.instance_fault_get_by_instance_uuids(
        admin_context, [inst['uuid'], MISSING])
    assert [f['id'] for f in got[inst['uuid']]] == [second['id'],
                                                    first['id']]
    assert got[MISSING] == []
    with pytest.raises(exception.InstanceNotFound):
        api.instance_fault_create(admin_context, {'instance_uuid': MISSING})
    with pytest.raises(exception.InvalidUpdate) as e:
        api.instance_fault_create(admin_context, {'message': 'no uuid'})
    assert e.value.kwargs['field'] == 'instance_uuid'
    with pytest.raises(exception.InvalidUpdate) as e:
        api.instance_fault_create(admin_context, {
            'instance_uuid': inst['uuid'], 'id': 1})
    assert e.value.kwargs['field'] == 'id'


# -- actions and events ---------------------------------------------------

def test_actions_and_events(db_all):
    ctx = np_context.RequestContext(user_id='u1', project_id='p1')
    inst = _instance(ctx)
    base = {'instance_uuid': inst['uuid'], 'request_id': 'req-1'}
    action = api.instance_action_start(ctx, dict(base, action='reboot'))
    assert (action['action'], action['user_id'], action['project_id']) == (
        'reboot', 'u1', 'p1')
    _iso(action['start_time'])
    assert action['finish_time'] is None
    event = api.action_event_start(ctx, dict(base, event='compute_reboot',
                                             host='src'))
    assert event['action_id'] == action['id']
    assert (event['event'], event['host'], event['finish_time']) == (
        'compute_reboot', 'src', None)
    done = api.action_event_finish(ctx, dict(base, event='compute_reboot',
                                             result='Success'))
    assert done['id'] == event['id'] and done['result'] == 'Success'
    _iso(done['finish_time'])
    finished = api.instance_action_finish(ctx, dict(base))
    _iso(finished['finish_time'])
    assert finished['message'] is None
    actions = api.actions_get_with_events(ctx, inst['uuid'])
    assert [a['id'] for a in actions] == [action['id']]
    assert [e['event'] for e in actions[0]['events']] == ['compute_reboot']


def test_event_error_marks_action_and_restart(db_all, admin_context):
    inst = _instance(admin_context)
    base = {'instance_uuid': inst['uuid'], 'request_id': 'req-2'}
    api.instance_action_start(admin_context, dict(base, action='create'))
    first = api.action_event_start(admin_context, dict(base, event='build'))
    failed = api.action_event_finish(admin_context, dict(
        base, event='build', result='Error', traceback='Traceback: boom'))
    assert failed['result'] == 'Error'
    assert api.actions_get_with_events(
        admin_context, inst['uuid'])[0]['message'] == 'Error'
    # A retried step starts the same event again: one event, restarted.
    again = api.action_event_start(admin_context, dict(base, event='build'))
    assert again['id'] == first['id']
    assert (again['finish_time'], again['result'], again['traceback']) == (
        None, None, None)
    assert len(api.actions_get_with_events(
        admin_context, inst['uuid'])[0]['events']) == 1
    # Finishing an event that was never started is nova's error now (1.1
    # recorded it finished).
    with pytest.raises(exception.InstanceActionEventNotFound) as e:
        api.action_event_finish(admin_context, dict(
            base, event='cleanup', result='Success'))
    assert e.value.kwargs == {'action_id': first['action_id'],
                              'event': 'cleanup'}


def test_event_finish_time(db_all, admin_context):
    inst = _instance(admin_context)
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
    assert api.actions_get_with_events(
        admin_context, inst['uuid'])[0]['events'] == [given]


def test_event_started_concurrently_is_a_conflict(db_all, admin_context,
                                                  monkeypatch):
    """Two calls that both found no event both insert it: the second
    breaks the unique constraint and gets Conflict, nothing is written."""
    inst = _instance(admin_context)
    base = {'instance_uuid': inst['uuid'], 'request_id': 'req-4'}
    api.instance_action_start(admin_context, dict(base, action='create'))
    first = api.action_event_start(admin_context, dict(base, event='build'))
    found = actions._event_lookup

    def not_yet_seen(connection, fallback, values, scope_host):
        # What a call that looked before the first one committed saw.
        return found(connection, fallback, values, scope_host)[:3] + (
            None,)

    monkeypatch.setattr(actions, '_event_lookup', not_yet_seen)
    with pytest.raises(exception.Conflict) as e:
        api.action_event_start(admin_context, dict(base, event='build',
                                                   host='other'))
    assert 'build' in str(e.value)
    monkeypatch.undo()
    events = api.actions_get_with_events(
        admin_context, inst['uuid'])[0]['events']
    assert events == [first]


def test_action_errors(db_all, admin_context):
    inst = _instance(admin_context)
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
            'instance_uuid': MISSING, 'request_id': 'r', 'action': 'a'})
    with pytest.raises(exception.InvalidUUID):
        api.instance_action_start(admin_context, {
            'instance_uuid': 'bad', 'request_id': 'r', 'action': 'a'})
    with pytest.raises(exception.InvalidUpdate) as e:
        api.instance_action_start(admin_context, dict(
            base, action='a', start_time='not a time'))
    assert e.value.kwargs['field'] == 'start_time'
    assert api.actions_get_with_events(admin_context, inst['uuid']) == []


# -- host scope -----------------------------------------------------------

def test_scope_confines_instance_writes(db_all, admin_context):
    mine = _instance(admin_context, host='src')
    theirs = _instance(admin_context, host='other')
    assert api.instance_update(admin_context, mine['uuid'],
                               {'progress': 1},
                               scope_host='src')['progress'] == 1
    with pytest.raises(exception.HostScopeViolation) as e:
        api.instance_update(admin_context, theirs['uuid'], {'progress': 1},
                            scope_host='src')
    assert e.value.kwargs == {'caller': 'src',
                              'resource': 'instance %s' % theirs['uuid'],
                              'owner': 'other'}
    with pytest.raises(exception.HostScopeViolation):
        api.instance_update_and_get_original(
            admin_context, theirs['uuid'], {'progress': 1},
            scope_host='src')
    with pytest.raises(exception.HostScopeViolation):
        api.instance_destroy(admin_context, theirs['uuid'],
                             scope_host='src')
    assert api.instance_get_by_uuid(admin_context,
                                    theirs['uuid'])['progress'] is None
    # A CAS miss on an instance of another host: the state conflict is
    # the caller's first problem and is reported as such.
    with pytest.raises(exception.UnexpectedTaskStateError):
        api.instance_update(admin_context, theirs['uuid'], {
            'expected_task_state': 'x'}, scope_host='src')


def test_scope_follows_migrations(db_all, admin_context):
    inst = _instance(admin_context, host='other')
    with pytest.raises(exception.HostScopeViolation):
        api.instance_update(admin_context, inst['uuid'], {'progress': 1},
                            scope_host='dst')
    mig = _migration(admin_context, inst['uuid'], source_compute='other',
                     dest_compute='dst', status='migrating')
    # The destination of a migration in progress may write the instance,
    # its faults and its actions.
    new = api.instance_update(admin_context, inst['uuid'],
                              {'host': 'dst', 'node': 'dst-n'},
                              scope_host='dst')
    assert new['host'] == 'dst'
    # ...and the source, still, while the migration runs.
    api.instance_update(admin_context, inst['uuid'], {'progress': 2},
                        scope_host='other')
    api.instance_fault_create(admin_context, {'instance_uuid': inst['uuid']},
                              scope_host='other')
    api.migration_update(admin_context, mig['id'], {'status': 'confirmed'},
                         scope_host='dst')
    with pytest.raises(exception.HostScopeViolation):
        api.instance_update(admin_context, inst['uuid'], {'progress': 3},
                            scope_host='other')
    with pytest.raises(exception.HostScopeViolation):
        api.instance_fault_create(admin_context,
                                  {'instance_uuid': inst['uuid']},
                                  scope_host='other')
    with pytest.raises(exception.HostScopeViolation):
        api.migration_update(admin_context, mig['id'], {'status': 'x'},
                             scope_host='third')


def test_scope_confines_services_nodes_actions(db_all, admin_context):
    svc = _service(admin_context, host='h1')
    node = api.compute_node_create(admin_context, {'host': 'h1',
                                                   'node': 'n1'})
    inst = _instance(admin_context, host='h1')
    api.service_update(admin_context, svc['id'], {'disabled': True},
                       scope_host='h1')
    assert api.service_heartbeat(admin_context, svc['id'],
                                 scope_host='h1')['report_count'] == 1
    api.compute_node_update(admin_context, node['id'], {'vcpus': 2},
                            scope_host='h1')
    for call in (
            lambda: api.service_update(admin_context, svc['id'],
                                       {'disabled': False}, scope_host='h2'),
            # A host may not hand its records to another host either.
            lambda: api.service_update(admin_context, svc['id'],
                                       {'host': 'h2'}, scope_host='h1'),
            lambda: api.service_heartbeat(admin_context, svc['id'],
                                          scope_host='h2'),
            lambda: api.compute_node_update(admin_context, node['id'],
                                            {'vcpus': 9}, scope_host='h2'),
            lambda: api.compute_node_update(admin_context, node['id'],
                                            {'host': 'h2'}, scope_host='h1'),
            lambda: api.instance_action_start(admin_context, {
                'instance_uuid': inst['uuid'], 'action': 'a',
                'request_id': 'r'}, scope_host='h2'),
            lambda: api.instance_fault_create(admin_context, {
                'instance_uuid': inst['uuid']}, scope_host='h2')):
        with pytest.raises(exception.HostScopeViolation):
            call()
    assert api.service_get_by_host_and_binary(
        admin_context, 'h1', 'nova-compute')['report_count'] == 1
    assert api.compute_node_get_by_host_and_node(
        admin_context, 'h1', 'n1')['vcpus'] == 2
