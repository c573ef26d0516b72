"""The wire contract (1.0, and 1.1's instance_update_and_record), seen
by a plain oslo.messaging ``RPCClient`` through two real proxies on
RabbitMQ and PostgreSQL (issue 2, "Done when"). Every method of the
contract and its errors."""

import datetime

import oslo_messaging
import pytest

from nova_proxy import exception
from tests.functional import two_proxies

MISSING = '2c7c3c5e-0000-4000-8000-000000000000'
CONTEXT = {'user': 'user-1', 'project_id': 'project-1',
           'request_id': 'req-contract', 'is_admin': False}


cluster = two_proxies.module_cluster('contract')
transport = two_proxies.transport


@pytest.fixture
def client(transport, cluster):
    return two_proxies.plain_client(transport, cluster)


def call(client, method, context=None, **kwargs):
    return client.call(CONTEXT if context is None else context, method,
                       **kwargs)


def raises(cls, client, method, **kwargs):
    """The call fails with ``cls`` of nova_proxy.exception, rebuilt."""
    with pytest.raises(cls) as e:
        call(client, method, **kwargs)
    # Rebuilt by oslo.messaging from the class name and kwargs.
    assert type(e.value).__name__ == cls.__name__ + '_Remote'
    return e.value


def utc(value):
    parsed = datetime.datetime.fromisoformat(value)
    assert parsed.utcoffset() == datetime.timedelta(0), value
    return parsed


def test_ping_and_calling_errors(client, cluster):
    for arg in ('hello', 7, None, [1, {'a': None}]):
        assert call(client, 'ping', arg=arg) == arg
    e = raises(exception.InvalidRequest, client, 'ping')
    assert e.kwargs['method'] == 'ping'
    raises(exception.InvalidRequest, client, 'instance_get_by_uuid',
           uuid=MISSING)
    e = raises(exception.InvalidRequest, client,
               'instance_get_all_by_host', host={'not': 'a host'})
    assert 'host' in e.kwargs['reason']
    # Only the allow-list is callable: not the DB API's other functions,
    # not the endpoints' helpers.
    for method in ('instance_get_all_by_filters', 'purge_deleted_instances',
                   '_check_readable', 'no_such_method'):
        with pytest.raises(oslo_messaging.RemoteError) as e:
            call(client, method)
        assert e.value.exc_type == 'NoSuchMethod'
    with pytest.raises(oslo_messaging.RemoteError) as e:
        client.prepare(version='1.99').call(CONTEXT, 'ping', arg=1)
    assert e.value.exc_type == 'UnsupportedVersion'
    assert call(client, 'ping', arg='still serving') == 'still serving'


