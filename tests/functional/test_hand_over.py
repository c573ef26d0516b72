"""Calls are acknowledged when a thread takes them, on the real RabbitMQ.

oslo.messaging's RPC listener acknowledges a call when it reads it, so a
server that reads faster than its threads serve held the rest in memory,
acknowledged, and a crash lost them. Our servers (``[proxy] executor``
``receiver-first`` and ``last-idle``) read a call only when a thread is
free to take it, and acknowledge it then: the rest wait with the broker,
at most the prefetch count of them delivered to this server and not
acknowledged, and a server that dies gives those back."""

import os
import signal
import subprocess
import sys
import threading
import time

import amqp
import oslo_messaging as messaging
import pytest

from nova_proxy.common import rpc
from nova_proxy import conf
from tests import receiving

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
    conn = amqp.Connection(host='127.0.0.1:5672', userid='guest',
                           password='guest')
    conn.connect()
    try:
        return conn.channel().queue_declare(queue, passive=True)[1]
    finally:
        conn.close()


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


@pytest.mark.parametrize('pool', ['receiver-first', 'last-idle'])
def test_calls_beyond_the_threads_wait_with_the_broker(rabbit, pool):
    rpc.set_executor_threads_default(2)
    rpc.init()
    topic = CONF.proxy.topic
    endpoint = receiving.GatedEndpoint()
    server = rpc.get_server(messaging.Target(topic=topic, server='h-1'),
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


def test_a_killed_server_loses_only_the_calls_it_was_running(rabbit):
    """SIGKILL, as the OOM killer or a power cut: the calls its two
    threads had taken are lost (their callers time out: at most once),
    every other call it had been delivered is served by the next server."""
    topic = CONF.proxy.topic
    gated = subprocess.Popen(
        [sys.executable, '-m', 'tests.functional.gated_server', rabbit,
         topic, '2'], cwd=REPO, stdout=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(gated.stdout),
                              daemon=True)
    reader.start()
    try:
        _wait(lambda: 'ready\n' in lines, 60, 'the gated server')
        rpc.init()
        client = rpc.get_client(messaging.Target(topic=topic), timeout=25)
        _wait(lambda: _answers(client), message='the gated server to '
              'answer')
        calls = 2 + rpc.PREFETCH_COUNT + 6
        outcomes = []
        threads = _call_all(client, calls, outcomes, wait=True)
        _wait(lambda: sum(line.startswith('running') for line in lines)
              >= 3, message='two calls running')
        _wait(lambda: ready_in_queue(topic) <= calls - 2 -
              rpc.PREFETCH_COUNT, message='the prefetch to fill')
        os.kill(gated.pid, signal.SIGKILL)
        gated.wait(10)
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
        if gated.poll() is None:
            gated.kill()
            gated.wait(10)
    answered = [o for o in outcomes if isinstance(o, int)]
    lost = [o for o in outcomes if not isinstance(o, int)]
    print('\nkilled with %d calls sent: %d answered by the next server, %d '
          'lost' % (calls, len(answered), len(lost)))
    assert len(outcomes) == calls
    assert len(lost) == 2 and len(answered) == calls - 2
    assert len(endpoint.threads) == calls - 2
