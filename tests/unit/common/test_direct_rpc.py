"""``direct_rpc``, our RPC server on py-amqp, without a broker: calls
decoded as oslo.messaging's clients encode them, deliveries screened and
settled on a fake channel, calls acknowledged when a worker takes them,
and replies withheld or dropped as ``amqp_guard`` does for the driver."""

import json
import socket
import sys
import threading
import time
import uuid

import amqp
import oslo_messaging as messaging
from oslo_messaging._drivers import amqp as rpc_amqp
from oslo_messaging._drivers import common as rpc_common
import pytest

from nova_proxy.common import amqp_guard
from nova_proxy.common import direct_amqp
from nova_proxy.common import direct_rpc
from nova_proxy.common import wire_guard
from nova_proxy import exception

REPLY_Q = 'reply_' + 'b' * 32


def _call(ctxt=None, method='ping', args=None, msg_id=None,
          reply_q=REPLY_Q, timeout=None, unique_id=None, envelope=True):
    """A call's body, as oslo.messaging's rabbit driver sends it
    (``AMQPDriverBase._send``; kombu's JSON around the envelope)."""
    msg = {'method': method, 'args': {'x': 1} if args is None else args,
           'version': '1.0'}
    if reply_q is not None or msg_id is not None:
        msg['_msg_id'] = msg_id or uuid.uuid4().hex
        msg['_reply_q'] = reply_q
        msg['_timeout'] = timeout
    rpc_amqp._add_unique_id(msg)
    if unique_id is not None:
        msg['_unique_id'] = unique_id
    if reply_q is None:
        msg.pop('_reply_q', None)
    rpc_amqp.pack_context(msg, {'user': 'u1', 'compute_host': 'cn1'}
                          if ctxt is None else ctxt)
    if envelope:
        msg = rpc_common.serialize_msg(msg)
    return json.dumps(msg).encode('utf-8')


def test_decode_a_call_as_the_driver_sends_it():
    body = _call(msg_id='m1', timeout=60, unique_id='u' * 32)
    message, ctxt, msg_id, reply_q, timeout, unique_id = \
        direct_rpc.decode(body)
    assert message == {'method': 'ping', 'args': {'x': 1}, 'version': '1.0'}
    assert ctxt == {'user': 'u1', 'compute_host': 'cn1', 'msg_id': 'm1',
                    'reply_q': REPLY_Q}
    assert (msg_id, reply_q, timeout, unique_id) == ('m1', REPLY_Q, 60,
                                                     'u' * 32)


def test_decode_gives_the_drivers_context():
    body = _call(ctxt={'user': 'u', 'roles': ['a'], 'x': None})
    message, ctxt, msg_id, reply_q, _, _ = direct_rpc.decode(body)
    theirs = rpc_common.deserialize_msg(json.loads(body))
    driver_ctxt = rpc_amqp.unpack_context(theirs)
    theirs.pop('_unique_id')
    assert message == theirs
    assert (msg_id, reply_q) == (driver_ctxt.msg_id, driver_ctxt.reply_q)
    assert {k: ctxt[k] for k in ('user', 'roles', 'x')} == {
        'user': 'u', 'roles': ['a'], 'x': None}


def test_decode_a_cast_and_an_old_format_body():
    message, ctxt, msg_id, reply_q, timeout, unique_id = \
        direct_rpc.decode(_call(reply_q=None, envelope=False))
    assert message == {'method': 'ping', 'args': {'x': 1}, 'version': '1.0'}
    assert (msg_id, reply_q, timeout) == (None, None, None)
    assert ctxt['msg_id'] is None and ctxt['reply_q'] is None
    assert ctxt['user'] == 'u1' and len(unique_id) == 32


