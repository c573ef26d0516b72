"""oslo.messaging's RPC listener and a client's reply thread as
``amqp_guard`` leaves them, on the real RabbitMQ: after a call, each waits
for the next message instead of waking up every few milliseconds with
nothing to do; while calls come, the listener reads each with one
``drain_events()`` and the server publishes each reply without the
driver's retry machinery, which still takes over what fails."""

import contextlib
import threading
import time

import oslo_messaging as messaging
from oslo_messaging._drivers import impl_rabbit
import pytest

from nova_proxy.common import amqp_guard
from nova_proxy import conf

CONF = conf.CONF


class _Echo:

    def echo(self, context, arg):
        return arg


class _WaitCounter:
    """Counts the waits (``Connection.consume``) started on ``conn``, and
    keeps how long each was asked to last."""

    def __init__(self, conn):
        self.started = []
        self._lock = threading.Lock()
        consume = conn.consume

        def counting(*args, **kwargs):
            with self._lock:
                self.started.append((time.monotonic(),
                                     kwargs.get('timeout')))
            return consume(*args, **kwargs)

        conn.consume = counting

    def asked(self, moment, window):
        """The timeouts of the waits started in ``window`` seconds from
        ``moment``."""
        with self._lock:
            return [timeout for t, timeout in self.started
                    if moment <= t <= moment + window]

    def after(self, moment, window):
        return len(self.asked(moment, window))


@contextlib.contextmanager
def _serving(name):
    """A real RPC server of ``_Echo`` named ``name``, and a client that
    has had its first answer: (server, client, transport)."""
    transport = messaging.get_rpc_transport(CONF)
    target = messaging.Target(topic=CONF.proxy.topic, server=name)
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
        yield server, client, transport
    finally:
        server.stop()
        server.wait()
        transport.cleanup()


def _waits_after_a_call(window, connection_of):
    """Start a real RPC server and call it; ``connection_of(server,
    transport)``, asked after a first call, names the connection whose
    waits are taken in the ``window`` seconds after a second call's
    answer: the timeouts they asked for, in order."""
    with _serving('waits') as (server, client, transport):
        counter = _WaitCounter(connection_of(server, transport))
        assert client.call({}, 'echo', arg='second') == 'second'
        answered = time.monotonic()
        time.sleep(window)
        asked = counter.asked(answered, window)
        print('waits started in %.1f s after the call: %d, asking %s' % (
            window, len(asked), asked))
        return asked


def _consumes_after_a_call(window):
    """The server's listener."""
    return _waits_after_a_call(
        window, lambda server, transport:
        server.listener._poll_style_listener.conn)


def _reply_waits_after_a_call(window):
    """The client's reply thread (it exists once a call was made)."""
    return _waits_after_a_call(
        window, lambda server, transport: transport._driver._waiter.conn)


def _few_ms_waits(asked):
    """Whether the waits ``asked`` are the driver's own after a message:
    1 ms first, each twice the last (``ACK_REQUEUE_EVERY_SECONDS_MIN``
    and up), at least three of them (more than a guarded connection
    starts in the window), the first of the window shorter than
    ``POLL_FLOOR`` (the first few may have started before the caller saw
    its answer). Judged by what the driver asked, not by how many waits
    the window held: on a loaded machine fewer fit in it (a count of at
    least five once failed so)."""
    return len(asked) >= 3 and asked[0] < amqp_guard.POLL_FLOOR and \
        all(later <= 2 * earlier + 1e-9
            for earlier, later in zip(asked, asked[1:]))


def test_no_empty_wake_ups_after_a_call(rabbit, fresh_amqp_guard):
    fresh_amqp_guard.install()
    # The first wait after the call lasts POLL_FLOOR (0.25 s), the next
    # twice that: at most two start in 0.3 s.
    asked = _consumes_after_a_call(0.3)
    assert 1 <= len(asked) <= 2
    assert not _few_ms_waits(asked)


def test_the_driver_alone_wakes_up_every_few_milliseconds(
        rabbit, shipped_rabbit_driver):
    # Control: what the guard changes. oslo.messaging's own loop waits
    # 1, 2, 4, 8 ... ms after a call: eight waits start in 0.3 s on a
    # calm machine, fewer on a loaded one.
    asked = _consumes_after_a_call(0.3)
    assert _few_ms_waits(asked), asked


def test_no_empty_reply_wake_ups_after_a_call(rabbit, fresh_amqp_guard):
    fresh_amqp_guard.install()
    # Its waits are floored below the connection counted here (the
    # driver still asks for 1 ms, 2 ms ...): only their count tells.
    assert 1 <= len(_reply_waits_after_a_call(0.3)) <= 2


def test_the_reply_thread_alone_wakes_up_every_few_milliseconds(
        rabbit, shipped_rabbit_driver):
    # Control: the driver's own reply loop.
    asked = _reply_waits_after_a_call(0.3)
    assert _few_ms_waits(asked), asked


