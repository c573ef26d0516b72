import pytest

from nova_proxy.bench import fleet


def test_calls_per_node_are_nova_34_defaults():
    # heartbeat 1/10 s; update_available_resource 5/60 s; scheduler
    # sync 1/120 s; pending deletes, migrations in error and console
    # tokens 3/300 s; power sync 1 + 4 instances/600 s; running deleted
    # 1/1800 s; image cache 1/2400 s; a build of 9 calls every 600 s.
    expected = (1 / 10 + 5 / 60 + 1 / 120 + 3 / 300 + 5 / 600 + 1 / 1800 +
                1 / 2400 + 9 / 600)
    assert fleet.calls_per_node_per_s() == pytest.approx(expected)
    # Each task's count is the calls its function makes (see below).
    assert {name for name, _, _, _ in fleet.periodic_tasks()} == set(
        fleet.NOVA_INTERVALS) | {'build'}


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


def test_capacity_model_with_the_echo_floor():
    step = {'cpu_us_per_call': {'server': 1000.0, 'broker': 250.0}}
    echo = {'cpu_us_per_call': {'server': 500.0, 'broker': 240.0}}
    model = fleet.capacity_model(step, per_node=0.2, echo_step=echo)
    assert model['roles']['proxy']['cores_for_fleet'] == 4
    # The echo servers' CPU per call, in the same model: their cores.
    assert model['roles']['oslo echo (floor)']['cores_for_fleet'] == 2
    # The broker's is the proxies' fleet's, not the echo fleet's.
    assert model['roles']['rabbitmq']['cpu_us_per_call'] == 250.0
    # No raw AMQP floor measured: no row for it.
    assert 'raw AMQP echo (floor)' not in model['roles']


def test_capacity_model_with_both_floors():
    step = {'cpu_us_per_call': {'server': 1000.0, 'broker': 250.0}}
    echo = {'cpu_us_per_call': {'server': 500.0}}
    raw = {'cpu_us_per_call': {'server': 250.0, 'broker': 200.0}}
    model = fleet.capacity_model(step, per_node=0.2, echo_step=echo,
                                 amqp_echo_step=raw)
    assert model['roles']['oslo echo (floor)']['cores_for_fleet'] == 2
    assert model['roles']['raw AMQP echo (floor)']['cores_for_fleet'] == 1
    assert model['roles']['raw AMQP echo (floor)']['nodes_per_core'] == \
        20000
    assert model['roles']['rabbitmq']['cpu_us_per_call'] == 250.0


def test_capacity_model_with_the_database_floor():
    step = {'cpu_us_per_call': {'server': 1000.0, 'broker': 250.0}}
    echo = {'cpu_us_per_call': {'server': 500.0}}
    raw = {'cpu_us_per_call': {'server': 250.0}}
    # The proxies' own CPU in the driver's run is not a floor.
    driver = {'cpu_us_per_call': {'server': 1100.0, 'driver': 250.0}}
    model = fleet.capacity_model(step, per_node=0.2, echo_step=echo,
                                 amqp_echo_step=raw, driver_step=driver)
    roles = model['roles']
    assert roles['proxy']['cores_for_fleet'] == 4
    assert roles['psycopg2 in the proxies (floor)']['cores_for_fleet'] == 1
    # Each echo server with the driver: a proxy that added nothing.
    assert roles['oslo echo + psycopg2 (floor)']['cpu_us_per_call'] == 750
    assert roles['oslo echo + psycopg2 (floor)']['cores_for_fleet'] == 3
    assert roles['raw AMQP echo + psycopg2 (floor)']['cores_for_fleet'] == 2
    # Without an echo floor, no sum with it.
    model = fleet.capacity_model(step, per_node=0.2, driver_step=driver)
    assert set(model['roles']) == {'proxy', 'rabbitmq',
                                   'psycopg2 in the proxies (floor)'}


def test_an_echo_fleet_of_no_known_kind_is_refused():
    with pytest.raises(ValueError, match="no echo server of kind 'grpc'"):
        fleet.run_echo_fleet(None, [], 1.0, kind='grpc')


