"""oslo.messaging's RPC listener and a client's reply thread as
``amqp_guard`` leaves them, on the real RabbitMQ: after a call, each waits
for the next message instead of waking up every few milliseconds with
nothing to do."""

import inspect
import threading
import time

import oslo_messaging as messaging
from oslo_messaging._drivers import amqpdriver

from nova_proxy import conf

CONF = conf.CONF


class _Echo:

    def echo(self, context, arg):
        return arg


class _WaitCounter:
    """Counts the waits (``Connection.consume``) started on ``conn``."""

    def __init__(self, conn):
        self.started = []
        self._lock = threading.Lock()
        consume = conn.consume

        def counting(*args, **kwargs):
            with self._lock:
                self.started.append(time.monotonic())
            return consume(*args, **kwargs)

        conn.consume = counting

    def after(self, moment, window):
        with self._lock:
            return len([t for t in self.started
                        if moment <= t <= moment + window])


def _waits_after_a_call(window, connection_of):
    """Start a real RPC server and call it; ``connection_of(server,
    transport)``, asked after a first call, names the connection whose
    waits are counted in the ``window`` seconds after a second call's
    answer."""
    transport = messaging.get_rpc_transport(CONF)
    target = messaging.Target(topic=CONF.proxy.topic, server='waits')
    server = messaging.get_rpc_server(transport, target, [_Echo()])
    server.start()
    try:
        client = messaging.get_rpc_client(
            transport, messaging.Target(topic=CONF.proxy.topic), timeout=30)
        # The first calls may race the queue's binding: retry briefly.
        for attempt in range(20):
            try:
                assert client.call({}, 'echo', arg='first') == 'first'
                break
            except messaging.MessagingTimeout:
                if attempt == 19:
                    raise
        counter = _WaitCounter(connection_of(server, transport))
        assert client.call({}, 'echo', arg='second') == 'second'
        answered = time.monotonic()
        time.sleep(window)
        count = counter.after(answered, window)
        print('waits started in %.1f s after the call: %d' % (window, count))
        return count
    finally:
        server.stop()
        server.wait()
        transport.cleanup()


def _consumes_after_a_call(window):
    """The server's listener."""
    return _waits_after_a_call(
        window, lambda server, transport:
        server.listener._poll_style_listener.conn)


def _reply_waits_after_a_call(window):
    """The client's reply thread (it exists once a call was made)."""
    return _waits_after_a_call(
        window, lambda server, transport: transport._driver._waiter.conn)


def test_no_empty_wake_ups_after_a_call(rabbit, fresh_amqp_guard):
    fresh_amqp_guard.install()
    # The first wait after the call lasts POLL_FLOOR (0.25 s), the next
    # twice that: at most two start in 0.3 s.
    assert _consumes_after_a_call(0.3) <= 2


def test_the_driver_alone_wakes_up_every_few_milliseconds(rabbit,
                                                          monkeypatch):
    # Control: what the guard changes. oslo.messaging's own loop waits
    # 1, 2, 4, 8 ... ms after a call: eight waits start in 0.3 s on a
    # calm machine, fewer on a loaded one.
    monkeypatch.setattr(amqpdriver.RpcAMQPListener, 'poll',
                        amqpdriver.AMQPListener.poll)
    assert _consumes_after_a_call(0.3) >= 5


def test_no_empty_reply_wake_ups_after_a_call(rabbit, fresh_amqp_guard):
    fresh_amqp_guard.install()
    assert _reply_waits_after_a_call(0.3) <= 2


def test_the_reply_thread_alone_wakes_up_every_few_milliseconds(
        rabbit, monkeypatch):
    # Control: the driver's own reply loop (unwrapped, should an earlier
    # test have installed the guard in this process).
    monkeypatch.setattr(amqpdriver.ReplyWaiter, '__init__', inspect.unwrap(
        amqpdriver.ReplyWaiter.__init__))
    assert _reply_waits_after_a_call(0.3) >= 5