def _longest_idle_waits(idle, monkeypatch, install=None):
    """After a call, ``idle`` seconds with none: the longest wait of the
    server's listener and of the client's reply thread, as their
    connections were asked to wait (by the driver, or by ``install``,
    called once the waits are recorded, and what it wraps around them)."""
    longest = {}
    consume = impl_rabbit.Connection.consume

    def recording(self, *args, timeout=None, **kwargs):
        longest[id(self)] = max(longest.get(id(self), 0.0), timeout or 0.0)
        return consume(self, *args, timeout=timeout, **kwargs)

    monkeypatch.setattr(impl_rabbit.Connection, 'consume', recording)
    if install is not None:
        install()
    with _serving('idle') as (server, client, transport):
        assert client.call({}, 'echo', arg='idle') == 'idle'
        time.sleep(idle)
        # Each holds its driver connection in a ConnectionContext.
        listener = server.listener._poll_style_listener.conn.connection
        replies = transport._driver._waiter.conn.connection
        return longest.get(id(listener)), longest.get(id(replies))


def test_idle_waits_end_within_a_second(rabbit, fresh_amqp_guard,
                                        monkeypatch):
    # A stop waits for the listener's wait, and the transport's cleanup
    # for the reply thread's. After a call and 4.5 s with none, the
    # driver alone waits 4 s at a time (the control below); with the
    # guard, IDLE_WAIT_MAX at most.
    listener, replies = _longest_idle_waits(4.5, monkeypatch,
                                            fresh_amqp_guard.install)
    print('longest waits: listener %.2f s, reply thread %.2f s' % (
        listener, replies))
    assert listener is not None and replies is not None
    assert 0 < listener <= amqp_guard.IDLE_WAIT_MAX
    assert 0 < replies <= amqp_guard.IDLE_WAIT_MAX


def test_the_driver_alone_waits_longer_when_idle(
        rabbit, shipped_rabbit_driver, monkeypatch):
    # Control: the driver as oslo.messaging ships it: its connection's
    # own consume, and its reply thread's own loop.
    listener, replies = _longest_idle_waits(4.5, monkeypatch)
    print('longest waits: listener %.2f s, reply thread %.2f s' % (
        listener, replies))
    assert listener > 2 * amqp_guard.IDLE_WAIT_MAX
    assert replies > 2 * amqp_guard.IDLE_WAIT_MAX


class _Counted:
    """Counts the calls of ``owner.name`` (a method) for the test."""

    def __init__(self, monkeypatch, owner, name):
        self.calls = 0
        method = getattr(owner, name)

        def counting(*args, **kwargs):
            self.calls += 1
            return method(*args, **kwargs)

        monkeypatch.setattr(owner, name, counting)


@pytest.fixture
def echo_server(rabbit):
    with _serving('lean') as served:
        yield served


def _install_then_serve(fresh_amqp_guard, request):
    fresh_amqp_guard.install()
    return request.getfixturevalue('echo_server')


def test_calls_in_a_row_are_read_without_the_consume_loop(
        fresh_amqp_guard, request):
    server, client, _ = _install_then_serve(fresh_amqp_guard, request)
    consumes = _WaitCounter(server.listener._poll_style_listener.conn)
    start = time.monotonic()
    for i in range(50):
        assert client.call({}, 'echo', arg=i) == i
    waits = consumes.after(start, time.monotonic() - start)
    print('driver consume loops for 50 calls: %d' % waits)
    # Each call arrives within POLL_FLOOR of the previous answer: the
    # driver's consume() (one per call without the guard) is not needed.
    assert waits < 10


def test_replies_skip_the_retry_machinery(fresh_amqp_guard, request,
                                          monkeypatch):
    server, client, _ = _install_then_serve(fresh_amqp_guard, request)
    publishing = _Counted(monkeypatch, impl_rabbit.Connection,
                          '_ensure_publishing')
    for i in range(20):
        assert client.call({}, 'echo', arg=i) == i
    # The client's calls go through it (one per call); replies do not.
    assert publishing.calls == 20


def test_a_reply_whose_channel_broke_goes_through_the_driver(
        fresh_amqp_guard, request, monkeypatch):
    server, client, transport = _install_then_serve(fresh_amqp_guard,
                                                    request)
    guarded = impl_rabbit.Connection.direct_send
    replies = []

    def break_then_send(self, msg_id, msg):
        # The channel closes (as after a channel error) just before the
        # second and the third reply are published. Under the connection's
        # lock, as the driver uses its channel: the driver's heartbeat
        # thread drains the connection's frames, and could take the
        # broker's close-ok while close() waits for it (the reply then
        # waited, and the call timed out, once in a full run).
        replies.append(msg_id)
        if len(replies) in (2, 3):
            with self._connection_lock:
                self.channel.close()
        return guarded(self, msg_id, msg)

    monkeypatch.setattr(impl_rabbit.Connection, 'direct_send',
                        break_then_send)
    publishing = _Counted(monkeypatch, impl_rabbit.Connection,
                          '_ensure_publishing')
    for i in range(5):
        assert client.call({}, 'echo', arg=i) == i
    assert len(replies) == 5
    # The 5 calls, and the 2 replies that the driver published again on
    # a channel of its own.
    assert publishing.calls == 7
