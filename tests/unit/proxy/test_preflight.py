"""``preflight.check_broker``: what it says before a proxy starts, for
transports it cannot connect to in a unit test."""

from nova_proxy.proxy import preflight


def test_the_direct_server_on_another_transport_is_refused(config):
    # The in-process transport has no connection to check: the default
    # server was once started on it and retried RabbitMQ forever.
    problem = preflight.check_broker(timeout=5)
    assert problem == (
        '[proxy] rpc_server = direct serves RabbitMQ only and '
        'transport_url is fake://: use rpc_server = oslo.messaging')


def test_oslo_messagings_server_on_another_transport_is_not(config):
    config.set_override('rpc_server', 'oslo.messaging', group='proxy')
    assert preflight.check_broker(timeout=5) is None


def test_a_port_that_is_no_number_is_one_line(config):
    config.set_override('transport_url', 'rabbit://u:p@h1:notaport/')
    problem = preflight.check_broker(timeout=5)
    assert problem.startswith('transport_url is not usable (')
    assert problem.endswith('fix it in the configuration file')


def test_a_transport_direct_cannot_serve_is_refused_before_its_driver(
        config):
    # kafka's driver needs a client library this host may lack: loading
    # it ended the start in a traceback.
    config.set_override('transport_url', 'kafka://k1:9092/')
    assert preflight.check_broker(timeout=5) == (
        '[proxy] rpc_server = direct serves RabbitMQ only and '
        'transport_url is kafka://: use rpc_server = oslo.messaging')
