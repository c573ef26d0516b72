"""Replayed calls on real processes: two proxies on RabbitMQ and
PostgreSQL requiring signatures, and the test process as a root attacker
on compute-1's node who copies its signed calls off the wire.

The attacker binds a queue of its own to the proxies' topic (what the one
broker user every process shares allows), so it gets a copy of each call,
then publishes the copy again, untouched or with its own reply queue, to
one proxy's own queue (``<topic>.<proxy>``). It gives each copy a new
``_unique_id``, as an attacker would: oslo.messaging's per-process cache
of those is not what stops it.
"""

import json
import uuid

import kombu
import pytest

from nova_proxy.common import context as np_context
from nova_proxy.common import key_cli
from nova_proxy.common import keys as key_files
from nova_proxy.compute import rpcapi as compute_rpcapi
from nova_proxy import conf
from nova_proxy import exception
from nova_proxy.proxy import rpcapi as proxy_rpcapi
from tests.functional import procs
from tests.functional.procs import wait_for

CONF = conf.CONF

PROXIES = ('proxy-a', 'proxy-b')


def admin():
    return np_context.get_admin_context()


class Attacker:
    """Copies the calls published to ``topic`` and publishes them again."""

    def __init__(self, exchange, topic, server=None):
        """Copies what is published to ``topic``, or to ``server``'s own
        queue of it."""
        self.exchange = kombu.Exchange(exchange, type='topic',
                                       durable=False)
        self.topic = topic
        # kombu names oslo.messaging's rabbit:// scheme amqp://.
        self.connection = kombu.Connection(
            'amqp://' + procs.RABBIT_URL.split('://', 1)[1])
        self.channel = self.connection.channel()
        self.tap = kombu.Queue(
            'tap-' + uuid.uuid4().hex, self.exchange,
            routing_key=topic if server is None else '%s.%s' % (topic,
                                                                server),
            auto_delete=True, channel=self.channel)
        self.tap.declare()
        self.reply_q = 'reply_' + uuid.uuid4().hex
        self.replies = kombu.Queue(self.reply_q, auto_delete=True,
                                   channel=self.channel)
        self.replies.declare()
        self.producer = kombu.Producer(self.channel)

    def close(self):
        # Auto-delete removes a queue once its last consumer goes; these
        # were only read with basic.get, so they would stay.
        for queue in (self.tap, self.replies):
            try:
                queue.delete()
            except Exception:
                pass
        self.connection.release()

    def captured(self, method):
        """The next copied call of ``method``, as the broker carried it."""
        def next_call():
            message = self.tap.get(no_ack=True)
            if message is None:
                return None
            envelope = json.loads(message.body)
            call = json.loads(envelope['oslo.message'])
            return envelope if call.get('method') == method else None
        return wait_for(next_call, timeout=10,
                        message='a copy of %s' % method)

    def replay(self, envelope, server, reply_q=None):
        call = json.loads(envelope['oslo.message'])
        call['_unique_id'] = uuid.uuid4().hex
        if reply_q is not None:
            call['_reply_q'] = reply_q
        body = json.dumps(dict(envelope, **{'oslo.message': json.dumps(call)}))
        self.producer.publish(body, exchange=self.exchange,
                              routing_key='%s.%s' % (self.topic, server),
                              content_type='application/json',
                              content_encoding='utf-8')

    def reply(self):
        """The next answer sent to the attacker's own reply queue."""
        def next_reply():
            message = self.replies.get(no_ack=True)
            if message is None:
                return None
            return json.loads(json.loads(message.body)['oslo.message'])
        return wait_for(next_reply, timeout=15, message='an answer')


@pytest.fixture
def replay_cluster(pg_cluster, tmp_path):
    keys = tmp_path / 'keys'
    key_cli.create(host='compute-1', directory=str(keys))
    key_cli.create(proxy=True, directory=str(keys))
    extra = {'proxy': {'host_keys_dir': str(keys),
                       'require_signed_context': 'true'}}
    proxies = {name: pg_cluster.start('proxy', name, extra=extra)
               for name in PROXIES}
    CONF.set_override('host_keys_dir', str(keys), group='proxy')
    CONF.set_override('retries', 0, group='proxy_client')
    key_files.reset()
    operator = proxy_rpcapi.ProxyAPI(timeout=10)
    for name in PROXIES:
        wait_for(lambda: 'Proxy worker %s starting' % name in
                 proxies[name].log(), timeout=60,
                 message='%s to start' % name)
    wait_for(lambda: operator.ping(admin(), 'up', timeout=2) == 'up',
             timeout=60, message='a proxy to answer a signed ping')
    attacker = Attacker(pg_cluster.exchange, CONF.proxy.topic)
    yield pg_cluster, keys, proxies, operator, attacker, extra
    attacker.close()


def as_compute_1(keys):
    CONF.set_override('key_file', str(keys / 'compute-1.key'),
                      group='proxy_client')
    CONF.set_override('host', 'compute-1')
    return proxy_rpcapi.ProxyAPI(timeout=10)


def _refusals(proc):
    return proc.log().count(
        'Refused instance_update from host:compute-1: replayed call')


def _consuming(proc, count):
    return lambda: proc.log().count(
        'Proxy worker %s starting' % proc.name) >= count