@pytest.mark.parametrize('body', [
    b'not json',
    b'\xff\xfe{',
    b'[1, 2]',
    json.dumps({'oslo.version': '3.0', 'oslo.message': '{}'}).encode(),
    json.dumps({'oslo.version': 2, 'oslo.message': '{}'}).encode(),
    json.dumps({'oslo.version': '2.0', 'oslo.message': {}}).encode(),
    json.dumps({'oslo.version': '2.1', 'oslo.message': '{}'}).encode(),
    json.dumps({'oslo.version': '2.0', 'oslo.message': '[1]'}).encode(),
    json.dumps({'oslo.version': '2.0', 'oslo.message': '{'}).encode(),
    json.dumps({'oslo.version': '2.0', 'oslo.message':
                '[' * 100000}).encode(),
    b'[' * 100000,
    json.dumps({'method': 'ping', '_unique_id': ['x']}).encode(),
], ids=['not json', 'not utf-8', 'list', 'version 3.0', 'version int',
        'inner not a string', 'version 2.1', 'inner list', 'inner not json',
        'inner nested', 'nested', 'unhashable id'])
def test_decode_refuses_what_is_no_call(body):
    with pytest.raises(ValueError):
        direct_rpc.decode(body)


# -- receiving, with a server that has no broker --

class _Channel:
    """A consuming channel: records what is settled, in ``log`` (shared
    with the dispatcher, to see the order)."""

    def __init__(self, log=None):
        self.log = [] if log is None else log

    def basic_ack(self, tag):
        self.log.append(('ack', tag))

    def basic_reject(self, tag, requeue):
        self.log.append(('reject', tag, requeue))


class _Publisher:
    """``ReplyPublisher.publish``: records the reply (decoded as the
    driver's reply waiter does), then raises the next of ``errors``."""

    def __init__(self, errors=()):
        self.errors = list(errors)
        self.calls = []

    def publish(self, reply_q, body, deadline):
        self.calls.append(
            (reply_q, rpc_common.deserialize_msg(json.loads(body))))
        if self.errors:
            raise self.errors.pop(0)


class _Dispatcher:

    def __init__(self, log, result='pong'):
        self.log = log
        self.result = result
        self.dispatched = []

    def dispatch(self, incoming):
        self.log.append(('dispatch', incoming.delivery_tag))
        self.dispatched.append(incoming)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def server(config, monkeypatch):
    """A ``DirectRPCServer`` (transport_url is ``fake:/``: nothing
    connects) whose consuming channel is a fake one."""
    log = []
    server = direct_rpc.DirectRPCServer(
        messaging.Target(topic='compute_proxy', server='h1'),
        _Dispatcher(log), 'nova', 1)
    server._channel = _Channel(log)
    # Every thread's publisher, in these tests.
    server.replies = _Publisher()
    server._replies = lambda: server.replies
    monkeypatch.setattr(amqp_guard, '_known_reply_queues',
                        amqp_guard._RecentSet(100))
    monkeypatch.setattr(direct_rpc.time, 'sleep', lambda seconds: None)
    return server


def _delivery(body, channel, tag=1, **properties):
    message = amqp.Message(body, channel=channel, **properties)
    message.delivery_info = {'delivery_tag': tag, 'consumer_tag': '1',
                             'redelivered': False, 'exchange': 'nova',
                             'routing_key': 'compute_proxy.h1'}
    return message


def _queued(server):
    """The calls waiting for a worker, taken out of the hand-off."""
    calls = list(server._calls._waiting)
    server._calls._waiting.clear()
    return calls


def test_a_call_is_queued_unacknowledged(server):
    server._on_delivery(_delivery(_call(msg_id='m1', timeout=30,
                                        unique_id='a' * 32),
                                  server._channel, tag=7))
    assert server._channel.log == []
    (incoming,) = _queued(server)
    assert (incoming.delivery_tag, incoming.msg_id, incoming.reply_q,
            incoming.client_timeout, incoming.unique_id) == (
        7, 'm1', REPLY_Q, 30, 'a' * 32)
    assert incoming.channel is server._channel
    assert incoming.message['method'] == 'ping'
    assert wire_guard.refused_counts() == {}


def test_a_short_client_timeout_is_dropped(server):
    server._on_delivery(_delivery(_call(timeout=1), server._channel))
    assert _queued(server)[0].client_timeout is None


