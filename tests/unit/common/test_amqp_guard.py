"""The guard that keeps a stopping rabbit listener from acknowledging
calls it will never serve."""

import threading
import types

from oslo_messaging._drivers import amqpdriver

from nova_proxy.common import amqp_guard


class _Message:

    def __init__(self):
        self.acked = False


def test_a_stopping_listener_leaves_the_call_unacknowledged(
        fresh_amqp_guard, monkeypatch):
    seen = []

    def original(self, message):
        message.acked = True
        seen.append(message)

    monkeypatch.setattr(amqpdriver.RpcAMQPListener, '__call__', original)
    amqp_guard.install()
    amqp_guard.install()  # idempotent: wrapped once

    listener = amqpdriver.RpcAMQPListener.__new__(
        amqpdriver.RpcAMQPListener)
    listener._shutdown = threading.Event()
    running = _Message()
    listener(running)
    assert running.acked and seen == [running]

    listener._shutdown.set()
    stopping = _Message()
    listener(stopping)
    # Not acknowledged, not queued: the broker redelivers it elsewhere
    # when the connection closes.
    assert not stopping.acked and seen == [running]


def test_each_poll_of_the_rpc_listener_starts_at_the_floor(
        fresh_amqp_guard, monkeypatch):
    waits = []

    def original(self, timeout=None):
        waits.append(self._current_timeout)
        # As the driver does when a message arrived: back to 1 ms.
        self._current_timeout = amqpdriver.ACK_REQUEUE_EVERY_SECONDS_MIN

    monkeypatch.setattr(amqpdriver.RpcAMQPListener, 'poll', original)
    amqp_guard.install()
    amqp_guard.install()  # idempotent: wrapped once

    listener = amqpdriver.RpcAMQPListener.__new__(
        amqpdriver.RpcAMQPListener)
    listener._current_timeout = amqpdriver.ACK_REQUEUE_EVERY_SECONDS_MIN
    listener.poll()
    listener.poll()
    assert waits == [amqp_guard.POLL_FLOOR, amqp_guard.POLL_FLOOR]

    # Longer waits (an idle listener's, doubled up to 5 s) are kept.
    listener._current_timeout = 4.0
    listener.poll()
    assert waits[-1] == 4.0


def test_the_notification_listener_keeps_its_short_waits(
        fresh_amqp_guard):
    # It sends queued acknowledgements between two waits: not ours to
    # change.
    before = amqpdriver.AMQPListener.poll
    amqp_guard.install()
    assert amqpdriver.AMQPListener.poll is before
    assert amqpdriver.NotificationAMQPListener.poll is before
    assert amqpdriver.RpcAMQPListener.poll is not before


class _ReplyConnection:
    """Times out ``empty`` waits, then delivers one message."""

    def __init__(self, empty):
        self.empty = empty
        self.waits = []

    def consume(self, timeout=None):
        self.waits.append(timeout)
        if len(self.waits) <= self.empty:
            raise amqpdriver.rpc_common.Timeout()


def test_reply_waits_start_at_the_floor_and_double(fresh_amqp_guard,
                                                   monkeypatch):
    def original(self, reply_q, conn, allowed_remote_exmods):
        self.conn = conn  # the driver would also start its thread here

    monkeypatch.setattr(amqpdriver.ReplyWaiter, '__init__', original)
    amqp_guard.install()
    conn = _ReplyConnection(empty=6)
    amqpdriver.ReplyWaiter('reply_q', conn, [])
    # The driver's loop asks for 1, 2, 4 ... ms; the waits start at the
    # floor and double from there, up to the driver's maximum (5 s).
    asked = amqpdriver.ACK_REQUEUE_EVERY_SECONDS_MIN
    for _ in range(6):
        try:
            conn.consume(timeout=asked)
        except amqpdriver.rpc_common.Timeout:
            asked *= 2
    conn.consume(timeout=asked)  # the message
    conn.empty = len(conn.waits) + 1
    try:
        conn.consume(timeout=amqpdriver.ACK_REQUEUE_EVERY_SECONDS_MIN)
    except amqpdriver.rpc_common.Timeout:
        pass
    floor = amqp_guard.POLL_FLOOR
    assert conn.waits == [floor, 2 * floor, 4 * floor, 8 * floor, 16 * floor,
                          amqpdriver.ACK_REQUEUE_EVERY_SECONDS_MAX,
                          amqpdriver.ACK_REQUEUE_EVERY_SECONDS_MAX,
                          # after the message: back to the floor
                          floor]


def test_a_listener_without_the_drivers_state_is_left_to_the_driver(
        fresh_amqp_guard, monkeypatch):
    polled = []

    def original(self, timeout=None, **kwargs):
        polled.append(timeout)
        return []

    monkeypatch.setattr(amqpdriver.RpcAMQPListener, 'poll', original)
    amqp_guard.install()
    listener = amqpdriver.RpcAMQPListener.__new__(
        amqpdriver.RpcAMQPListener)
    listener.incoming = []
    listener._shutdown = threading.Event()
    # A connection of a driver that keeps none of what the direct read
    # looks at: nothing is read directly, the driver's poll runs.
    listener.conn = types.SimpleNamespace(
        connection=types.SimpleNamespace(connection=object()))
    assert listener.poll(timeout=1.0) == []
    assert polled == [1.0]