def test_captured_call_is_refused_by_every_proxy_and_after_restarts(
        replay_cluster):
    cluster, keys, proxies, operator, attacker, extra = replay_cluster
    instance = operator.instance_create(admin(), {
        'host': 'compute-1', 'node': 'compute-1', 'vm_state': 'active'})
    compute_1 = as_compute_1(keys)
    # The legitimate call passes.
    assert compute_1.instance_update(
        np_context.get_compute_context('compute-1'), instance['uuid'],
        {'display_name': 'first'})['display_name'] == 'first'
    copy = attacker.captured('instance_update')
    CONF.clear_override('key_file', group='proxy_client')
    operator.instance_update(admin(), instance['uuid'],
                             {'display_name': 'later'})

    for name in PROXIES:
        attacker.replay(copy, name)
        wait_for(lambda: _refusals(proxies[name]) == 1, timeout=15,
                 message='%s to refuse the replay' % name)

    for name in PROXIES:
        proxies[name].stop()
        proxies[name] = cluster.start('proxy', name, extra=extra)
        wait_for(_consuming(proxies[name], 2), timeout=60,
                 message='%s to start again' % name)
    wait_for(lambda: operator.ping(admin(), 'up', timeout=2) == 'up',
             timeout=60, message='a restarted proxy to answer')
    for name in PROXIES:
        attacker.replay(copy, name)
        wait_for(lambda: _refusals(proxies[name]) == 2, timeout=15,
                 message='%s to refuse the replay after a restart' % name)

    assert operator.instance_get_by_uuid(
        admin(), instance['uuid'])['display_name'] == 'later'
    # compute-1's own calls still pass after the restarts.
    compute_1 = as_compute_1(keys)
    assert compute_1.instance_get_by_uuid(
        np_context.get_compute_context('compute-1'),
        instance['uuid'])['display_name'] == 'later'
    for proc in proxies.values():
        assert proc.alive()


def test_captured_heartbeat_is_refused_and_counts_nothing(replay_cluster):
    """nova's heartbeat carries its nonce in the UPDATE's own query
    (``nonces.RidingNonce``): its replay fails on the nonce's key, and
    its UPDATE with it, on every proxy."""
    cluster, keys, proxies, operator, attacker, extra = replay_cluster
    service = operator.service_create(admin(), {
        'host': 'compute-1', 'binary': 'nova-compute', 'topic': 'compute',
        'report_count': 0})
    compute_1 = as_compute_1(keys)
    context = np_context.get_compute_context('compute-1')
    assert compute_1.service_update(context, service['id'], {
        'report_count': 1})['report_count'] == 1
    copy = attacker.captured('service_update')
    assert compute_1.service_update(context, service['id'], {
        'report_count': 2})['report_count'] == 2
    refused = 'Refused service_update from host:compute-1: replayed call'
    for name in PROXIES:
        attacker.replay(copy, name)
        wait_for(lambda: proxies[name].log().count(refused) == 1,
                 timeout=15, message='%s to refuse the replay' % name)
    CONF.clear_override('key_file', group='proxy_client')
    stored = operator.service_get_by_host_and_binary(
        admin(), 'compute-1', 'nova-compute')
    assert stored['report_count'] == 2
    for proc in proxies.values():
        assert proc.alive()


def test_replay_with_its_own_reply_queue_gets_no_answer(replay_cluster):
    cluster, keys, proxies, operator, attacker, extra = replay_cluster
    instance = operator.instance_create(admin(), {
        'host': 'compute-1', 'node': 'compute-1', 'vm_state': 'active',
        'display_name': 'secret'})
    compute_1 = as_compute_1(keys)
    compute_1.instance_get_by_uuid(
        np_context.get_compute_context('compute-1'), instance['uuid'])
    copy = attacker.captured('instance_get_by_uuid')

    for name in PROXIES:
        attacker.replay(copy, name, reply_q=attacker.reply_q)
        answer = attacker.reply()
        assert answer.get('result') is None
        failure = json.loads(answer['failure'])
        assert failure['class'] == exception.NotAuthenticated.__name__
        assert 'bad signature' in failure['message']
        assert 'secret' not in json.dumps(answer)


def test_captured_call_to_a_compute_is_refused_after_its_restart(
        replay_cluster):
    """A proxy's call to compute-1 (signed with compute-1's key, for
    compute-1), copied off compute-1's queue: compute-1 refuses it, also
    after a restart (its nonces are in a file of its state_path)."""
    cluster, keys, proxies, operator, attacker, extra = replay_cluster
    compute_extra = {
        'proxy_client': {'key_file': str(keys / 'compute-1.key'),
                         'startup_ping_timeout': '60'},
        'compute': {'require_signed_context': 'true'}}
    compute = cluster.start('compute', 'compute-1', extra=compute_extra)
    started = 'Compute service compute-1 started'
    wait_for(lambda: started in compute.log(), timeout=60,
             message='compute-1 to start')
    tap = Attacker(cluster.exchange, CONF.compute.topic, server='compute-1')
    try:
        # This process holds the keys dir: it calls as a proxy does.
        assert 'instances' in compute_rpcapi.ComputeAPI(
            timeout=10).get_driver_state(admin(), 'compute-1')
        copy = tap.captured('get_driver_state')
        refused = ('Refused get_driver_state from host:compute-1: replayed '
                   'call')
        tap.replay(copy, 'compute-1')
        wait_for(lambda: compute.log().count(refused) == 1, timeout=15,
                 message='compute-1 to refuse the replay')
        compute.stop()
        compute = cluster.start('compute', 'compute-1', extra=compute_extra)
        wait_for(lambda: compute.log().count(started) == 2, timeout=60,
                 message='compute-1 to start again')
        tap.replay(copy, 'compute-1')
        wait_for(lambda: compute.log().count(refused) == 2, timeout=15,
                 message='compute-1 to refuse it after a restart')
        # The proxies' calls to it still pass.
        assert 'instances' in compute_rpcapi.ComputeAPI(
            timeout=10).get_driver_state(admin(), 'compute-1')
    finally:
        tap.close()