def test_a_body_above_max_request_bytes_is_rejected(server, config):
    config.set_override('max_request_bytes', 4096, group='proxy')
    body = _call(args={'pad': 'x' * 5000})
    server._on_delivery(_delivery(body, server._channel, tag=3))
    assert server._channel.log == [('reject', 3, False)]
    assert _queued(server) == []
    assert wire_guard.refused_counts() == {'too_large': 1}
    # Just under the limit: served.
    server._on_delivery(_delivery(_call(args={'pad': 'x' * 3500}),
                                  server._channel, tag=4))
    assert len(_queued(server)) == 1


REJECTED = [('reject', 5, False)]


@pytest.mark.parametrize('body, properties, settled', [
    (b'{"oslo.version": "2.0", "oslo.message": "{nope"}', {}, REJECTED),
    (b'["method", "ping"]', {}, REJECTED),
    (_call(), {'content_encoding': 'zlib'}, REJECTED),
    (_call(), {'application_headers': {'compression': 'gzip'}}, REJECTED),
    # A call the screen refuses is acknowledged (dropped for good), as
    # wire_guard.GuardedRPCServer does.
    (_call(method='no such-method'), {}, [('ack', 5)]),
], ids=['bad inner json', 'list', 'encoding', 'compressed', 'method'])
def test_a_malformed_body_is_dropped(server, body, properties, settled):
    server._on_delivery(_delivery(body, server._channel, tag=5,
                                  **properties))
    assert _queued(server) == []
    assert wire_guard.refused_counts() == {'malformed': 1}
    assert server._channel.log == settled


def test_a_repeated_unique_id_is_acknowledged_and_dropped(server):
    server._seen.add('d' * 32)
    server._on_delivery(_delivery(_call(unique_id='d' * 32),
                                  server._channel, tag=9))
    assert server._channel.log == [('ack', 9)]
    assert _queued(server) == []
    assert wire_guard.refused_counts() == {'duplicate': 1}


def test_a_call_without_reply_queue_is_acknowledged_and_dropped(server):
    body = _call(msg_id='m1', reply_q=None)
    incoming = direct_rpc.DirectIncoming(server, None, 2,
                                         *direct_rpc.decode(body))
    kind, _ = wire_guard.screen(incoming)
    server._on_delivery(_delivery(body, server._channel, tag=2))
    assert server._channel.log == [('ack', 2)]
    assert _queued(server) == []
    assert wire_guard.refused_counts() == {kind: 1}
    assert kind == 'no_reply_address'


def test_a_delivery_of_a_lost_channel_is_left_to_the_broker(server):
    old = _Channel()
    server._on_delivery(_delivery(b'not json', old))
    assert old.log == [] and server._channel.log == []
    assert wire_guard.refused_counts() == {'malformed': 1}


class _Connection:
    """The consuming connection: the first ``drain_events`` delivers
    ``body``, the next stops the server."""

    def __init__(self, server, body):
        self.server = server
        self.body = body

    def drain_events(self, timeout):
        if self.body is None:
            self.server.stop()
            raise socket.timeout()
        body, self.body = self.body, None
        self.server._on_delivery(_delivery(body, self.server._channel))

    def heartbeat_tick(self, rate=2):
        pass


# What one delivery holds never ends the receiving thread (it did, for
# the last two, before decode() refused them): the server would consume
# no more, its prefetched calls unacknowledged until the process ended.
@pytest.mark.parametrize('body', [
    b'not json',
    b'[' * 100000,
    _call(unique_id=['x']),
], ids=['not json', 'nested', 'unhashable id'])
def test_a_bad_delivery_does_not_end_the_receiving_loop(server, body):
    server._channel.callbacks = {}
    server._tick_replies = lambda: None
    server._conn = _Connection(server, body)
    server._receive()  # returns once stopped
    assert sum(wire_guard.refused_counts().values()) == 1
    assert len(server._channel.log) == 1


# -- serving --

def _take(server, *deliveries):
    """Queue ``deliveries`` as the receiving thread would, then run one
    worker until the queue is empty."""
    for delivery in deliveries:
        server._on_delivery(delivery)
    server._calls.put(None)
    server._work()


