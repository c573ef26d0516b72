"""The compute endpoints through the real RPC path on the fake transport:
ComputeAPI -> compute service -> shim -> proxy endpoints -> database."""

import json
import threading
import time

import pytest

from nova_proxy.common import context as np_context
from nova_proxy.common import states
from nova_proxy.compute import periodic
from nova_proxy.compute.virt import fake
from nova_proxy import conf
from nova_proxy.db import api as db
from nova_proxy import exception

CONF = conf.CONF

FLAVOR = {'memory_mb': 1024, 'vcpus': 1, 'root_gb': 10}


def new_context():
    """A fresh request (its own request id, so its own instance action)."""
    return np_context.get_admin_context()


def create_instance(host='c1', **values):
    return db.instance_create(new_context(), dict(
        FLAVOR, host=host, vm_state='building', task_state='scheduling',
        instance_type_name='small', **values))


def effects(service):
    try:
        with open(service.driver.effects_file) as f:
            return [json.loads(line) for line in f]
    except FileNotFoundError:
        return []


def actions(instance_uuid):
    return {a['action']: a for a in db.actions_get_with_events(
        new_context(), instance_uuid)}


@pytest.fixture
def compute(stack):
    return stack.start_compute('c1')


def test_registers_service_and_compute_node(stack, compute):
    service = db.service_get_by_host_and_binary(new_context(), 'c1',
                                                'nova-compute')
    assert service['topic'] == 'compute'
    node = db.compute_node_get_by_host_and_node(new_context(), 'c1', 'c1')
    assert node['vcpus'] == CONF.compute.vcpus
    assert node['hypervisor_type'] == 'fake'
    # A restart finds both records instead of creating new ones.
    compute.stop()
    again = stack.start_compute('c1')
    assert again.service_record['id'] == service['id']
    assert again.compute_node['id'] == node['id']


def test_a_record_of_another_topic_is_named_at_start(stack, caplog):
    # The record of an earlier start on another [compute] topic: a
    # compute host may not change it, so the proxies go on reading it.
    db.service_create(new_context(), {
        'host': 'c9', 'binary': 'nova-compute', 'topic': 'old-topic',
        'report_count': 0})
    stack.start_compute('c9')
    assert "says topic 'old-topic'" in caplog.text
    assert "listens on [compute] topic 'compute'" in caplog.text
    # ... and says how to mend the record.
    assert ('"nova-compute-proxy-manage service set-topic --host c9 '
            '--topic compute"' in caplog.text)


def test_a_record_of_this_topic_is_not_named_at_start(stack, caplog):
    stack.start_compute('c8')
    assert 'says topic' not in caplog.text


def test_full_lifecycle(stack, compute):
    uuid = create_instance()['uuid']
    api = stack.api

    built = api.build_and_run_instance(new_context(), 'c1', uuid,
                                       operation_id='op-build')
    assert (built['vm_state'], built['task_state'], built['power_state']) \
        == ('active', None, states.POWER_RUNNING)
    assert built['launched_at'] and built['node'] == 'c1'
    assert built['launched_on'] == 'c1'

    stopped = api.stop_instance(new_context(), 'c1', uuid)
    assert (stopped['vm_state'], stopped['power_state']) == ('stopped', 4)
    started = api.start_instance(new_context(), 'c1', uuid)
    assert (started['vm_state'], started['power_state']) == ('active', 1)

    deleted = api.terminate_instance(new_context(), 'c1', uuid)
    assert deleted['deleted'] != 0
    assert deleted['vm_state'] == 'deleted' and deleted['terminated_at']
    with pytest.raises(exception.InstanceNotFound):
        db.instance_get_by_uuid(new_context(), uuid)
    assert api.get_driver_state(new_context(), 'c1')['instances'] == {}

    recorded = actions(uuid)
    assert set(recorded) == {'create', 'stop', 'start', 'delete'}
    for name, action in recorded.items():
        assert action['finish_time'] is not None, name
        assert [(e['event'], e['result']) for e in action['events']] == [
            ('compute_%s_instance' % {'create': 'build_and_run',
                                      'delete': 'terminate'}.get(name, name),
             'Success')]
        assert action['events'][0]['host'] == 'c1'
    assert [e['step'] for e in effects(compute)] == [
        'spawn', 'power_off', 'power_on', 'destroy']


