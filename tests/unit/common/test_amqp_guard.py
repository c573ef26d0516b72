"""The guard that keeps a stopping rabbit listener from acknowledging
calls it will never serve."""

import socket
import subprocess
import sys
import threading
import types

from oslo_messaging._drivers import amqpdriver

from nova_proxy.common import amqp_guard
from nova_proxy.common import hand_over


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

    # Longer waits (an idle listener's, which the driver doubles) are
    # kept: the connection's consume returns within IDLE_WAIT_MAX.
    listener._current_timeout = 0.75
    listener.poll()
    assert waits[-1] == 0.75


def test_the_notification_listener_keeps_its_short_waits(
        fresh_amqp_guard):
    # It sends queued acknowledgements between two waits: not ours to
    # change.
    before = amqpdriver.AMQPListener.poll
    amqp_guard.install()
    assert amqpdriver.AMQPListener.poll is before
    assert amqpdriver.NotificationAMQPListener.poll is before
    assert amqpdriver.RpcAMQPListener.poll is not before


def test_the_connection_returns_within_the_idle_wait_max(
        fresh_amqp_guard, monkeypatch):
    from oslo_messaging._drivers import impl_rabbit
    asked = []

    def original(self, timeout=None):
        asked.append(timeout)

    monkeypatch.setattr(impl_rabbit.Connection, 'consume', original)
    amqp_guard.install()
    connection = impl_rabbit.Connection.__new__(impl_rabbit.Connection)
    longest = amqp_guard.IDLE_WAIT_MAX
    for timeout in (5.0, longest, longest / 2, 0.001, None):
        connection.consume(timeout=timeout)
    # Longer waits end at IDLE_WAIT_MAX; shorter ones, and none (wait
    # for a message), are the driver's.
    assert asked == [longest, longest, longest / 2, 0.001, None]
    # The driver's own maximum is left as it is: oslo.messaging bounds
    # kombu_reconnect_delay by it.
    assert amqpdriver.ACK_REQUEUE_EVERY_SECONDS_MAX == 5.0


def _driver_attributes():
    """``{(owner, name): value}`` of every attribute of the modules of the
    rabbit driver and of py-amqp that ``install()`` reaches, and of the
    classes they define."""
    from amqp import connection as amqp_connection
    from amqp import transport as amqp_transport
    from oslo_messaging._drivers import impl_rabbit
    values = {}
    for module in (amqpdriver, amqpdriver.rpc_amqp, impl_rabbit,
                   amqp_connection, amqp_transport):
        owners = [module] + [value for value in vars(module).values()
                             if isinstance(value, type) and
                             value.__module__ == module.__name__]
        for owner in owners:
            values.update(((owner, name), value)
                          for name, value in vars(owner).items())
    return values


def test_install_replaces_what_it_lists_and_nothing_else(fresh_amqp_guard):
    # The list is what tests of the driver alone put back as it ships.
    before = _driver_attributes()
    amqp_guard.install()
    after = _driver_attributes()
    missing = object()
    replaced = {key for key in before.keys() | after.keys()
                if before.get(key, missing) is not after.get(key, missing)}
    assert replaced == set(amqp_guard.replaced_attributes())


