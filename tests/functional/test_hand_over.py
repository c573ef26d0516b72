"""Calls are acknowledged when a thread takes them, on the real RabbitMQ.

oslo.messaging's RPC listener acknowledges a call when it reads it, so a
server that reads faster than its threads serve held the rest in memory,
acknowledged, and a crash lost them. Our servers (``[proxy] executor``
``receiver-first`` and ``last-idle``) read a call only when a thread is
free to take it, and acknowledge it then: the rest wait with the broker,
at most the prefetch count of them delivered to this server and not
acknowledged, and a server that dies gives those back. The proxy's
default RPC server (``[proxy] rpc_server = direct``, ``direct_rpc``)
reads up to the prefetch count and acknowledges a call when a worker
takes it: every test here runs on both."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import oslo_messaging as messaging
import pytest

from nova_proxy.common import rpc
from nova_proxy import conf
from tests import receiving
from tests.functional import procs

CONF = conf.CONF
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _wait(predicate, timeout=30, message='condition'):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out waiting for ' + message
        time.sleep(0.02)


def ready_in_queue(queue):
    """Messages of ``queue`` the broker has not delivered to anyone."""
    with procs.broker_connection() as conn:
        return conn.channel().queue_declare(queue, passive=True)[1]


def _call_all(client, count, outcomes, **kwargs):
    def call(i):
        try:
            outcomes.append(client.call({}, 'where', **kwargs))
        except messaging.MessagingTimeout as e:
            outcomes.append(e)
    threads = [threading.Thread(target=call, args=(i,), daemon=True)
               for i in range(count)]
    for t in threads:
        t.start()
    return threads


SERVERS = ['oslo.messaging', 'direct']


@pytest.mark.parametrize('pool', ['receiver-first', 'last-idle', 'direct'])
def test_calls_beyond_the_threads_wait_with_the_broker(rabbit, pool):
    rpc.set_executor_threads_default(2)
    rpc.init()
    topic = CONF.proxy.topic
    endpoint = receiving.GatedEndpoint()
    if pool == 'direct':
        server = rpc.get_server(messaging.Target(topic=topic, server='h-1'),
                                [endpoint], server='direct')
    else:
        server = rpc.get_server(messaging.Target(topic=topic,
                                                 server='h-1'),
                                [endpoint], executor=pool)
    server.start()
    client = rpc.get_client(messaging.Target(topic=topic), timeout=60)
    try:
        _wait(lambda: _answers(client), message='the server to answer')
        served_before = len(endpoint.threads)
        calls = 2 + rpc.PREFETCH_COUNT + 14
        outcomes = []
        threads = _call_all(client, calls, outcomes, wait=True)
        _wait(lambda: len(endpoint.threads) == served_before + 2,
              message='both threads to take a call')
        # The broker has delivered all it may: the prefetch count.
        _wait(lambda: ready_in_queue(topic) <= calls - 2 -
              rpc.PREFETCH_COUNT, message='the prefetch to fill')
        time.sleep(0.5)
        # Two calls taken, none read beyond the prefetch: the other 14
        # are still the broker's (oslo.messaging's listener would have
        # read and acknowledged every one of them).
        assert len(endpoint.threads) == served_before + 2
        assert ready_in_queue(topic) == calls - 2 - rpc.PREFETCH_COUNT
        endpoint.gate.set()
        for t in threads:
            t.join(60)
        assert len(outcomes) == calls
        assert all(isinstance(o, int) for o in outcomes), outcomes
        assert ready_in_queue(topic) == 0
    finally:
        endpoint.gate.set()
        server.stop()
        server.wait()


def _answers(client):
    try:
        client.prepare(timeout=2).call({}, 'where')
        return True
    except messaging.MessagingTimeout:
        return False


class Gated:
    """A ``tests.functional.gated_server`` process on ``topic`` with
    ``threads`` threads, and a client of it (``timeout`` per call);
    ``running()`` lists the numbers of the calls it started."""

    def __init__(self, exchange, topic, threads, timeout, heartbeat=None,
                 server='oslo.messaging'):
        argv = [sys.executable, '-m', 'tests.functional.gated_server',
                exchange, topic, str(threads), '--server', server]
        if heartbeat is not None:
            argv += ['--heartbeat', str(heartbeat)]
        self.process = subprocess.Popen(argv, cwd=REPO,
                                        stdout=subprocess.PIPE, text=True)
        self.lines = []
        threading.Thread(target=lambda: self.lines.extend(
            self.process.stdout), daemon=True).start()
        try:
            _wait(lambda: 'ready\n' in self.lines, 60, 'the gated server')
            rpc.init()
            self.client = rpc.get_client(messaging.Target(topic=topic),
                                         timeout=timeout)
            _wait(lambda: _answers(self.client),
                  message='the gated server to answer')
        except BaseException:
            self.stop()
            raise

    def running(self):
        return [int(line.split()[1]) for line in self.lines
                if line.startswith('running')]

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


@pytest.mark.parametrize('kind', SERVERS)
def test_a_killed_server_loses_only_the_calls_it_was_running(rabbit, kind):
    """SIGKILL, as the OOM killer or a power cut: the calls its two
    threads had taken are lost (their callers time out: at most once),
    every other call it had been delivered is served by the next server."""
    topic = CONF.proxy.topic
    gated = Gated(rabbit, topic, 2, timeout=25, server=kind)
    client = gated.client
    try:
        calls = 2 + rpc.PREFETCH_COUNT + 6
        outcomes = []
        threads = _call_all(client, calls, outcomes, wait=True)
        _wait(lambda: len(gated.running()) >= 3,
              message='two calls running')
        _wait(lambda: ready_in_queue(topic) <= calls - 2 -
              rpc.PREFETCH_COUNT, message='the prefetch to fill')
        os.kill(gated.process.pid, signal.SIGKILL)
        gated.process.wait(10)
        # The next server: every call not running at the kill.
        endpoint = receiving.GatedEndpoint()
        endpoint.gate.set()
        server = rpc.get_server(messaging.Target(topic=topic, server='h-2'),
                                [endpoint], executor='receiver-first')
        server.start()
        try:
            for t in threads:
                t.join(60)
        finally:
            server.stop()
            server.wait()
    finally:
        gated.stop()
    answered = [o for o in outcomes if isinstance(o, int)]
    lost = [o for o in outcomes if not isinstance(o, int)]
    print('\nkilled with %d calls sent: %d answered by the next server, %d '
          'lost' % (calls, len(answered), len(lost)))
    assert len(outcomes) == calls
    assert len(lost) == 2 and len(answered) == calls - 2
    assert len(endpoint.threads) == calls - 2


def _held_then_freed(gated, topic, while_held):
    """Send more calls than the gated server's one thread and its
    prefetch, call ``while_held()`` once its prefetch is full, then free
    it; returns every call's outcome."""
    calls = 1 + rpc.PREFETCH_COUNT + 4
    outcomes = []
    threads = _call_all(gated.client, calls, outcomes, wait=True)
    _wait(lambda: ready_in_queue(topic) <= calls - 1 - rpc.PREFETCH_COUNT,
          message='the prefetch to fill')
    while_held(calls)
    gated.process.send_signal(signal.SIGUSR1)
    for t in threads:
        t.join(120)
    return outcomes