def test_build_replay_with_the_same_operation_spawns_once(stack, compute):
    uuid = create_instance()['uuid']
    first = stack.api.build_and_run_instance(new_context(), 'c1', uuid,
                                             operation_id='op-1')
    again = stack.api.build_and_run_instance(new_context(), 'c1', uuid,
                                             operation_id='op-1')
    assert again['vm_state'] == 'active'
    assert again['launched_at'] == first['launched_at']
    assert [e['step'] for e in effects(compute)] == ['spawn']


def test_a_build_delivered_twice_at_once_spawns_once(
        stack, compute, monkeypatch):
    """A takeover sends the step again while the first delivery still
    spawns: both answer the built instance, and it spawned once."""
    uuid = create_instance()['uuid']
    second_sent = threading.Event()
    real_spawn = fake.FakeDriver.spawn

    def slow_spawn(driver, instance, operation_id=None):
        second_sent.wait(30)
        time.sleep(0.3)  # the second delivery reaches the compute
        return real_spawn(driver, instance, operation_id=operation_id)

    monkeypatch.setattr(fake.FakeDriver, 'spawn', slow_spawn)
    results = []

    def build(event=None):
        if event is not None:
            event.set()
        try:
            results.append(stack.api.build_and_run_instance(
                new_context(), 'c1', uuid, operation_id='op-1'))
        except Exception as e:
            results.append(e)

    first = threading.Thread(target=build)
    first.start()
    second = threading.Thread(target=build, args=(second_sent,))
    second.start()
    first.join(60)
    second.join(60)
    assert [r['vm_state'] for r in results] == ['active', 'active'], results
    assert [e['step'] for e in effects(compute)] == ['spawn']
    # The lock was the operation's while its deliveries needed it only.
    lifecycle, = [e for e in compute.rpcserver.dispatcher.endpoints
                  if hasattr(e, 'build_and_run_instance')]
    assert len(lifecycle._builds) == 0


def test_build_uses_the_callers_action(stack, compute):
    uuid = create_instance()['uuid']
    context = new_context()
    db.instance_action_start(context, {'instance_uuid': uuid,
                                       'action': 'create',
                                       'request_id': 'req-orchestrated'})
    stack.api.build_and_run_instance(context, 'c1', uuid,
                                     request_id='req-orchestrated')
    (action,) = db.actions_get_with_events(context, uuid)
    assert action['request_id'] == 'req-orchestrated'
    # The caller started the action, so the caller finishes it.
    assert action['finish_time'] is None
    assert action['events'][0]['result'] == 'Success'


def _assert_failed_build(uuid, compute, error_name):
    instance = db.instance_get_by_uuid(new_context(), uuid)
    assert (instance['vm_state'], instance['task_state']) == ('error', None)
    faults = db.instance_fault_get_by_instance_uuids(new_context(),
                                                     [uuid])[uuid]
    assert len(faults) == 1 and error_name in faults[0]['message']
    assert faults[0]['host'] == 'c1'
    assert uuid not in compute.driver.get_state()['claims']
    (action,) = db.actions_get_with_events(new_context(), uuid)
    assert action['message'] == 'Error'
    assert action['events'][0]['result'] == 'Error'
    assert error_name in action['events'][0]['traceback']


def test_failed_spawn_releases_the_claim_and_records_a_fault(
        stack, compute, monkeypatch):
    monkeypatch.setenv('NOVA_PROXY_FAKE_FAIL_STEPS', 'spawn')
    uuid = create_instance()['uuid']
    with pytest.raises(exception.StepFailed) as e:
        stack.api.build_and_run_instance(new_context(), 'c1', uuid,
                                         operation_id='op-1')
    assert e.value.kwargs['step'] == 'spawn'
    _assert_failed_build(uuid, compute, 'StepFailed')
    assert effects(compute) == []