def test_install_first_thing_in_a_process():
    # Before anything imported the rabbit driver (which registers its
    # options as it loads): the guard installs, and the driver loads.
    done = subprocess.run(
        [sys.executable, '-c',
         'from nova_proxy.common import amqp_guard; '
         'amqp_guard.install(); '
         'from oslo_messaging._drivers import impl_rabbit; '
         'assert impl_rabbit.Connection.consume.__wrapped__; '
         'print("ok")'],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == 'ok'


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
    # floor and double from there, up to IDLE_WAIT_MAX (the driver's
    # maximum is 5 s).
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
    floor, longest = amqp_guard.POLL_FLOOR, amqp_guard.IDLE_WAIT_MAX
    assert conn.waits == [floor, 2 * floor, longest, longest, longest,
                          longest, longest,
                          # after the message: back to the floor
                          floor]


def _driver_polls(monkeypatch):
    """The timeouts of the driver's own polls of an RPC listener (each
    returns nothing), as they come."""
    polled = []

    def original(self, timeout=None, **kwargs):
        polled.append(timeout)
        return []

    monkeypatch.setattr(amqpdriver.RpcAMQPListener, 'poll', original)
    return polled


def test_a_listener_without_the_drivers_state_is_left_to_the_driver(
        fresh_amqp_guard, monkeypatch):
    polled = _driver_polls(monkeypatch)
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


# -- Calls acknowledged when a thread takes them --

class _Raw:
    """kombu's message: the channel it was delivered on."""

    def __init__(self, channel):
        self.channel = channel


class _Rabbit(dict):
    """oslo.messaging's RabbitMessage: the call, and its ack."""

    def __init__(self, channel, unique_id):
        super().__init__(method='where', args={}, _unique_id=unique_id,
                         _msg_id='m-' + unique_id, _reply_q='reply_x')
        self._raw_message = _Raw(channel)
        self.acked = 0

    def acknowledge(self):
        self.acked += 1


class _Broker:
    """The broker's end of a listener's socket (``socket.socketpair``),
    behind py-amqp's connection as kombu holds it: ``drain_events``
    reads a frame, or fails as py-amqp does when the broker closed."""

    def __init__(self):
        self.ours, self.theirs = socket.socketpair()
        self.read = []
        transport = types.SimpleNamespace(sock=self.ours, _read_buffer=b'')
        self.amqp = types.SimpleNamespace(transport=transport,
                                          drain_events=self._drain)
        self.kombu = types.SimpleNamespace(_connection=self.amqp,
                                           connected=True)

    def _drain(self, timeout=None):
        data = self.ours.recv(64)
        if not data:
            raise OSError('Server unexpectedly closed connection')
        self.read.append(data)

    def close(self):
        self.ours.close()
        self.theirs.close()


def _listener_on(channel, broker=None):
    listener = amqpdriver.RpcAMQPListener.__new__(
        amqpdriver.RpcAMQPListener)
    listener._shutdown = threading.Event()
    listener.incoming = []
    listener.msg_id_cache = amqpdriver.rpc_amqp._MsgIdCache()
    listener._obsolete_reply_queues = None
    listener._message_operations_handler = None
    broker = broker or _Broker()
    listener.conn = types.SimpleNamespace(connection=types.SimpleNamespace(
        channel=channel, connection=broker.kombu))
    return listener


def test_a_listener_acking_on_hand_over_queues_calls_unacknowledged(
        fresh_amqp_guard):
    amqp_guard.install()
    channel = object()
    listener = _listener_on(channel)
    assert hand_over.ack_on_hand_over(listener)
    message = _Rabbit(channel, 'u1')
    listener(message)
    [incoming] = listener.incoming
    assert message.acked == 0
    # Seen only once acknowledged (below), not when read.
    assert 'u1' not in listener.msg_id_cache.prev_msgids
    assert hand_over.acknowledge(incoming) is True
    assert message.acked == 1
    assert 'u1' in listener.msg_id_cache.prev_msgids
    # Acknowledged once: a second look does nothing.
    assert hand_over.acknowledge(incoming) is True
    assert message.acked == 1


def test_a_call_from_a_channel_closed_since_is_left_to_its_redelivery(
        fresh_amqp_guard):
    amqp_guard.install()
    old, new = object(), object()
    listener = _listener_on(old)
    assert hand_over.ack_on_hand_over(listener)
    first = _Rabbit(old, 'u2')
    listener(first)
    # The connection came back with a new channel; the broker delivers
    # the call again on it.
    listener.conn.connection.channel = new
    again = _Rabbit(new, 'u2')
    listener(again)
    stale, fresh = listener.incoming
    assert hand_over.acknowledge(stale) is False
    assert first.acked == 0
    assert hand_over.acknowledge(fresh) is True
    assert again.acked == 1
    # A third delivery of it now is a repeat: acknowledged and dropped.
    third = _Rabbit(new, 'u2')
    listener(third)
    assert len(listener.incoming) == 2 and third.acked == 1


def test_what_came_is_read_before_an_acknowledgement(fresh_amqp_guard):
    # A close from the broker may sit behind deliveries it sent before;
    # read first, so that nothing is acknowledged on a closed connection
    # (the acknowledgement would be lost without an error, and the call
    # run twice).
    amqp_guard.install()
    channel = object()
    broker = _Broker()
    listener = _listener_on(channel, broker)
    assert hand_over.ack_on_hand_over(listener)
    first, second = _Rabbit(channel, 'u4'), _Rabbit(channel, 'u5')
    listener(first)
    listener(second)
    a, b = listener.incoming
    broker.theirs.sendall(b'heartbeat')
    assert hand_over.acknowledge(a) is True
    assert first.acked == 1 and broker.read == [b'heartbeat']
    broker.theirs.close()
    assert hand_over.acknowledge(b) is False
    assert second.acked == 0
    assert 'u5' not in listener.msg_id_cache.prev_msgids
    broker.ours.close()


def test_a_listener_acknowledges_at_read_unless_asked(fresh_amqp_guard,
                                                      monkeypatch):
    monkeypatch.setattr(amqpdriver.RpcAMQPListener, '__call__',
                        lambda self, message: message.acknowledge())
    amqp_guard.install()
    channel = object()
    listener = _listener_on(channel)
    message = _Rabbit(channel, 'u3')
    listener(message)
    assert message.acked == 1
    # Nothing of another driver is changed.
    assert hand_over.ack_on_hand_over(object()) is False


def test_a_broken_connection_is_left_to_the_drivers_poll(fresh_amqp_guard,
                                                         monkeypatch):
    # kombu's drain_events reconnects a connection marked broken by
    # itself, without the driver's consumers: the listener would wait on
    # it for good. The driver's poll re-establishes it, consumers and all.
    polled = _driver_polls(monkeypatch)
    amqp_guard.install()
    drained = []
    kombu_connection = types.SimpleNamespace(
        connected=False, drain_events=lambda timeout: drained.append(1))
    listener = _listener_on(object())
    listener.conn = types.SimpleNamespace(connection=types.SimpleNamespace(
        connection=kombu_connection, _consume_loop_stopped=False,
        _new_tags=set(), _connection_lock=threading.Lock()))
    assert listener.poll(timeout=1.0) == []
    assert drained == [] and polled == [1.0]
    # Connected: the direct read is tried first.
    kombu_connection.connected = True
    listener.poll(timeout=1.0)
    assert drained == [1]