def test_a_call_is_acknowledged_before_it_is_served(server):
    _take(server, _delivery(_call(msg_id='m1', unique_id='e' * 32),
                            server._channel, tag=11))
    assert server._channel.log == [('ack', 11), ('dispatch', 11)]
    assert 'e' * 32 in server._seen
    ((reply_q, reply),) = server.replies.calls
    assert reply_q == REPLY_Q
    assert (reply['result'], reply['failure'], reply['ending'],
            reply['_msg_id']) == ('pong', None, True, 'm1')
    assert REPLY_Q in amqp_guard._known_reply_queues


def test_a_call_of_a_lost_channel_is_neither_acknowledged_nor_served(
        server):
    old = _Channel()
    server._on_delivery(_delivery(_call(unique_id='f' * 32), old, tag=12))
    server._channel = _Channel()  # connected again since
    server._calls.put(None)
    server._work()
    assert old.log == [] and server._channel.log == []
    assert server.dispatcher.dispatched == []
    assert 'f' * 32 not in server._seen
    assert server.replies.calls == []


def test_a_stopping_server_takes_no_call(server):
    server._on_delivery(_delivery(_call(), server._channel, tag=13))
    server.stop()
    server._calls.put(None)
    server._work()
    assert server._channel.log == [] and server.replies.calls == []


def test_a_failing_call_is_answered_with_its_error(server):
    server.dispatcher.result = ValueError('bad value')
    _take(server, _delivery(_call(msg_id='m2'), server._channel, tag=14))
    ((_, reply),) = server.replies.calls
    assert reply['result'] is None and reply['ending'] is True
    failure = json.loads(reply['failure'])
    assert failure['class'] == 'ValueError'


# -- replying --

def _incoming(server, reply_q=None, msg_id='m3'):
    return direct_rpc.DirectIncoming(
        server, server._channel, 1, {'method': 'ping'},
        {'compute_host': 'cn1'}, msg_id,
        reply_q or 'reply_' + uuid.uuid4().hex, None, None)


def _refusal():
    try:
        raise exception.NotAuthenticated(method='ping', reason='unsigned')
    except exception.NotAuthenticated:
        return sys.exc_info()


def test_a_refusal_to_a_new_reply_queue_is_withheld_when_over_budget(
        server, monkeypatch):
    monkeypatch.setattr(wire_guard, 'may_answer_refusal', lambda: False)
    _incoming(server).reply(failure=_refusal())
    assert server.replies.calls == []
    assert wire_guard.refused_counts() == {'reply_withheld': 1}


def test_a_refusal_is_answered_within_budget_or_to_a_known_queue(
        server, monkeypatch):
    budget = [True]
    monkeypatch.setattr(wire_guard, 'may_answer_refusal',
                        lambda: budget[0])
    _incoming(server, reply_q='reply_new').reply(failure=_refusal())
    budget[0] = False
    # reply_new took a reply: no longer new.
    _incoming(server, reply_q='reply_new').reply(failure=_refusal())
    assert [c[0] for c in server.replies.calls] == ['reply_new'] * 2
    failure = json.loads(server.replies.calls[0][1]['failure'])
    assert failure['class'] == 'NotAuthenticated'
    assert wire_guard.refused_counts() == {}


def test_an_undeliverable_reply_to_an_unknown_queue_is_dropped(server):
    server.replies.errors = [direct_amqp.Undeliverable('NO_ROUTE: x')] * 5
    _incoming(server, reply_q='reply_gone').reply('pong')
    assert len(server.replies.calls) == 1
    assert wire_guard.refused_counts() == {'reply_undeliverable': 1}
    assert 'reply_gone' not in amqp_guard._known_reply_queues


def test_an_undeliverable_reply_to_a_known_queue_is_retried(server):
    amqp_guard._known_reply_queues.add('reply_back')
    server.replies.errors = [direct_amqp.Undeliverable('NO_ROUTE: x')] * 2
    _incoming(server, reply_q='reply_back').reply('pong')
    assert len(server.replies.calls) == 3
    assert wire_guard.refused_counts() == {}
    assert 'reply_back' in amqp_guard._known_reply_queues