def _each_served_once(gated, outcomes):
    assert all(isinstance(o, int) for o in outcomes), outcomes
    # The warm-up call, then each call once: none ran twice.
    assert gated.running() == list(range(1, len(outcomes) + 2))
    assert sorted(outcomes) == list(range(2, len(outcomes) + 2))


@pytest.mark.parametrize('kind', SERVERS)
def test_a_server_held_past_its_heartbeat_keeps_its_calls(rabbit, kind):
    """Its only thread held (a database that hangs) for three and a half
    heartbeat timeouts (4 s here; with no keep-alive the broker closed
    the connection after about 2.5 of them): the receiving thread,
    waiting for a free thread,
    still keeps its connection alive, so the broker neither closes it nor
    takes back the calls it delivered; freed, the server serves every
    call, each once."""
    topic = CONF.proxy.topic
    # 4 s, not less: the keep-alive sends a heartbeat up to a second
    # late, which a loaded machine may stretch.
    gated = Gated(rabbit, topic, 1, timeout=60, heartbeat=4, server=kind)

    def held(calls):
        time.sleep(14)
        # Still delivered to it: the broker kept the connection.
        assert ready_in_queue(topic) == calls - 1 - rpc.PREFETCH_COUNT

    try:
        outcomes = _held_then_freed(gated, topic, held)
    finally:
        gated.stop()
    _each_served_once(gated, outcomes)