def test_instance_contract(client, cluster):
    sizes = two_proxies.log_sizes(cluster)
    # A host of its own: the module's tests share the proxies' database,
    # and the others put instances on cmp-1 (in whatever order xdist's
    # worksteal runs them).
    inst = call(client, 'instance_create', values={
        'host': 'cmp-contract', 'node': 'cmp-1-node', 'vm_state': 'building',
        'task_state': 'spawning', 'memory_mb': 512, 'vcpus': 1,
        'root_gb': 1, 'instance_type_id': 1, 'image_ref': 'img',
        'display_name': 'vm-1', 'hostname': 'vm-1', 'power_state': 0,
        'metadata': {'a': '1'}, 'system_metadata': {'image_x': 'y'}})
    uuid = inst['uuid']
    # The context travelled as a to_dict(): its user and project stuck.
    assert (inst['user_id'], inst['project_id']) == ('user-1', 'project-1')
    assert inst['metadata'] == {'a': '1'}
    assert inst['system_metadata'] == {'image_x': 'y'}
    created = utc(inst['created_at'])
    assert call(client, 'instance_get_by_uuid', instance_uuid=uuid) == inst
    assert call(client, 'instance_get_all_by_host',
                host='cmp-contract') == [inst]
    assert call(client, 'instance_get_all_by_host', host='cmp-contract',
                node='other') == []
    e = raises(exception.InstanceExists, client, 'instance_create',
               values={'uuid': uuid})
    assert e.kwargs == {'instance_uuid': uuid}
    raises(exception.InvalidUUID, client, 'instance_get_by_uuid',
           instance_uuid='not-a-uuid')
    e = raises(exception.InstanceNotFound, client, 'instance_get_by_uuid',
               instance_uuid=MISSING)
    assert e.kwargs == {'instance_id': MISSING}

    # Compare-and-swap: a value, a list mixing None, NULL as None.
    new = call(client, 'instance_update', instance_uuid=uuid, values={
        'vm_state': 'active', 'task_state': None, 'power_state': 1,
        'launched_at': '2026-05-06T07:08:09+02:00',
        'expected_task_state': ['spawning', None],
        'expected_vm_state': 'building'})
    assert (new['vm_state'], new['task_state'], new['power_state']) == (
        'active', None, 1)
    assert utc(new['launched_at']) == datetime.datetime(
        2026, 5, 6, 5, 8, 9, tzinfo=datetime.timezone.utc)
    assert utc(new['updated_at']) > created
    e = raises(exception.UnexpectedTaskStateError, client,
               'instance_update', instance_uuid=uuid,
               values={'task_state': 'x', 'expected_task_state': 'spawning'})
    assert e.kwargs == {'instance_uuid': uuid, 'expected': 'spawning',
                        'actual': None}
    e = raises(exception.UnexpectedVMStateError, client, 'instance_update',
               instance_uuid=uuid, values={
                   'expected_task_state': None,
                   'expected_vm_state': ['building', 'error']})
    assert e.kwargs['actual'] == 'active'
    e = raises(exception.InvalidUpdate, client, 'instance_update',
               instance_uuid=uuid, values={'vm_state': 'error',
                                           'created_at': 'now'})
    assert e.kwargs['field'] == 'created_at'
    raises(exception.InvalidUpdate, client, 'instance_update',
           instance_uuid=uuid, values={'bogus': 1})
    raises(exception.InvalidUUID, client, 'instance_update',
           instance_uuid='nope', values={})
    raises(exception.InstanceNotFound, client, 'instance_update',
           instance_uuid=MISSING, values={})
    assert call(client, 'instance_get_by_uuid', instance_uuid=uuid) == new

    # Metadata replaces the whole dict; leaving it out changes nothing.
    old, newer = call(client, 'instance_update_and_get_original',
                      instance_uuid=uuid, values={
                          'metadata': {'b': '2'},
                          'task_state': 'deleting',
                          'expected_task_state': None})
    assert old == new
    assert newer['metadata'] == {'b': '2'}
    assert newer['system_metadata'] == {'image_x': 'y'}
    e = raises(exception.UnexpectedDeletingTaskStateError, client,
               'instance_update', instance_uuid=uuid,
               values={'task_state': 'x', 'expected_task_state': None})
    assert isinstance(e, exception.UnexpectedTaskStateError)
    assert e.kwargs['actual'] == 'deleting'

    gone = call(client, 'instance_destroy', instance_uuid=uuid)
    assert gone['deleted'] != 0 and utc(gone['deleted_at'])
    raises(exception.InstanceNotFound, client, 'instance_get_by_uuid',
           instance_uuid=uuid)
    raises(exception.InstanceNotFound, client, 'instance_update',
           instance_uuid=uuid, values={'expected_task_state': 'deleting'})
    raises(exception.InstanceNotFound, client, 'instance_destroy',
           instance_uuid=uuid)
    # Callers' mistakes: no traceback in either proxy's log.
    assert 'Traceback' not in two_proxies.logs_since(cluster, sizes)