def test_build_without_room_is_a_named_error(stack, compute):
    uuid = create_instance(memory_mb=CONF.compute.memory_mb + 1)['uuid']
    with pytest.raises(exception.ComputeResourcesUnavailable):
        stack.api.build_and_run_instance(new_context(), 'c1', uuid)
    _assert_failed_build(uuid, compute, 'ComputeResourcesUnavailable')


def test_build_of_an_instance_of_another_host_is_refused(stack, compute):
    uuid = create_instance(host='c2')['uuid']
    with pytest.raises(exception.HostScopeViolation):
        stack.api.build_and_run_instance(new_context(), 'c1', uuid)
    assert compute.driver.get_state()['instances'] == {}
    assert db.instance_get_by_uuid(new_context(), uuid)['vm_state'] == \
        'building'


def test_build_of_an_active_instance_is_refused(stack, compute):
    uuid = create_instance()['uuid']
    stack.api.build_and_run_instance(new_context(), 'c1', uuid)
    with pytest.raises(exception.UnexpectedVMStateError):
        stack.api.build_and_run_instance(new_context(), 'c1', uuid)


def test_stop_during_another_task_is_refused(stack, compute):
    uuid = create_instance()['uuid']
    stack.api.build_and_run_instance(new_context(), 'c1', uuid)
    db.instance_update(new_context(), uuid, {'task_state': 'resize_prep'})
    with pytest.raises(exception.UnexpectedTaskStateError):
        stack.api.stop_instance(new_context(), 'c1', uuid)
    assert compute.driver.power_state(uuid) == states.POWER_RUNNING


def test_failed_power_off_resets_the_task_and_records_a_fault(
        stack, compute, monkeypatch):
    uuid = create_instance()['uuid']
    stack.api.build_and_run_instance(new_context(), 'c1', uuid)
    monkeypatch.setenv('NOVA_PROXY_FAKE_FAIL_STEPS', 'power_off')
    with pytest.raises(exception.StepFailed):
        stack.api.stop_instance(new_context(), 'c1', uuid)
    instance = db.instance_get_by_uuid(new_context(), uuid)
    assert (instance['vm_state'], instance['task_state']) == ('active', None)
    faults = db.instance_fault_get_by_instance_uuids(new_context(), [uuid])
    assert len(faults[uuid]) == 1


def test_migration_steps_are_idempotent_over_rpc(stack, compute):
    uuid = create_instance()['uuid']
    stack.api.build_and_run_instance(new_context(), 'c1', uuid)
    migration = db.migration_create(new_context(), {
        'instance_uuid': uuid, 'source_compute': 'c1', 'dest_compute': 'c1',
        'status': 'migrating'})
    big = {'memory_mb': 2048, 'vcpus': 2, 'root_gb': 20, 'name': 'big'}
    api = stack.api
    claim = api.prep_resize(new_context(), 'c1', uuid, migration['id'], big,
                            'op-r')
    assert claim == api.prep_resize(new_context(), 'c1', uuid,
                                    migration['id'], big, 'op-r')
    assert claim['claim']['memory_mb'] == 2048
    assert api.resize_instance(new_context(), 'c1', uuid, migration['id'],
                               'op-r') == {}
    assert db.migration_get(new_context(), migration['id'])['progress'] == 100
    api.resize_instance(new_context(), 'c1', uuid, migration['id'], 'op-r')
    steps = [e['step'] for e in effects(compute)]
    assert steps.count('prep_resize') == 1
    assert steps.count('resize_instance') == 1
    ledger = api.get_driver_state(new_context(), 'c1')['ledger']
    assert {'op-r/prep_resize', 'op-r/resize_instance'} <= set(ledger)


def _resized(stack, uuid):
    """Built on c1, then prep_resize and resize_instance of migration
    c1 -> c1 (the driver shuts the source down in resize_instance)."""
    stack.api.build_and_run_instance(new_context(), 'c1', uuid)
    migration = db.migration_create(new_context(), {
        'instance_uuid': uuid, 'source_compute': 'c1', 'dest_compute': 'c1',
        'status': 'migrating'})
    stack.api.prep_resize(new_context(), 'c1', uuid, migration['id'],
                          FLAVOR, 'op-m')
    stack.api.resize_instance(new_context(), 'c1', uuid, migration['id'],
                              'op-m')
    return migration['id']


