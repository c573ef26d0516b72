"""The broker side of ``direct_rpc`` (``direct_amqp``): the queues an RPC
server declares, compared with what oslo.messaging's rabbit driver
declares for the same options; the hosts and TLS settings read from
``transport_url``; the reply envelope; and the reply publisher's retries,
against fake connections (no broker)."""

import collections
import datetime
import json
import re
import ssl

import amqp
from oslo_config import cfg
from oslo_messaging._drivers import amqp as rpc_amqp
from oslo_messaging._drivers import common as rpc_common
from oslo_messaging._drivers import impl_rabbit
from oslo_messaging import transport as messaging_transport
from oslo_serialization import jsonutils
import pytest

from nova_proxy.common import direct_amqp

GROUP = 'oslo_messaging_rabbit'


def _conf(url='rabbit://', **rabbit):
    """A private ConfigOpts with oslo.messaging's rabbit options."""
    conf = cfg.ConfigOpts()
    conf.register_opts(messaging_transport._transport_opts)
    conf.register_opts(impl_rabbit.rabbit_opts, group=GROUP)
    conf.register_opts(rpc_amqp.amqp_opts, group=GROUP)
    conf.set_override('transport_url', url)
    for name, value in rabbit.items():
        conf.set_override(name, value, group=GROUP)
    return conf


def _driver_consumers(conf, monkeypatch, exchange, topic, server):
    """The ``impl_rabbit.Consumer`` objects oslo.messaging's rabbit driver
    declares for an RPC server (``RabbitDriver.listen``), built by the
    driver's own ``Connection``, which is kept from connecting."""
    consumers = []
    monkeypatch.setattr(impl_rabbit.Connection, 'ensure_connection',
                        lambda self: None)
    monkeypatch.setattr(impl_rabbit.Connection, 'declare_consumer',
                        lambda self, consumer: consumers.append(consumer))
    url, _ = direct_amqp._options(conf)
    proxy = rpc_common.ConfigOptsProxy(conf, url, GROUP)
    conn = impl_rabbit.Connection(proxy, url, rpc_common.PURPOSE_LISTEN)
    try:
        conn.declare_topic_consumer(exchange_name=exchange, topic=topic)
        conn.declare_topic_consumer(exchange_name=exchange,
                                    topic='%s.%s' % (topic, server))
        conn.declare_fanout_consumer(topic, None)
    finally:
        conn.connection.release()
    return consumers


FANOUT_NAME = re.compile(r'^compute_proxy_fanout_[0-9a-f]{32}\Z')

OPTIONS = {
    'defaults': {},
    'quorum': dict(rabbit_quorum_queue=True,
                   rabbit_transient_quorum_queue=True,
                   rabbit_quorum_delivery_limit=5),
    'quorum memory': dict(rabbit_quorum_queue=True,
                          rabbit_quorum_max_memory_length=10,
                          rabbit_quorum_max_memory_bytes=4096),
    'ha': dict(rabbit_ha_queues=True),
    'ttl': dict(rabbit_transient_queues_ttl=60),
    'no ttl': dict(rabbit_transient_queues_ttl=0),
    'durable': dict(amqp_durable_queues=True),
    'auto delete': dict(amqp_auto_delete=True),
    'cancel on failover': dict(enable_cancel_on_failover=True),
}


@pytest.mark.parametrize('options', OPTIONS.values(), ids=list(OPTIONS))
def test_declarations_are_the_drivers(options, monkeypatch):
    conf = _conf(**options)
    rabbit = direct_amqp._options(conf)[1]
    ours = direct_amqp.declarations(rabbit, 'nova', 'compute_proxy', 'h1')
    theirs = _driver_consumers(conf, monkeypatch, 'nova', 'compute_proxy',
                               'h1')

    assert len(ours) == len(theirs) == 3
    for mine, consumer in zip(ours, theirs):
        if consumer.type == 'fanout':
            # A new uuid each time, on both sides.
            assert FANOUT_NAME.match(mine.queue)
            assert FANOUT_NAME.match(consumer.queue_name)
        else:
            assert mine.queue == consumer.queue_name
        assert mine.exchange == consumer.exchange_name
        assert mine.exchange_type == consumer.type
        assert mine.exchange_durable == consumer.exchange.durable
        assert mine.exchange_auto_delete == consumer.exchange.auto_delete
        assert mine.queue_durable == consumer.durable
        assert mine.queue_auto_delete == consumer.queue_auto_delete
        assert mine.queue_arguments == consumer.queue_arguments
        assert mine.routing_key == consumer.routing_key
        assert mine.consumer_arguments == (
            {'x-cancel-on-ha-failover': True}
            if consumer.enable_cancel_on_failover else None)


