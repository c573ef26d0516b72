"""The reference compute service as a real process, with its database
layer blocked, against a real proxy process on RabbitMQ and PostgreSQL.

The compute's config file names the real database (``[database]
connection``), so only the guard stands between it and the database; the
compute reaches the database through the proxy only.
"""

import json
import os
import signal
import time

import oslo_messaging as messaging
import pytest

from nova_proxy.common import context as np_context
from nova_proxy.compute import rpcapi
from nova_proxy import conf
from nova_proxy.db import api as db
from nova_proxy.proxy import rpcapi as proxy_rpcapi
from nova_proxy import exception
from tests.functional.procs import wait_for

CONF = conf.CONF

FLAVOR = {'memory_mb': 512, 'vcpus': 1, 'root_gb': 1,
          'instance_type_name': 'm1.tiny'}
BIG = {'memory_mb': 1024, 'vcpus': 2, 'root_gb': 2, 'name': 'm1.small'}
COMPUTE_OPTIONS = {'compute': {'report_interval': '1',
                               'resource_update_interval': '1',
                               'sync_power_state_interval': '1',
                               'fake_copy_seconds': '4'},
                   'proxy_client': {'startup_ping_timeout': '60'}}


def ctx():
    return np_context.get_admin_context()


def wait_for_proxy():
    """Until a proxy answers: a call sent before any proxy declared its
    queue is dropped by the broker, and would wait its whole timeout."""
    api = proxy_rpcapi.ProxyAPI()
    wait_for(lambda: api.ping(ctx(), 'up', timeout=2) == 'up', timeout=60,
             message='a proxy to answer')


def start_computes(cluster, *hosts, env=None):
    """Start compute processes side by side and wait until all serve."""
    procs = [cluster.start('compute', host, extra=COMPUTE_OPTIONS, env=env)
             for host in hosts]
    for host, proc in zip(hosts, procs):
        wait_for(lambda: 'Compute service %s started' % host in proc.log(),
                 timeout=60, message='compute %s to start' % host)
    return procs


def effects(cluster, host):
    path = os.path.join(cluster.directory, 'state-' + host, 'fake-virt',
                        'effects.jsonl')
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_lifecycle_with_the_database_blocked(pg_cluster):
    pg_cluster.start('proxy', 'proxy-a')
    (compute,) = start_computes(pg_cluster, 'cmp-1')
    log = compute.log()
    # It holds the database URL, yet any database access is refused.
    with open(compute.conf_path) as f:
        assert pg_cluster.db_url in f.read()
    assert ('Direct database access is blocked in this process: a database '
            'call raises DBNotAllowed: nova-compute-proxy-compute attempted '
            'direct database access') in log

    # Service record heartbeating, compute node reported.
    service = wait_for(lambda: db.service_get_by_host_and_binary(
        ctx(), 'cmp-1', 'nova-compute'), message='service record')
    first = service['report_count']
    wait_for(lambda: db.service_get_by_host_and_binary(
        ctx(), 'cmp-1', 'nova-compute')['report_count'] >= first + 2,
        timeout=30, message='report_count to grow')
    node = db.compute_node_get_by_host_and_node(ctx(), 'cmp-1', 'cmp-1')
    assert (node['vcpus'], node['memory_mb']) == (CONF.compute.vcpus,
                                                  CONF.compute.memory_mb)

    api = rpcapi.ComputeAPI(timeout=30)
    uuid = db.instance_create(ctx(), dict(
        FLAVOR, host='cmp-1', vm_state='building',
        task_state='scheduling'))['uuid']
    built = api.build_and_run_instance(ctx(), 'cmp-1', uuid,
                                       operation_id='op-build')
    assert (built['vm_state'], built['task_state'], built['power_state'],
            built['host'], built['node']) == ('active', None, 1, 'cmp-1',
                                              'cmp-1')
    wait_for(lambda: db.compute_node_get_by_host_and_node(
        ctx(), 'cmp-1', 'cmp-1')['memory_mb_used'] == 512,
        timeout=30, message='used memory reported')

    assert api.stop_instance(ctx(), 'cmp-1', uuid)['vm_state'] == 'stopped'
    assert db.instance_get_by_uuid(ctx(), uuid)['power_state'] == 4
    assert api.start_instance(ctx(), 'cmp-1', uuid)['vm_state'] == 'active'
    deleted = api.terminate_instance(ctx(), 'cmp-1', uuid)
    assert deleted['deleted'] and deleted['vm_state'] == 'deleted'
    with pytest.raises(exception.InstanceNotFound):
        db.instance_get_by_uuid(ctx(), uuid)

    recorded = {a['action']: a
                for a in db.actions_get_with_events(ctx(), uuid)}
    assert set(recorded) == {'create', 'stop', 'start', 'delete'}
    assert all(a['events'][0]['result'] == 'Success' and
               a['events'][0]['host'] == 'cmp-1' and a['finish_time']
               for a in recorded.values())
    assert [e['step'] for e in effects(pg_cluster, 'cmp-1')] == [
        'spawn', 'power_off', 'power_on', 'destroy']
    wait_for(lambda: db.compute_node_get_by_host_and_node(
        ctx(), 'cmp-1', 'cmp-1')['memory_mb_used'] == 0,
        timeout=30, message='released memory reported')

    # A bad request gets a named error; the compute keeps serving.
    with pytest.raises(exception.InvalidRequest):
        api.prep_resize(ctx(), 'cmp-1', uuid, 'one', BIG, 'op-x')
    assert api.get_driver_state(ctx(), 'cmp-1')['instances'] == {}
    assert 'DBNotAllowed' not in compute.log().replace(
        'raises DBNotAllowed', '')
    assert compute.alive()