def test_echo_tasks_make_each_tasks_calls_to_the_echo_server():
    class Client:
        def __init__(self):
            self.payloads = []

        def call(self, payload):
            self.payloads.append(payload)

    payload = {'x': 1}
    tasks = fleet.echo_tasks(payload)
    assert [(n, i, c) for n, i, c, _ in tasks] == [
        (n, i, c) for n, i, c, _ in fleet.periodic_tasks()]
    for _, _, calls, task in tasks:
        client = Client()
        task(client, None, None)
        assert client.payloads == [payload] * calls


class _FakeAPI:
    """Records the calls of the simulated nodes."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def call(ctx, *args, **kwargs):
            self.calls.append((name, ctx.compute_host))
            return [] if '_get_all' in name else {}
        return call


class _FakeBench:
    proxies = ['p']
    host_key_file = None
    recorded_nonces = staticmethod(lambda signed_from: 0)
    progress = staticmethod(lambda message: None)

    def proxy_pids(self):
        return []

    def _meter(self, finder):
        from nova_proxy.bench import cpu
        return cpu.CpuMeter([cpu.CpuProbe('server', finder)])


def test_run_fleet_releases_every_task_of_every_node(monkeypatch):
    from nova_proxy.bench import workloads
    api = _FakeAPI()
    monkeypatch.setattr(workloads, 'nova_api', lambda: api)
    hosts = [workloads.Host('h%d' % n, n, n, 'h%d' % n, ['u%d' % n], 'r')
             for n in range(3)]
    # 2400x: a heartbeat every 1/240 s, the image cache pass and a
    # build every second or less.
    step = fleet.run_fleet(_FakeBench(), hosts, duration=1.5, speedup=2400)
    names = {name for name, _ in api.calls}
    # Every call of nova 34's mix, through nova's names.
    assert names == {
        'service_update', 'compute_node_get_all_by_host',
        'instance_get_all_by_host_and_node',
        'migration_get_in_progress_and_error_by_host_and_node',
        'block_device_mapping_get_all_by_instance_uuids',
        'compute_node_update', 'instance_get_all_by_host',
        'instance_get_all_by_filters_sort', 'migration_get_all_by_filters',
        'console_auth_token_destroy_expired_by_host',
        'instance_get_by_uuid',
        'action_event_start', 'instance_update_and_get_original',
        'action_event_finish'}
    assert {host for _, host in api.calls} == {'h0', 'h1', 'h2'}
    assert step['errors'] == 0
    assert step['nodes'] == 7200
    assert step['calls_per_s'] > 0
    assert step['p99_ms'] is not None


class _FakeEchoes:
    """What ``Bench.start_echo`` returns, recording its use."""

    payload = {'x': 1}

    def __init__(self, kind, names):
        self.kind, self.names = kind, names
        self.payloads = []
        self.shared = 0
        self.stopped = 0

    def shared_caller(self):
        self.shared += 1
        return self

    def call(self, payload):
        self.payloads.append(payload)

    def pids(self):
        return []

    def stop(self):
        self.stopped += 1


def test_an_echo_fleet_calls_its_servers_through_one_caller():
    from nova_proxy.bench import workloads
    bench = _FakeBench()
    started = []
    bench.start_echo = lambda kind, names: started.append(
        _FakeEchoes(kind, names)) or started[-1]
    hosts = [workloads.Host('h%d' % n, n, n, 'h%d' % n, ['u%d' % n], 'r')
             for n in range(3)]
    step = fleet.run_echo_fleet(bench, hosts, duration=1.5, speedup=2400,
                                kind='amqp')
    [echoes] = started
    assert (echoes.kind, echoes.names) == ('amqp',
                                           ['amqp-fleet-0', 'amqp-fleet-1'])
    assert echoes.shared == 1 and echoes.stopped == 1
    assert step['calls_per_s'] > 0 and echoes.payloads
    assert all(p is echoes.payload for p in echoes.payloads)
    assert step['errors'] == 0
    assert (step['proxy_processes'], step['echo_processes'],
            step['echo_kind']) == (0, 2, 'amqp')


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