def _by_queue(declarations):
    return {('fanout' if d.exchange_type == 'fanout' else d.queue): d
            for d in declarations}


def test_declarations_with_the_default_options():
    rabbit = direct_amqp._options(_conf())[1]
    d = _by_queue(direct_amqp.declarations(rabbit, 'nova', 'compute_proxy',
                                           'h1'))
    assert set(d) == {'compute_proxy', 'compute_proxy.h1', 'fanout'}
    for name in ('compute_proxy', 'compute_proxy.h1'):
        assert d[name] == direct_amqp.Declaration(
            exchange='nova', exchange_type='topic', exchange_durable=False,
            exchange_auto_delete=False, queue=name, queue_durable=False,
            queue_auto_delete=False, queue_arguments={}, routing_key=name,
            consumer_arguments=None)
    fanout = d['fanout']
    assert FANOUT_NAME.match(fanout.queue)
    assert fanout._replace(queue=None) == direct_amqp.Declaration(
        exchange='compute_proxy_fanout', exchange_type='fanout',
        exchange_durable=False, exchange_auto_delete=True, queue=None,
        queue_durable=False, queue_auto_delete=False,
        queue_arguments={'x-expires': 1800000},
        routing_key='compute_proxy', consumer_arguments=None)


def test_declarations_of_quorum_queues():
    rabbit = direct_amqp._options(_conf(
        rabbit_quorum_queue=True, rabbit_transient_quorum_queue=True,
        rabbit_quorum_delivery_limit=5))[1]
    d = _by_queue(direct_amqp.declarations(rabbit, 'nova', 'compute_proxy',
                                           'h1'))
    for name in ('compute_proxy', 'compute_proxy.h1'):
        assert d[name].queue_durable and d[name].exchange_durable
        assert d[name].queue_arguments == {'x-queue-type': 'quorum',
                                           'x-delivery-limit': 5}
    assert d['fanout'].queue_durable and d['fanout'].exchange_durable
    assert d['fanout'].exchange_auto_delete
    assert not d['fanout'].queue_auto_delete
    assert d['fanout'].queue_arguments == {'x-queue-type': 'quorum',
                                           'x-delivery-limit': 5,
                                           'x-expires': 1800000}


def test_declarations_of_ha_and_cancel_on_failover_from_the_url():
    # Query parameters of transport_url override the options.
    conf = _conf('rabbit://h1/?rabbit_ha_queues=true'
                 '&enable_cancel_on_failover=true&amqp_durable_queues=true')
    rabbit = direct_amqp._options(conf)[1]
    d = _by_queue(direct_amqp.declarations(rabbit, 'nova', 'compute_proxy',
                                           'h1'))
    assert d['compute_proxy'].queue_arguments == {'x-ha-policy': 'all'}
    assert d['compute_proxy'].queue_durable
    assert d['fanout'].queue_arguments == {'x-ha-policy': 'all',
                                           'x-expires': 1800000}
    assert not d['fanout'].queue_durable
    assert all(x.consumer_arguments == {'x-cancel-on-ha-failover': True}
               for x in d.values())


def test_a_new_fanout_queue_on_each_call():
    rabbit = direct_amqp._options(_conf())[1]
    names = {direct_amqp.declarations(rabbit, 'nova', 'compute_proxy',
                                      'h1')[2].queue for _ in range(3)}
    assert len(names) == 3
    assert all(FANOUT_NAME.match(name) for name in names)


def test_declare_declares_binds_and_passes_no_empty_arguments():
    calls = []

    class Channel:
        def __getattr__(self, name):
            return lambda *a, **kw: calls.append((name, a, kw))

    rabbit = direct_amqp._options(_conf())[1]
    topic, _, fanout = direct_amqp.declarations(rabbit, 'nova', 'cp', 'h1')
    assert isinstance(direct_amqp.declare(Channel(), topic, None), Channel)
    direct_amqp.declare(Channel(), fanout, None)
    assert calls[:3] == [
        ('exchange_declare', ('nova', 'topic'),
         {'durable': False, 'auto_delete': False}),
        ('queue_declare', ('cp',),
         {'durable': False, 'auto_delete': False, 'arguments': None}),
        ('queue_bind', ('cp', 'nova'), {'routing_key': 'cp'})]
    assert calls[4][2]['arguments'] == {'x-expires': 1800000}