def _close_connections_of(pid):
    """Have the broker close every connection of process ``pid`` (the
    driver names them ``<program>:<pid>:<uuid>``)."""
    listed = subprocess.run(
        ['rabbitmqctl', '-q', 'list_connections', 'pid', 'client_properties'],
        check=True, timeout=120, capture_output=True, text=True).stdout
    closed = 0
    for line in listed.splitlines():
        if ':%d:' % pid in line:
            subprocess.run(['rabbitmqctl', '-q', 'close_connection',
                            line.split('\t')[0], 'test_hand_over'],
                           check=True, timeout=120, capture_output=True)
            closed += 1
    return closed


@pytest.mark.skipif(shutil.which('rabbitmqctl') is None,
                    reason='needs rabbitmqctl to close a connection')
@pytest.mark.parametrize('kind', SERVERS)
def test_calls_waiting_when_the_connection_drops_are_served_once(rabbit,
                                                                 kind):
    """The broker closes the server's connections while its only thread
    is held and calls wait for it: the calls it had delivered go back to
    the queue, and a second server serves them. Freed, the first server
    finishes its call and drops its own copies of the others (an
    acknowledgement on the closed connection would be lost without an
    error, and each of them run twice)."""
    topic = CONF.proxy.topic
    gated = Gated(rabbit, topic, 1, timeout=90, server=kind)
    second = receiving.GatedEndpoint()
    second.gate.set()
    servers = []

    def dropped(calls):
        assert _close_connections_of(gated.process.pid) >= 1
        if kind == 'direct':
            # Its receiving thread connects again at once and is
            # delivered up to its prefetch again, beside the copies it
            # read on the closed connection; the second serves the rest.
            second_serves = calls - 1 - rpc.PREFETCH_COUNT
        else:
            # All but the one running back in the queue, for the second.
            _wait(lambda: ready_in_queue(topic) == calls - 1, 60,
                  'the broker to take the delivered calls back')
            second_serves = calls - 1
        server = rpc.get_server(messaging.Target(topic=topic, server='h-2'),
                                [second], executor='receiver-first')
        servers.append(server)
        server.start()
        _wait(lambda: len(second.threads) >= second_serves, 60,
              'the second server to serve them')

    try:
        outcomes = _held_then_freed(gated, topic, dropped)
        time.sleep(1)
    finally:
        gated.stop()
        for server in servers:
            server.stop()
            server.wait()
    calls = len(outcomes)
    assert all(isinstance(o, int) for o in outcomes), outcomes
    first = gated.running()
    if kind == 'direct':
        # The first: the warm-up call, the one it was running and those
        # delivered again to it; none of the copies read before the drop.
        # The second: the others. Each call once.
        assert first == list(range(1, len(first) + 1))
        assert len(first) - 1 + len(second.threads) == calls
        return
    # The first: the warm-up call and the one it was running, nothing
    # more; the second: all the others, each once.
    assert first == [1, 2]
    assert len(second.threads) == calls - 1
    # Its own count from each: the first's call was its second.
    assert sorted(outcomes) == sorted([2] + list(range(1, calls)))
