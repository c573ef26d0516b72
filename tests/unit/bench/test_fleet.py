import pytest

from nova_proxy.bench import fleet


def test_calls_per_node_follow_the_compute_options(config):
    # heartbeat 1/10 s, resources 3/60 s, power sync 1/60 s, a build of
    # 8 calls every 600 s
    expected = 1 / 10 + 3 / 60 + 1 / 60 + 8 / 600
    assert fleet.calls_per_node_per_s() == pytest.approx(expected)
    config.set_override('report_interval', 20, group='compute')
    assert fleet.calls_per_node_per_s() == pytest.approx(expected - 0.05)


def test_capacity_model():
    step = {'cpu_us_per_call': {'server': 1000.0, 'broker': 250.0,
                                'database': None}}
    model = fleet.capacity_model(step, per_node=0.2, fleet=10000,
                                 utilisation=0.5)
    # one core does 1000 calls/s of proxy work: 5000 nodes at 0.2 calls/s
    assert model['roles']['proxy']['nodes_per_core'] == 5000
    assert model['roles']['proxy']['cores_for_fleet'] == 4
    assert model['roles']['rabbitmq']['nodes_per_core'] == 20000
    assert 'database' not in model['roles']
    assert model['fleet_calls_per_s'] == 2000


class _FakeAPI:
    """Records the calls of the simulated nodes."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def call(ctx, *args, **kwargs):
            self.calls.append((name, ctx.compute_host))
            return [] if name.startswith('instance_get_all') else {}
        return call


class _FakeBench:
    proxies = ['p']
    progress = staticmethod(lambda message: None)

    def proxy_pids(self):
        return []

    def _meter(self, finder):
        from nova_proxy.bench import cpu
        return cpu.CpuMeter([cpu.CpuProbe('server', finder)])


def test_run_fleet_releases_every_task_of_every_node(monkeypatch):
    from nova_proxy.bench import workloads
    api = _FakeAPI()
    monkeypatch.setattr(workloads, 'remote_api', lambda: api)
    hosts = [workloads.Host('h%d' % n, n, n, 'h%d' % n, ['u%d' % n], 'r')
             for n in range(3)]
    # 600x: a heartbeat every 1/60 s, a build every second.
    step = fleet.run_fleet(_FakeBench(), hosts, duration=1.0, speedup=600)
    names = {name for name, _ in api.calls}
    assert {'service_heartbeat', 'instance_get_all_by_host',
            'migration_get_in_progress_by_host_and_node',
            'compute_node_update', 'action_event_start',
            'instance_update', 'action_event_finish'} <= names
    assert {host for _, host in api.calls} == {'h0', 'h1', 'h2'}
    assert step['errors'] == 0
    assert step['nodes'] == 1800
    assert step['calls_per_s'] > 0
    assert step['p99_ms'] is not None


def test_seed_hosts_bulk(db, admin_context):
    from nova_proxy.bench import workloads
    from nova_proxy.db import api as db_api
    hosts = workloads.seed_hosts_bulk('bulk', 3, instances_per_host=2)
    assert len(hosts) == 3
    host = hosts[1]
    service = db_api.service_get_by_host_and_binary(admin_context,
                                                    host.name, 'nova-compute')
    assert service['id'] == host.service_id
    node = db_api.compute_node_get_by_host_and_node(admin_context,
                                                    host.name, host.name)
    assert node['id'] == host.node_id
    instances = db_api.instance_get_all_by_host(admin_context, host.name)
    assert sorted(i['uuid'] for i in instances) == sorted(
        host.instance_uuids)
    assert instances[0]['metadata'] == {'role': 'bench'}
    # The build of a bulk-seeded node works on its rows.
    workloads.build_once(workloads.DirectAPI(), host,
                         host.context(remote=False))