class _RefusingChannel:
    """Records what is declared on it; ``refuse`` maps a method name to
    the error the broker answers it with (once, on this channel)."""

    def __init__(self, calls, number, refuse=None):
        self.calls = calls
        self.number = number
        self.refuse = dict(refuse or {})
        self.collected = False

    def __getattr__(self, name):
        def method(*args, **kwargs):
            self.calls.append((self.number, name, args, kwargs))
            if name in self.refuse:
                raise self.refuse.pop(name)
        return method

    def collect(self):
        self.collected = True


def _reopener(calls, refuse_next=None):
    opened = []

    def reopen(closed):
        closed.collect()
        channel = _RefusingChannel(calls, len(opened) + 2, refuse_next)
        opened.append(channel)
        return channel
    return reopen, opened


def test_declare_falls_back_to_non_durable_as_the_driver_does():
    """A control exchange another service declared non-durable first,
    with ``amqp_durable_queues``: declared again non-durable on a new
    channel (the broker closed the refused one)."""
    calls = []
    rabbit = direct_amqp._options(_conf(amqp_durable_queues=True))[1]
    topic = direct_amqp.declarations(rabbit, 'nova', 'cp', 'h1')[0]
    assert topic.exchange_durable and topic.queue_durable
    first = _RefusingChannel(calls, 1, {
        'exchange_declare': amqp.exceptions.PreconditionFailed(
            "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange "
            "'nova' in vhost '/': received 'true' but current is 'false'")})
    reopen, opened = _reopener(calls)
    channel = direct_amqp.declare(first, topic, reopen)
    assert first.collected and channel is opened[0]
    assert [c[:2] for c in calls] == [
        (1, 'exchange_declare'), (2, 'exchange_declare'),
        (2, 'queue_declare'), (2, 'queue_bind')]
    assert calls[1][3] == {'durable': False, 'auto_delete': False}
    assert calls[2][3]['durable'] is False


def test_declare_raises_other_refusals():
    rabbit = direct_amqp._options(_conf())[1]
    topic = direct_amqp.declarations(rabbit, 'nova', 'cp', 'h1')[0]
    refused = amqp.exceptions.PreconditionFailed(
        "PRECONDITION_FAILED - inequivalent arg 'x-queue-type'")
    first = _RefusingChannel([], 1, {'queue_declare': refused})
    reopen, opened = _reopener([])
    with pytest.raises(amqp.exceptions.PreconditionFailed):
        direct_amqp.declare(first, topic, reopen)
    assert opened == []


@pytest.mark.parametrize('delete_refused', [False, True])
def test_a_queue_not_found_is_deleted_and_declared_again(delete_refused):
    """A queue on a node that does not answer (NOT_FOUND): deleted and
    declared again, as the driver does; a delete that fails too is
    logged and the declaration tried all the same."""
    calls = []
    rabbit = direct_amqp._options(_conf())[1]
    topic = direct_amqp.declarations(rabbit, 'nova', 'cp', 'h1')[0]
    first = _RefusingChannel(calls, 1, {
        'queue_declare': amqp.exceptions.NotFound(
            "NOT_FOUND - home node 'rabbit@n2' of durable queue 'cp' in "
            "vhost '/' is down or inaccessible")})
    reopen, opened = _reopener(calls, {
        'queue_delete': amqp.exceptions.NotFound('gone')}
        if delete_refused else None)
    channel = direct_amqp.declare(first, topic, reopen)
    assert [c[:2] for c in calls] == [
        (1, 'exchange_declare'), (1, 'queue_declare'),
        (2, 'queue_delete')] + [
        (len(opened) + 1, name) for name in
        ('exchange_declare', 'queue_declare', 'queue_bind')]
    assert len(opened) == (2 if delete_refused else 1)
    assert channel is opened[-1]
    assert all(c.collected for c in [first] + opened[:-1])


@pytest.mark.parametrize('option, value', [
    ('rabbit_stream_fanout', True),
    ('use_queue_manager', True),
    ('kombu_compression', 'gzip'),
])
def test_unsupported_options_are_named(option, value):
    message = direct_amqp.unsupported(_conf(**{option: value}))
    assert message is not None and '\n' not in message
    assert option in message


def test_rabbit_with_defaults_is_supported_other_transports_not():
    assert direct_amqp.unsupported(_conf('rabbit://u:p@h1:5672/')) is None
    assert direct_amqp.unsupported(_conf('rabbit://')) is None
    message = direct_amqp.unsupported(_conf('kafka://k1:9092/'))
    assert message is not None and '\n' not in message
    assert 'kafka://' in message


