"""What a root attacker on one compute node can send a proxy without any
key, against a real proxy process on RabbitMQ and PostgreSQL that
requires signed calls.

The attacker writes raw AMQP messages with kombu, as it would: calls
whose reply queue does not exist or is missing, envelopes of the wrong
shape, unknown methods and versions, forged signatures. Each test says
what today's proxies must hold to: a legitimate call still answered in
its timeout, a stop still drained in its normal time, quiet logs, error
replies without internals, nothing stored out of bounds.
"""

import signal
import subprocess
import uuid

import oslo_messaging as messaging
import pytest

from nova_proxy.bench import attack
from nova_proxy.common import context as np_context
from nova_proxy import conf
from nova_proxy import exception
from nova_proxy.proxy import rpcapi as proxy_rpcapi
from tests.functional import procs
from tests.functional.procs import wait_for

CONF = conf.CONF

# The time a stop takes with nothing in flight, and some: far below the
# minute a reply to a missing queue used to hold a thread.
STOP_TIMEOUT = 20


def admin():
    return np_context.get_admin_context()


@pytest.fixture
def guarded(signed_cluster):
    cluster, keys, proxy, operator = signed_cluster
    attacker = attack.BadTraffic(procs.RABBIT_URL, CONF.control_exchange,
                                 CONF.proxy.topic)
    yield proxy, operator, attacker
    attacker.close()


def _stops_in_time(proxy):
    proxy.signal(signal.SIGTERM)
    try:
        proxy.popen.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail('the proxy did not stop within %ds' % STOP_TIMEOUT)


def test_a_burst_without_keys_stalls_neither_calls_nor_stop(guarded):
    proxy, operator, attacker = guarded
    # Unsigned or forged, naming a missing reply queue or none, malformed,
    # unknown methods.
    attacker.burst(1000)
    # Sent after the burst: served within its own timeout.
    assert operator.ping(admin(), 'still here') == 'still here'
    created = operator.instance_create(admin(), {'host': 'compute-1'})
    assert operator.instance_get_by_uuid(
        admin(), created['uuid'])['host'] == 'compute-1'
    _stops_in_time(proxy)
    log = proxy.log()
    assert 'Traceback' not in log
    # One line per kind and source; all five kinds said.
    warnings = [line for line in log.splitlines()
                if ' WARNING nova_proxy' in line]
    assert len(warnings) <= 12, warnings
    for kind in ('not_authenticated', 'no_reply_address', 'malformed',
                 'unknown_method', 'reply_undeliverable'):
        assert '[%s:' % kind in log


def _plain_client(version='1.0'):
    """No project code on the wire: errors arrive as RemoteError with
    the server's traceback field as sent."""
    transport = messaging.get_rpc_transport(CONF)
    target = messaging.Target(topic=CONF.proxy.topic, version=version)
    return transport, messaging.get_rpc_client(transport, target,
                                               timeout=10)


def _remote_error(client, method, **kwargs):
    with pytest.raises(messaging.RemoteError) as error:
        client.call({'compute_host': 'compute-1'}, method, **kwargs)
    return error.value


def _no_internals(text):
    for leak in ('Traceback', '.py', 'site-packages', 'INSERT', 'SELECT',
                 'psycopg', 'sqlalchemy'):
        assert leak not in text, text


def test_refusals_are_named_without_internals_and_logged_once(guarded):
    proxy, operator, attacker = guarded
    transport, client = _plain_client()
    _, newer = _plain_client(version='9.0')
    try:
        for _ in range(30):
            error = _remote_error(client, 'no_such_method')
            assert error.exc_type == 'NoSuchMethod'
            _no_internals(''.join(error.traceback or []) + error.value)
            error = _remote_error(newer, 'instance_get_by_uuid',
                                  instance_uuid=str(uuid.uuid4()))
            assert error.exc_type == 'UnsupportedVersion'
            _no_internals(''.join(error.traceback or []) + error.value)
            error = _remote_error(client, 'instance_get_by_uuid',
                                  instance_uuid=str(uuid.uuid4()))
            assert error.exc_type == 'NotAuthenticated'
            _no_internals(''.join(error.traceback or []) + error.value)
            attacker.publish('not json at all', serializer='raw')
            attacker.publish({'oslo.version': '9.0', 'oslo.message': '{}'})
            attacker.publish({'oslo.version': '2.0',
                              'oslo.message': '{not json'})
            attacker.call(reply_q='compute_proxy')  # not a reply queue
            attacker.call(msg_id=['a', 'list'])
            attacker.call(_timeout=['a', 'list'])
    finally:
        transport.cleanup()
    assert operator.ping(admin(), 'up') == 'up'
    log = proxy.log()
    assert 'Traceback' not in log and ' ERROR ' not in log
    for kind in ('unknown_method', 'bad_version', 'not_authenticated'):
        assert log.count('[%s:' % kind) == 1, kind
    # Three sources of malformed traffic (the queue, two claims), one
    # line each.
    assert 1 <= log.count('[malformed:') <= 3
    assert log.count('[no_reply_address:') == 1
    assert proxy.alive()


def test_an_exists_error_carries_no_sql(guarded):
    proxy, operator, attacker = guarded
    created = operator.instance_create(admin(), {'host': 'compute-1'})
    with pytest.raises(exception.InstanceExists) as error:
        operator.instance_create(admin(), {'host': 'compute-1',
                                           'uuid': created['uuid']})
    assert error.value.kwargs == {'instance_uuid': created['uuid']}
    _no_internals(str(error.value))


@pytest.mark.parametrize('values, error', [
    ({'memory_mb': -5}, exception.InvalidUpdate),
    ({'vcpus': '5'}, exception.InvalidUpdate),
    ({'metadata': {'k': 'v' * 256}}, exception.InvalidUpdate),
    ({'metadata': {'k%d' % i: 'v' for i in range(10000)}},
     exception.InvalidUpdate),
    ({'uuid': str(uuid.uuid4()).upper()}, exception.InvalidUUID),
    ({'uuid': uuid.uuid4().hex}, exception.InvalidUUID),
])
def test_values_out_of_bounds_are_refused_and_not_stored(guarded, values,
                                                         error):
    proxy, operator, attacker = guarded
    with pytest.raises(error):
        operator.instance_create(admin(), dict(values, host='compute-1'))
    assert operator.instance_get_all_by_host(admin(), 'compute-1') == []


def test_a_request_above_max_request_bytes_is_dropped_unread(guarded):
    proxy, operator, attacker = guarded
    impatient = proxy_rpcapi.ProxyAPI(timeout=3)
    with pytest.raises(messaging.MessagingTimeout):
        impatient.instance_create(admin(), {
            'host': 'compute-1', 'metadata': {'k': 'v' * 2 * 1024 * 1024}})
    assert operator.instance_get_all_by_host(admin(), 'compute-1') == []
    wait_for(lambda: '[too_large:' in proxy.log(), timeout=10,
             message='the proxy to log the dropped request')
    assert 'Traceback' not in proxy.log()


def test_a_stop_during_a_burst_drains_in_time(guarded):
    proxy, operator, attacker = guarded
    for _ in range(200):
        attacker.call()
    _stops_in_time(proxy)