def test_a_broker_out_of_reach_drops_the_reply_without_counting(server):
    server.replies.errors = [OSError('unreachable')]
    _incoming(server, reply_q='reply_x').reply('pong')
    assert len(server.replies.calls) == 1
    assert wire_guard.refused_counts() == {}
    assert 'reply_x' not in amqp_guard._known_reply_queues


def test_a_cast_gets_no_reply_and_a_heartbeat_does_not_end_the_call(
        server):
    _incoming(server, msg_id=None).reply('pong')
    assert server.replies.calls == []
    _incoming(server, reply_q='reply_hb').heartbeat()
    ((_, reply),) = server.replies.calls
    assert (reply['result'], reply['failure'], reply['ending']) == (
        None, None, False)


# -- who publishes a reply --

def test_each_worker_replies_on_its_own_connection_the_others_share_one(
        config, monkeypatch):
    made = []

    class Publisher:
        def __init__(self, broker, name):
            made.append(name)

    monkeypatch.setattr(direct_amqp, 'ReplyPublisher', Publisher)
    server = direct_rpc.DirectRPCServer(
        messaging.Target(topic='compute_proxy', server='h1'),
        _Dispatcher([]), 'nova', 2)
    seen = {}

    def worker(n):
        server._local.worker = True
        seen[n] = (server._replies(), server._replies())

    def other(n):
        seen[n] = (server._replies(), server._replies())

    threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 2)]
    threads += [threading.Thread(target=other, args=(n,)) for n in (3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Each thread keeps its publisher; the two workers' differ; the
    # others (oslo.messaging's call monitor) share one: three in all.
    assert all(a is b for a, b in seen.values())
    assert seen[1][0] is not seen[2][0]
    assert seen[3][0] is seen[4][0]
    assert seen[3][0] not in (seen[1][0], seen[2][0])
    assert len(made) == 3 == len(set(made))


def test_a_channel_the_broker_closed_is_forgotten_not_reopened(server):
    channel = server._channel
    # What py-amqp calls when the broker closes the channel.
    server._forget(channel)
    assert server._channel is None
    # An acknowledgement of one of its deliveries is not written.
    assert not server._settle(channel, 7)
    assert channel.log == []


def test_a_call_goes_to_the_worker_idle_last_and_calls_wait_in_order():
    handoff = direct_rpc._Handoff()
    took = []
    order = []

    def worker(name):
        order.append(name)
        took.append((name, handoff.get()))

    for name in ('first', 'second', 'third'):
        t = threading.Thread(target=worker, args=(name,), daemon=True)
        t.start()
        # Each idle before the next.
        deadline = time.monotonic() + 10
        while len(handoff._idle) < len(order):
            assert time.monotonic() < deadline
            time.sleep(0.001)
    handoff.put('call-1')
    deadline = time.monotonic() + 10
    while not took:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    # The worker idle last took it, not the one idle longest.
    assert took == [('third', 'call-1')]
    handoff.put('call-2')
    handoff.put('call-3')
    deadline = time.monotonic() + 10
    while len(took) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    # Which of the two threads records first is theirs to race for.
    assert sorted(took[1:]) == [('first', 'call-3'), ('second', 'call-2')]
    # No worker idle: calls wait, in the order they came.
    handoff.put('call-4')
    handoff.put('call-5')
    assert list(handoff._waiting) == ['call-4', 'call-5']
    assert [handoff.get(), handoff.get()] == ['call-4', 'call-5']
    assert not handoff._waiting


@pytest.mark.parametrize('prefetch, warned', [(0, True), (16, False)])
def test_no_prefetch_limit_is_warned_at_start(server, caplog, prefetch,
                                              warned):
    server.broker.prefetch = prefetch
    server.stop()  # nothing connects; the threads end at once
    with caplog.at_level('WARNING', logger=direct_rpc.LOG.logger.name):
        server.start()
        server.wait()
    lines = [r.getMessage() for r in caplog.records
             if 'rabbit_qos_prefetch_count' in r.getMessage()]
    assert len(lines) == (1 if warned else 0), lines