def test_migration_service_node_contract(client, cluster):
    inst = call(client, 'instance_create', values={'host': 'cmp-1',
                                                   'node': 'n1'})
    mig = call(client, 'migration_create', values={
        'instance_uuid': inst['uuid'], 'source_compute': 'cmp-1',
        'source_node': 'n1', 'dest_compute': 'cmp-2', 'dest_node': 'n2',
        'migration_type': 'resize', 'status': 'pre-migrating'})
    assert call(client, 'migration_get', migration_id=mig['id']) == mig
    updated = call(client, 'migration_update', migration_id=mig['id'],
                   values={'status': 'migrating', 'progress': 30})
    assert (updated['status'], updated['progress']) == ('migrating', 30)
    assert [m['id'] for m in call(
        client, 'migration_get_in_progress_by_host_and_node',
        host='cmp-2', node='n2')] == [mig['id']]
    raises(exception.MigrationNotFound, client, 'migration_get',
           migration_id=987654)
    raises(exception.InvalidRequest, client, 'migration_get',
           migration_id='1')
    raises(exception.InvalidUpdate, client, 'migration_update',
           migration_id=mig['id'], values={'id': 2})

    svc = call(client, 'service_create', values={
        'host': 'cmp-1', 'binary': 'nova-compute', 'topic': 'compute'})
    assert call(client, 'service_get_by_host_and_binary', host='cmp-1',
                binary='nova-compute') == svc
    assert call(client, 'service_update', service_id=svc['id'],
                values={'disabled': True})['disabled'] is True
    beat = call(client, 'service_heartbeat', service_id=svc['id'])
    assert beat['report_count'] == svc['report_count'] + 1
    assert utc(beat['last_seen_up'])
    # nova's names for these, subclasses of what 1.x callers catch
    # (ServiceExists, ServiceNotFound).
    raises(exception.ServiceBinaryExists, client, 'service_create',
           values={'host': 'cmp-1', 'binary': 'nova-compute'})
    raises(exception.HostBinaryNotFound, client,
           'service_get_by_host_and_binary', host='cmp-9', binary='x')
    raises(exception.ServiceNotFound, client, 'service_update',
           service_id=987654, values={})

    node = call(client, 'compute_node_create', values={
        'host': 'cmp-1', 'node': 'n1', 'vcpus': 8, 'memory_mb': 8192,
        'local_gb': 80})
    assert call(client, 'compute_node_get_by_host_and_node', host='cmp-1',
                node='n1') == node
    assert call(client, 'compute_node_update', compute_node_id=node['id'],
                values={'vcpus_used': 2})['vcpus_used'] == 2
    raises(exception.ComputeNodeExists, client, 'compute_node_create',
           values={'host': 'cmp-1', 'node': 'n1'})
    raises(exception.ComputeHostNotFound, client,
           'compute_node_get_by_host_and_node', host='cmp-1', node='n9')
    raises(exception.ComputeHostNotFound, client, 'compute_node_update',
           compute_node_id=987654, values={})


def test_fault_action_event_contract(client, cluster):
    inst = call(client, 'instance_create', values={'host': 'cmp-1'})
    base = {'instance_uuid': inst['uuid'], 'request_id': 'req-7'}
    fault = call(client, 'instance_fault_create', values={
        'instance_uuid': inst['uuid'], 'code': 500, 'message': 'boom',
        'details': 'Traceback (most recent call last): ...',
        'host': 'cmp-1'})
    assert (fault['code'], fault['message']) == (500, 'boom')
    action = call(client, 'instance_action_start',
                  values=dict(base, action='reboot'))
    assert (action['action'], action['user_id']) == ('reboot', 'user-1')
    event = call(client, 'action_event_start',
                 values=dict(base, event='compute_reboot', host='cmp-1'))
    assert event['action_id'] == action['id']
    done = call(client, 'action_event_finish', values=dict(
        base, event='compute_reboot', result='Success'))
    assert done['result'] == 'Success' and utc(done['finish_time'])
    finished = call(client, 'instance_action_finish', values=base)
    assert utc(finished['finish_time'])
    raises(exception.InstanceNotFound, client, 'instance_fault_create',
           values={'instance_uuid': MISSING})
    for method, values in (
            ('instance_action_finish', {'instance_uuid': inst['uuid'],
                                        'request_id': 'req-none'}),
            ('action_event_start', {'instance_uuid': inst['uuid'],
                                    'request_id': 'req-none',
                                    'event': 'e'})):
        raises(exception.InstanceActionNotFound, client, method,
               values=values)
    e = raises(exception.InvalidUpdate, client, 'instance_action_start',
               values={'instance_uuid': inst['uuid']})
    assert e.kwargs['field'] in ('action', 'request_id')


