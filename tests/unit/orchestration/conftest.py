"""Fixtures for orchestration unit tests: two compute hosts that are up,
an active instance on the first, a fake compute API, a runner."""

import threading

import pytest

from nova_proxy.db import api as db_api
from nova_proxy.orchestration import hooks
from nova_proxy.orchestration import runner as op_runner
from nova_proxy.proxy import liveness
from tests.unit.orchestration import fakes

HOSTS = ('cmp1', 'cmp2')
FLAVOR = {'name': 'm1.small', 'memory_mb': 512, 'vcpus': 1, 'root_gb': 1}
BIG = {'name': 'm1.large', 'memory_mb': 2048, 'vcpus': 2, 'root_gb': 10}


def add_compute(ctx, host, memory_mb=8192):
    service = db_api.service_create(ctx, {
        'host': host, 'binary': 'nova-compute',
        'topic': 'compute'})
    db_api.service_heartbeat(ctx, service['id'])
    db_api.compute_node_create(ctx, {
        'host': host, 'node': host, 'vcpus': 16, 'memory_mb': memory_mb,
        'local_gb': 100})
    return service


def add_instance(ctx, host='cmp1', vm_state='active', flavor=FLAVOR):
    """An instance as a read gives it (nova's create also brings its
    extra row)."""
    instance = db_api.instance_create(ctx, {
        'host': host, 'node': host, 'vm_state': vm_state,
        'task_state': None, 'power_state': 1,
        'instance_type_name': flavor['name'],
        'memory_mb': flavor['memory_mb'], 'vcpus': flavor['vcpus'],
        'root_gb': flavor['root_gb']})
    del instance['extra']
    return instance


@pytest.fixture
def orch(db, admin_context, config):
    config.set_override('compute_wait_deadline', 1, group='orchestration')
    config.set_override('poll_interval', 0.1, group='orchestration')
    config.set_override('service_down_time', 30, group='periodic')
    for host in HOSTS:
        add_compute(admin_context, host)
    liveness.heartbeat_once(admin_context, 'proxy-a', 'proxy-a')
    return admin_context


@pytest.fixture
def compute():
    return fakes.FakeCompute()


@pytest.fixture
def runner(orch, compute):
    return op_runner.Runner(orch, compute, hooks.StepHooks(''),
                            threading.Event())