def _power(stack, uuid):
    return stack.api.get_driver_state(new_context(), 'c1')['instances'][
        uuid]['power_state']


def test_finish_steps_without_power_on_leave_the_instance_shut_down(
        stack, compute):
    uuid = create_instance()['uuid']
    migration_id = _resized(stack, uuid)
    api = stack.api
    assert api.finish_resize(new_context(), 'c1', uuid, migration_id,
                             FLAVOR, 'op-m', power_on=False) == {}
    assert _power(stack, uuid) == states.POWER_SHUTDOWN
    # Called again (even asking for power): answered from the ledger.
    api.finish_resize(new_context(), 'c1', uuid, migration_id, FLAVOR,
                      'op-m', power_on=True)
    assert compute.driver.power_state(uuid) == states.POWER_SHUTDOWN
    assert [e['step'] for e in effects(compute)].count('finish_resize') == 1

    api.revert_resize(new_context(), 'c1', uuid, migration_id, 'op-r')
    api.finish_revert_resize(new_context(), 'c1', uuid, migration_id,
                             FLAVOR, 'op-r', power_on=False)
    assert _power(stack, uuid) == states.POWER_SHUTDOWN
    assert compute.driver.get_state()['instances'][uuid]['role'] == 'active'


def test_finish_steps_power_on_by_default(stack, compute):
    uuid = create_instance()['uuid']
    migration_id = _resized(stack, uuid)
    stack.api.finish_resize(new_context(), 'c1', uuid, migration_id, FLAVOR,
                            'op-m')
    assert _power(stack, uuid) == states.POWER_RUNNING
    stack.api.revert_resize(new_context(), 'c1', uuid, migration_id, 'op-r')
    stack.api.finish_revert_resize(new_context(), 'c1', uuid, migration_id,
                                   FLAVOR, 'op-r')
    assert _power(stack, uuid) == states.POWER_RUNNING


def test_a_cap_below_1_1_sends_no_power_on(stack, compute, monkeypatch):
    """Under [upgrade_levels] compute = 1.0 the client sends the finish
    steps as 1.0 without power_on, and the compute (as a 1.0 one does)
    starts the instance."""
    from nova_proxy.compute import rpcapi
    CONF.set_override('compute', '1.0', group='upgrade_levels')
    api = rpcapi.ComputeAPI(timeout=30)
    sent = []
    real_call = api._call

    def spy(context, host, method, version=None, **kwargs):
        sent.append((method, version, sorted(kwargs)))
        return real_call(context, host, method, version=version, **kwargs)
    monkeypatch.setattr(api, '_call', spy)
    uuid = create_instance()['uuid']
    migration_id = _resized(stack, uuid)
    api.finish_resize(new_context(), 'c1', uuid, migration_id, FLAVOR,
                      'op-m', power_on=False)
    assert _power(stack, uuid) == states.POWER_RUNNING
    api.revert_resize(new_context(), 'c1', uuid, migration_id, 'op-r')
    api.finish_revert_resize(new_context(), 'c1', uuid, migration_id,
                             FLAVOR, 'op-r', power_on=False)
    assert _power(stack, uuid) == states.POWER_RUNNING
    args = ['flavor', 'instance_uuid', 'migration_id', 'operation_id']
    assert [s for s in sent if s[0].startswith('finish_')] == [
        ('finish_resize', '1.0', args),
        ('finish_revert_resize', '1.0', args)]


def test_prep_resize_without_room(stack, compute):
    uuid = create_instance()['uuid']
    huge = {'memory_mb': CONF.compute.memory_mb * 2, 'vcpus': 1,
            'root_gb': 1}
    with pytest.raises(exception.ComputeResourcesUnavailable):
        stack.api.prep_resize(new_context(), 'c1', uuid, 1, huge, 'op')
    assert compute.driver.get_state()['claims'] == {}