def test_host_scope_over_the_wire(client, cluster):
    theirs = call(client, 'instance_create', values={'host': 'cmp-2'})
    mine = call(client, 'instance_create', values={'host': 'cmp-1'})
    compute = dict(CONTEXT, compute_host='cmp-1')
    assert call(client, 'instance_get_by_uuid', context=compute,
                instance_uuid=mine['uuid'])['uuid'] == mine['uuid']
    with pytest.raises(exception.HostScopeViolation) as e:
        call(client, 'instance_update', context=compute,
             instance_uuid=theirs['uuid'], values={'progress': 1})
    # The other host is not named to the caller.
    assert e.value.kwargs == {'caller': 'cmp-1',
                              'resource': 'instance %s' % theirs['uuid']}
    assert 'cmp-2' not in str(e.value)
    with pytest.raises(exception.HostScopeViolation):
        call(client, 'instance_get_all_by_host', context=compute,
             host='cmp-2')
    assert call(client, 'instance_get_by_uuid',
                instance_uuid=theirs['uuid'])['progress'] is None


def test_both_proxies_served(client, cluster):
    """Calls are spread over both proxies. The test makes its own: with
    the suite's xdist workers stealing queued tests, the tests above may
    have run on another worker, against another cluster."""
    before = two_proxies.served(cluster, 'instance_create')
    for n in range(10):
        call(client, 'instance_create',
             values={'host': 'cmp-1', 'display_name': 'spread-%d' % n})
    served = two_proxies.served(cluster, 'instance_create')
    assert sum(served.values()) - sum(before.values()) == 10, served
    assert all(served[name] > before[name] for name in served), served
    for proc in cluster.processes:
        assert proc.alive()


def test_update_and_record_contract(client, cluster):
    """1.1: a compare-and-swap with its event and fault, one call, one
    transaction, through the real proxies on RabbitMQ and PostgreSQL."""
    v11 = client.prepare(version='1.1')
    inst = call(client, 'instance_create', values={
        'host': 'cmp-1', 'vm_state': 'building', 'task_state': 'scheduling'})
    base = {'instance_uuid': inst['uuid'], 'request_id': 'req-11'}
    call(client, 'instance_action_start', values=dict(base, action='create'))
    compute = dict(CONTEXT, compute_host='cmp-1')
    updated = v11.call(
        compute, 'instance_update_and_record', instance_uuid=inst['uuid'],
        values={'task_state': 'spawning',
                'expected_task_state': 'scheduling'},
        event_start=dict(base, event='compute_build', host='cmp-1'),
        fault={'instance_uuid': inst['uuid'], 'message': 'warned',
               'host': 'cmp-1'})
    assert updated['task_state'] == 'spawning'
    assert utc(updated['updated_at'])
    # A miss: instance_update's error, and neither the finish nor the
    # fault of this call is written.
    with pytest.raises(exception.UnexpectedTaskStateError) as e:
        v11.call(compute, 'instance_update_and_record',
                 instance_uuid=inst['uuid'],
                 values={'expected_task_state': 'networking'},
                 event_finish=dict(base, event='compute_build',
                                   result='Error'),
                 fault={'instance_uuid': inst['uuid'],
                        'message': 'not written', 'host': 'cmp-1'})
    assert type(e.value).__name__ == 'UnexpectedTaskStateError_Remote'
    assert e.value.kwargs['actual'] == 'spawning'
    # Another host may write no part.
    with pytest.raises(exception.HostScopeViolation):
        v11.call(dict(CONTEXT, compute_host='cmp-2'),
                 'instance_update_and_record', instance_uuid=inst['uuid'],
                 values={'progress': 1},
                 event_finish=dict(base, event='compute_build',
                                   result='Success'))
    done = v11.call(
        compute, 'instance_update_and_record', instance_uuid=inst['uuid'],
        values={'vm_state': 'active', 'task_state': None,
                'expected_task_state': 'spawning'},
        event_finish=dict(base, event='compute_build', result='Success'))
    assert (done['vm_state'], done['task_state']) == ('active', None)
    e = raises(exception.InvalidRequest, client.prepare(version='1.1'),
               'instance_update_and_record', instance_uuid=inst['uuid'],
               values={}, fault='boom')
    assert 'fault' in e.kwargs['reason']