def test_resize_steps_between_two_computes(pg_cluster):
    pg_cluster.start('proxy', 'proxy-a')
    src, _ = start_computes(pg_cluster, 'cmp-src', 'cmp-dst')
    # oslo.messaging heartbeats every call_monitor_timeout / 2 seconds
    # (at least 1), so 2 is the tightest monitor that works.
    api = rpcapi.ComputeAPI(timeout=30, call_monitor_timeout=2)
    uuid = db.instance_create(ctx(), dict(
        FLAVOR, host='cmp-src', vm_state='building'))['uuid']
    api.build_and_run_instance(ctx(), 'cmp-src', uuid)
    mig = db.migration_create(ctx(), {
        'instance_uuid': uuid, 'source_compute': 'cmp-src',
        'dest_compute': 'cmp-dst', 'source_node': 'cmp-src',
        'dest_node': 'cmp-dst', 'status': 'migrating'})['id']

    claim = api.prep_resize(ctx(), 'cmp-dst', uuid, mig, BIG, 'op-1')
    assert claim['claim']['host'] == 'cmp-dst'
    # The copy takes 4s, twice call_monitor_timeout: the compute's
    # heartbeats keep the call alive, and the progress reaches the record.
    started = time.monotonic()
    assert api.resize_instance(ctx(), 'cmp-src', uuid, mig, 'op-1') == {}
    assert time.monotonic() - started >= 4
    assert db.migration_get(ctx(), mig)['progress'] == 100
    # A retry (a resumed operation) answers from the ledger.
    api.resize_instance(ctx(), 'cmp-src', uuid, mig, 'op-1')
    api.finish_resize(ctx(), 'cmp-dst', uuid, mig, BIG, 'op-1')
    api.confirm_resize(ctx(), 'cmp-src', uuid, mig, 'op-1')
    assert api.get_driver_state(ctx(), 'cmp-src')['instances'] == {}
    dest = api.get_driver_state(ctx(), 'cmp-dst')
    assert dest['instances'][uuid]['memory_mb'] == 1024
    assert [e['step'] for e in effects(pg_cluster, 'cmp-src')] == [
        'spawn', 'resize_instance', 'confirm_resize']
    assert [e['step'] for e in effects(pg_cluster, 'cmp-dst')] == [
        'prep_resize', 'finish_resize']

    # A compute that dies in a long step is noticed within seconds.
    mig2 = db.migration_create(ctx(), {
        'instance_uuid': uuid, 'source_compute': 'cmp-src',
        'dest_compute': 'cmp-dst', 'status': 'migrating'})['id']
    wait_for(lambda: not src.signal(signal.SIGKILL) and not src.alive(),
             message='source compute to die')
    started = time.monotonic()
    with pytest.raises(messaging.MessagingTimeout):
        api.resize_instance(ctx(), 'cmp-src', uuid, mig2, 'op-2')
    assert time.monotonic() - started < 10


def test_failure_injection_through_the_environment(pg_cluster):
    pg_cluster.start('proxy', 'proxy-a')
    start_computes(pg_cluster, 'cmp-f',
                   env={'NOVA_PROXY_FAKE_FAIL_STEPS': 'spawn'})
    uuid = db.instance_create(ctx(), dict(
        FLAVOR, host='cmp-f', vm_state='building'))['uuid']
    with pytest.raises(exception.StepFailed):
        rpcapi.ComputeAPI(timeout=30).build_and_run_instance(ctx(), 'cmp-f',
                                                             uuid)
    instance = db.instance_get_by_uuid(ctx(), uuid)
    assert (instance['vm_state'], instance['task_state']) == ('error', None)
    faults = db.instance_fault_get_by_instance_uuids(ctx(), [uuid])[uuid]
    assert 'injected failure' in faults[0]['message']
    node = db.compute_node_get_by_host_and_node(ctx(), 'cmp-f', 'cmp-f')
    assert node['memory_mb_used'] == 0