def test_tracing_is_refused_when_enabled():
    conf = _conf()
    assert direct_amqp.unsupported(conf) is None  # not even registered
    from oslo_messaging._tracing import client as tracing
    conf.register_opts(tracing.oslo_messaging_tracing,
                       group='oslo_messaging_tracing')
    assert direct_amqp.unsupported(conf) is None
    conf.set_override('tracing_enabled', True,
                      group='oslo_messaging_tracing')
    message = direct_amqp.unsupported(conf)
    assert 'tracing_enabled' in message and '\n' not in message


def test_broker_hosts_from_a_multi_host_url():
    broker = direct_amqp.Broker(
        _conf('rabbit://u1:p1@h1:5673,u2:p2@h2:5674/vh'))
    # In an order of its own (shuffled, as the driver does).
    assert sorted(broker.hosts, key=lambda h: h['host']) == [
        {'host': 'h1:5673', 'userid': 'u1', 'password': 'p1',
         'virtual_host': 'vh'},
        {'host': 'h2:5674', 'userid': 'u2', 'password': 'p2',
         'virtual_host': 'vh'}]
    assert sorted(broker.describe().split(', ')) == ['h1:5673', 'h2:5674']
    assert broker.ssl is None


def test_broker_defaults():
    broker = direct_amqp.Broker(_conf('rabbit://h1/'))
    assert broker.hosts == [{'host': 'h1:5672', 'userid': 'guest',
                             'password': 'guest', 'virtual_host': '/'}]
    broker = direct_amqp.Broker(_conf('rabbit://'))
    assert broker.hosts == [{'host': 'localhost:5672', 'userid': 'guest',
                             'password': 'guest', 'virtual_host': '/'}]
    assert broker.ssl is None
    assert broker.heartbeat == 60
    assert broker.login_method == 'AMQPLAIN'
    assert broker.missing_reply_timeout == 60


def test_broker_tls_as_the_driver_gives_it():
    conf = _conf('rabbit://u:p@rabbit.example:5671/', ssl=True,
                 ssl_ca_file='/etc/ca.pem', ssl_cert_file='/etc/c.pem',
                 ssl_key_file='/etc/k.pem')
    assert direct_amqp.Broker(conf).ssl == {
        'ca_certs': '/etc/ca.pem', 'cert_reqs': ssl.CERT_REQUIRED,
        'certfile': '/etc/c.pem', 'keyfile': '/etc/k.pem',
        'server_hostname': 'rabbit.example'}
    # No server name to check with more than one host, as the driver.
    conf.set_override('transport_url', 'rabbit://h1,h2/')
    assert direct_amqp.Broker(conf).ssl['server_hostname'] is None
    # TLS without files: py-amqp's defaults.
    assert direct_amqp.Broker(_conf(ssl=True)).ssl is True
    # From the URL's query, as the driver's ConfigOptsProxy reads it.
    assert direct_amqp.Broker(_conf('rabbit://h1:5671/?ssl=1')).ssl is True


def test_broker_intervals_grow_to_the_maximum():
    broker = direct_amqp.Broker(_conf(rabbit_retry_interval=1,
                                      rabbit_retry_backoff=2,
                                      rabbit_interval_max=6))
    intervals = broker.intervals()
    assert [next(intervals) for _ in range(6)] == [1, 3, 5, 6, 6, 6]


def _decoded(body):
    return rpc_common.deserialize_msg(json.loads(body))


def test_reply_body_as_the_driver_reads_it():
    failure = rpc_common.serialize_remote_exception(
        (ValueError, ValueError('no'), None))
    first = _decoded(direct_amqp.reply_body('m1', {'a': [1]}, None, True))
    second = _decoded(direct_amqp.reply_body('m2', None, failure, False))
    assert first['result'] == {'a': [1]}
    assert first['failure'] is None and first['ending'] is True
    assert first['_msg_id'] == 'm1'
    assert second['result'] is None and second['ending'] is False
    assert second['failure'] == failure and second['_msg_id'] == 'm2'
    assert re.match(r'^[0-9a-f]{32}\Z', first['_unique_id'])
    assert first['_unique_id'] != second['_unique_id']
    assert set(first) == {'result', 'failure', 'ending', '_msg_id',
                          '_unique_id'}


def test_reply_body_serializes_datetimes_as_jsonutils():
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456)
    reply = _decoded(direct_amqp.reply_body('m', {'at': when, 'n': 1}))
    assert reply['result'] == {'at': jsonutils.to_primitive(when), 'n': 1}
    assert reply['result']['at'].startswith('2024-05-06T07:08:09')


