"""``[proxy] executor = receiver-first`` on the real RabbitMQ: a lone call
is served by the listener's thread; while a long one runs there the
watchdog receives through the rabbit listener (and ``amqp_guard``'s
wrappers of its poll), one thread at a time; a message waiting on the
socket sends the call before it to the pool."""

import threading
import time

import oslo_messaging as messaging
import pytest

from nova_proxy.common import executor
from nova_proxy.common import rpc
from nova_proxy import conf
from tests import receiving

CONF = conf.CONF


def _wait(predicate, timeout=15):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.005)


@pytest.fixture
def served(rabbit):
    rpc.init()
    endpoint = receiving.GatedEndpoint()
    server = rpc.get_server(
        messaging.Target(topic=CONF.proxy.topic, server='rf-1'),
        [endpoint], executor='receiver-first')
    server.start()
    client = rpc.get_client(messaging.Target(topic=CONF.proxy.topic),
                            timeout=30)
    # The first call may race the queue's binding.
    for attempt in range(20):
        try:
            client.call({}, 'where')
            break
        except messaging.MessagingTimeout:
            if attempt == 19:
                raise
    yield server, endpoint, client
    endpoint.gate.set()
    server.stop()
    server.wait()


def test_a_long_call_is_relieved_through_the_rabbit_listener(served):
    server, endpoint, client = served
    pool = server._work_executor
    receiver = pool._receiver
    assert receiver is not None
    receiver_thread = server.listener._listen_thread.name
    assert endpoint.threads == [receiver_thread]
    assert receiver.pending() is False
    # The adapter's loop and the relief both poll the listener.
    polls = receiving.count_concurrent_polls(
        receiver.adapter._poll_style_listener, receiver)
    results = []
    caller = threading.Thread(target=lambda: results.append(
        client.call({}, 'where', wait=True)))
    caller.start()
    _wait(lambda: pool.reliefs == 1)
    assert endpoint.threads[-1] == receiver_thread
    answers = [client.call({}, 'where') for _ in range(5)]
    assert answers == [3, 4, 5, 6, 7] and not results
    assert all(name.startswith('rpc-') for name in endpoint.threads[2:])
    endpoint.gate.set()
    caller.join(30)
    assert results == [7]
    _wait(lambda: not pool._relief and pool.busy == 0)
    assert client.call({}, 'where') == 8
    assert endpoint.threads[-1] == receiver_thread
    assert polls['polls'] > 1 and polls['most'] == 1


def test_a_message_waiting_on_the_socket_is_seen(served, monkeypatch):
    server, endpoint, client = served
    pool = server._work_executor
    receiver = pool._receiver
    # No relief: the second call stays on the socket (or in the
    # listener's list) while the first is served.
    monkeypatch.setattr(executor, 'RELIEF_AFTER', 60)
    results = []
    first = threading.Thread(target=lambda: results.append(
        client.call({}, 'where', wait=True)))
    first.start()
    _wait(lambda: len(endpoint.threads) == 2)
    assert receiver.pending() is False
    second = threading.Thread(target=lambda: results.append(
        client.call({}, 'where')))
    second.start()
    _wait(lambda: receiver.pending())
    endpoint.gate.set()
    first.join(30)
    second.join(30)
    assert sorted(results) == [2, 3] and pool.reliefs == 0
    _wait(lambda: receiver.pending() is False)


def test_a_server_stopped_during_a_relief_answers_its_calls(served):
    server, endpoint, client = served
    pool = server._work_executor
    results = []
    caller = threading.Thread(target=lambda: results.append(
        client.call({}, 'where', wait=True)))
    caller.start()
    _wait(lambda: pool.reliefs == 1)
    short = [client.call({}, 'where') for _ in range(2)]
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    time.sleep(0.3)
    endpoint.gate.set()
    stopper.join(30)
    assert not stopper.is_alive()
    server.wait()
    caller.join(30)
    assert short == [3, 4] and results == [4]
    assert not pool._relief and not pool._watchdog.is_alive()
