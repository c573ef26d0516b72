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