# -- ReplyPublisher, against fakes --

class _Channel:
    """Publishes as ``script`` says, one item a publish: None (confirmed),
    'return' (the broker returns the message) or an exception."""

    def __init__(self, script=()):
        self.script = list(script)
        self.events = collections.defaultdict(set)
        self.published = []
        self.confirming = False

    def confirm_select(self):
        self.confirming = True

    def basic_publish_confirm(self, message, exchange, routing_key,
                              mandatory, confirm_timeout=None):
        # A confirm that never comes must end: the broker's timeout.
        assert confirm_timeout == _Broker.confirm_timeout
        self.published.append((message, exchange, routing_key, mandatory))
        action = self.script.pop(0) if self.script else None
        if action == 'return':
            for handler in list(self.events['basic_return']):
                handler(Exception('NO_ROUTE'), exchange, routing_key,
                        message)
        elif action is not None:
            raise action


class _Connection:

    def __init__(self, channel):
        self._channel = channel
        self.collected = self.closed = False

    def channel(self):
        return self._channel

    def collect(self):
        self.collected = True

    def close(self):
        self.closed = True


class _Broker:
    """``connect()`` gives the next of ``connections`` (an exception is
    raised instead)."""

    confirm_timeout = 60

    def __init__(self, connections):
        self.connections = list(connections)
        self.connects = 0

    def connect(self, name):
        self.connects += 1
        item = self.connections.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def intervals(self):
        while True:
            yield 1.0


@pytest.fixture
def clock(monkeypatch):
    """A fake monotonic clock that ``time.sleep`` advances."""
    now = [1000.0]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(direct_amqp.time, 'monotonic', lambda: now[0])
    monkeypatch.setattr(direct_amqp.time, 'sleep', sleep)
    return now, sleeps


def test_publish_confirmed_mandatory_to_the_reply_queue(clock):
    channel = _Channel()
    broker = _Broker([_Connection(channel)])
    publisher = direct_amqp.ReplyPublisher(broker, 'test')
    publisher.publish('reply_q1', b'{"a": 1}', 1010.0)
    publisher.publish('reply_q2', b'{"b": 2}', 1010.0)
    assert broker.connects == 1 and channel.confirming
    (message, exchange, key, mandatory), second = channel.published
    assert (message.body, exchange, key, mandatory) == (
        b'{"a": 1}', '', 'reply_q1', True)
    assert message.properties['content_type'] == 'application/json'
    assert second[2] == 'reply_q2'
    assert clock[1] == []


def test_a_returned_reply_is_undeliverable(clock):
    channel = _Channel(['return', None])
    broker = _Broker([_Connection(channel)])
    publisher = direct_amqp.ReplyPublisher(broker, 'test')
    with pytest.raises(direct_amqp.Undeliverable, match='reply_gone'):
        publisher.publish('reply_gone', b'{}', 1010.0)
    # Not retried; the connection is kept for the next reply.
    assert len(channel.published) == 1 and clock[1] == []
    publisher.publish('reply_here', b'{}', 1010.0)
    assert broker.connects == 1 and len(channel.published) == 2


def test_a_connection_error_reconnects_and_publishes_again(clock):
    first = _Connection(_Channel([OSError('reset by peer')]))
    second = _Connection(_Channel())
    broker = _Broker([first, second])
    publisher = direct_amqp.ReplyPublisher(broker, 'test')
    publisher.publish('reply_q', b'{}', 1010.0)
    assert broker.connects == 2
    assert first.collected and not second.collected
    assert len(first._channel.published) == 1
    assert [p[2] for p in second._channel.published] == ['reply_q']
    assert clock[1] == [1.0]


def test_errors_past_the_deadline_are_raised(clock):
    broker = _Broker([OSError('attempt %d' % n) for n in range(20)])
    publisher = direct_amqp.ReplyPublisher(broker, 'test')
    with pytest.raises(OSError, match='attempt 5'):
        publisher.publish('reply_q', b'{}', 1005.0)
    # Tried at 1000, 1001, ... 1005: the last one at the deadline.
    assert broker.connects == 6
    assert clock[0][0] == 1005.0


def test_an_error_at_the_deadline_is_not_retried(clock):
    broker = _Broker([_Connection(_Channel([EOFError('closed')])),
                      _Connection(_Channel())])
    publisher = direct_amqp.ReplyPublisher(broker, 'test')
    with pytest.raises(EOFError):
        publisher.publish('reply_q', b'{}', 999.0)
    assert broker.connects == 1 and clock[1] == []