def test_bad_arguments_are_named_errors_and_the_service_keeps_serving(
        stack, compute):
    with pytest.raises(exception.InvalidRequest):
        stack.api.prep_resize(new_context(), 'c1', 'u', 'not-an-id',
                              {'vcpus': 1}, 'op')
    uuid = '5f6e3d1c-0000-4000-8000-000000000001'
    with pytest.raises(exception.InvalidRequest):
        stack.api.prep_resize(new_context(), 'c1', uuid, 1,
                              {'vcpus': 'many'}, 'op')
    with pytest.raises(exception.InvalidUUID):
        stack.api.prep_resize(new_context(), 'c1', 'u', 1, {'vcpus': 1},
                              'op')
    # Without an operation id the step would escape the ledger.
    with pytest.raises(exception.InvalidRequest):
        stack.api.resize_instance(new_context(), 'c1', uuid, 1, '')
    with pytest.raises(exception.InvalidUUID):
        stack.api.stop_instance(new_context(), 'c1', 'not-a-uuid')
    assert stack.api.get_driver_state(new_context(), 'c1')['claims'] == {}


def test_resources_are_reported_after_a_claim(stack, compute):
    uuid = create_instance()['uuid']
    stack.api.build_and_run_instance(new_context(), 'c1', uuid)
    from tests.functional.procs import wait_for
    node = wait_for(lambda: [n for n in db.compute_node_get_all(
        new_context()) if n['memory_mb_used'] == 1024], timeout=20,
        message='resources reported')[0]
    assert (node['vcpus_used'], node['local_gb_used'],
            node['running_vms']) == (1, 10, 1)


def test_heartbeat_grows_report_count(stack, compute):
    from tests.functional.procs import wait_for
    service_id = compute.service_record['id']
    wait_for(lambda: db.service_get_all(new_context())[0]['report_count']
             >= 3, timeout=20, message='three heartbeats')
    service = db.service_get_all(new_context())[0]
    assert service['id'] == service_id and service['last_seen_up']


def test_power_sync_follows_the_hypervisor(stack, compute):
    CONF.set_override('sync_power_state_interval', 3600, group='compute')
    running = create_instance()['uuid']
    busy = create_instance()['uuid']
    for uuid in (running, busy):
        stack.api.build_and_run_instance(new_context(), 'c1', uuid)
        compute.driver.power_off(uuid)   # behind the database's back
    db.instance_update(new_context(), busy, {'task_state': 'migrating'})
    sync = periodic.PowerStateSync(np_context.get_compute_context('c1'),
                                   3600, 'c1', compute.driver)
    sync.run_once()
    instance = db.instance_get_by_uuid(new_context(), running)
    assert (instance['vm_state'], instance['power_state']) == ('stopped', 4)
    # An instance with a task in progress belongs to that task.
    instance = db.instance_get_by_uuid(new_context(), busy)
    assert (instance['vm_state'], instance['power_state']) == ('active', 1)


def test_a_build_whose_last_write_is_lost_at_commit_is_not_undone(
        stack, compute, monkeypatch):
    """The build's last save commits but its answer is lost with the
    proxy's database connection (DatabaseUnavailable): the step fails
    with it, and its next delivery finds the build done instead of
    spawning again."""
    from nova_proxy.common import rpc
    uuid = create_instance()['uuid']
    real = rpc.call_retrying
    lost = []

    def lost_at_commit(cctxt, context, method, retry_safe, kwargs):
        result = real(cctxt, context, method, retry_safe, kwargs)
        if method == 'instance_update_and_get_original' and \
                kwargs['values'].get('vm_state') == 'active' and not lost:
            lost.append(method)
            raise exception.DatabaseUnavailable(method=method,
                                                reason='lost at COMMIT')
        return result

    monkeypatch.setattr(rpc, 'call_retrying', lost_at_commit)
    with pytest.raises(exception.DatabaseUnavailable):
        stack.api.build_and_run_instance(new_context(), 'c1', uuid,
                                         operation_id='op-1')
    again = stack.api.build_and_run_instance(new_context(), 'c1', uuid,
                                             operation_id='op-1')
    assert (again['vm_state'], again['task_state']) == ('active', None)
    assert [e['step'] for e in effects(compute)] == ['spawn']
