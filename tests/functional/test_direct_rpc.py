"""``[proxy] rpc_server = direct`` (the default) beside oslo.messaging's
server, on the real RabbitMQ: what an operator changing it sees.

The rest of the functional suite runs on either server: the proxies it
starts are on the default unless ``NOVA_PROXY_TEST_RPC_SERVER``
(``procs.RPC_SERVER_VARIABLE``) names the other; ``tools/test.sh`` runs
the client-facing tests on ``oslo.messaging`` after the whole suite.
"""

import subprocess
import time

import oslo_messaging as messaging
import pytest

from nova_proxy.common import rpc
from nova_proxy import conf
from tests.functional import procs
from tests.functional.procs import wait_for

CONF = conf.CONF


def _server_client(name):
    return rpc.get_client(messaging.Target(topic=CONF.proxy.topic,
                                           server=name, version='1.0'))


def _consumers(queue):
    listed = subprocess.run(
        ['rabbitmqctl', '-q', 'list_queues', 'name', 'consumers'],
        check=True, timeout=120, capture_output=True, text=True).stdout
    for line in listed.splitlines():
        name, _, count = line.partition('\t')
        if name == queue:
            return int(count)
    return None


def test_proxies_of_both_kinds_serve_one_topic(pg_cluster):
    """A rolling change of ``rpc_server``: a proxy of each kind on the
    same topic. Both declare the same queues without a conflict, both
    consume the topic's queue, and a plain oslo.messaging client's calls
    are answered whichever serves them."""
    rpc.init()
    for name, kind in (('p-oslo', 'oslo.messaging'), ('p-direct', 'direct')):
        pg_cluster.start('proxy', name, extra={'proxy': {'rpc_server': kind}})
    for name in ('p-oslo', 'p-direct'):
        client = _server_client(name)
        wait_for(lambda: client.prepare(timeout=2).call(
            {}, 'ping', arg=name) == name, timeout=60,
            message='%s serving' % name)
    wait_for(lambda: _consumers(CONF.proxy.topic) == 2, timeout=30,
             message='both proxies consuming the topic queue')
    client = rpc.get_client(messaging.Target(topic=CONF.proxy.topic,
                                             version='1.0'), timeout=30)
    answers = [client.call({}, 'ping', arg=n) for n in range(60)]
    assert answers == list(range(60))
    for proc in pg_cluster.processes:
        assert 'PRECONDITION_FAILED' not in proc.log(), proc.name
        assert 'Traceback' not in proc.log(), proc.log()[-3000:]


@pytest.mark.parametrize('kind', ['oslo.messaging', 'direct'])
def test_a_control_exchange_declared_non_durable_first_is_shared(
        pg_cluster, rabbit, kind):
    """Another service declared the control exchange non-durable; this
    proxy is configured with ``amqp_durable_queues``. The broker refuses
    the durable declaration; both servers then declare the exchange and
    their queues non-durable (the driver's fall-back), log it once per
    queue and serve."""
    with procs.broker_connection() as conn:
        conn.channel().exchange_declare(rabbit, 'topic', durable=False,
                                        auto_delete=False)
    rpc.init()
    proc = pg_cluster.start('proxy', 'p-1', extra={
        'proxy': {'rpc_server': kind},
        'oslo_messaging_rabbit': {'amqp_durable_queues': 'true'}})
    client = _server_client('p-1')
    wait_for(lambda: client.prepare(timeout=2).call(
        {}, 'ping', arg='p-1') == 'p-1', timeout=60,
        message='p-1 serving')
    client = rpc.get_client(messaging.Target(topic=CONF.proxy.topic,
                                             version='1.0'), timeout=30)
    assert [client.call({}, 'ping', arg=n) for n in range(5)] == \
        list(range(5))
    log = proc.log()
    assert "inequivalent arg 'durable'" in log
    assert 'Traceback' not in log, log[-3000:]


@pytest.mark.parametrize('option,value', [('use_queue_manager', 'true'),
                                          ('kombu_compression', 'gzip')])
def test_an_option_it_does_not_support_stops_the_start_in_one_line(
        pg_cluster, option, value):
    proc = pg_cluster.start('proxy', 'p-direct', extra={
        'proxy': {'rpc_server': 'direct'},
        'oslo_messaging_rabbit': {option: value}})
    started = time.monotonic()
    proc.popen.wait(timeout=90)
    errors = [line for line in proc.log().splitlines() if ' ERROR ' in line]
    print('\nexit %d after %.1fs: %s' % (
        proc.popen.returncode, time.monotonic() - started, errors))
    assert proc.popen.returncode == 1
    assert len(errors) == 1, proc.log()
    assert ('Cannot start: [proxy] rpc_server = direct does not support '
            '[oslo_messaging_rabbit] %s' % option) in errors[0]
    assert 'Traceback' not in proc.log()
