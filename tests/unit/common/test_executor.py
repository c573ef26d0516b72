"""``LastIdlePool``: which thread runs a message, how many threads there
are, and the drain at shutdown; and an RPC server running on it."""

import logging
import threading
import time

import oslo_messaging as messaging
import pytest

from nova_proxy.common import executor
from nova_proxy.common import rpc
from tests import receiving
from tests.unit import servers


def _thread_name(names):
    names.append(threading.current_thread().name)


def _wait(predicate, timeout=5):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.005)


def test_one_message_at_a_time_runs_on_one_thread():
    pool = executor.LastIdlePool(8)
    names = []
    for n in range(20):
        pool.submit(_thread_name, names)
        _wait(lambda: len(names) == n + 1 and pool.busy == 0)
    pool.shutdown()
    assert len(set(names)) == 1
    assert len(pool._workers) == 1


def test_the_thread_idle_last_is_woken_first():
    pool = executor.LastIdlePool(3)
    gates = [threading.Event() for _ in range(3)]
    names = []

    def hold(gate):
        _thread_name(names)
        gate.wait()

    for gate in gates:
        pool.submit(hold, gate)
    _wait(lambda: len(names) == 3)
    # Done in the order 0, 1, 2: 2 went idle last.
    for gate in gates:
        busy = pool.busy
        gate.set()
        _wait(lambda: pool.busy == busy - 1)
    later = []
    pool.submit(_thread_name, later)
    _wait(lambda: later)
    pool.shutdown()
    assert later == [names[2]]


def test_threads_start_only_when_all_are_busy_up_to_the_maximum():
    pool = executor.LastIdlePool(2)
    gate = threading.Event()
    started = []

    def hold(n):
        started.append(n)
        gate.wait()

    for n in range(5):
        pool.submit(hold, n)
    assert len(pool._workers) == 2
    assert pool.busy == 2
    assert list(task[1][0] for task in pool._backlog) == [2, 3, 4]
    gate.set()
    pool.shutdown(wait=True)
    # Queued messages ran, in arrival order after the first two.
    assert sorted(started[:2]) == [0, 1] and started[2:] == [2, 3, 4]
    assert not any(w.thread.is_alive() for w in pool._workers)


def test_shutdown_waits_for_running_and_queued_work_then_refuses_more():
    pool = executor.LastIdlePool(1)
    done = []
    pool.submit(lambda: (time.sleep(0.2), done.append('slow')))
    pool.submit(done.append, 'queued')
    started = time.monotonic()
    pool.shutdown(wait=True)
    assert time.monotonic() - started >= 0.1
    assert done == ['slow', 'queued']
    with pytest.raises(RuntimeError):
        pool.submit(done.append, 'late')


def test_shutdown_of_an_idle_pool_is_immediate():
    pool = executor.LastIdlePool(4)
    names = []
    pool.submit(_thread_name, names)
    _wait(lambda: names and pool.busy == 0)
    started = time.monotonic()
    pool.shutdown(wait=True)
    # futurist's idle threads notice a shutdown on a one-second poll.
    assert time.monotonic() - started < 0.5
    assert not pool._workers[0].thread.is_alive()


def test_an_error_escaping_a_task_is_logged_and_the_thread_serves_on(caplog):
    pool = executor.LastIdlePool(1)
    names = []
    with caplog.at_level(logging.ERROR):
        pool.submit(lambda: 1 / 0)
        pool.submit(_thread_name, names)
        pool.shutdown(wait=True)
    assert names == ['rpc-0']
    assert any('Unexpected error' in r.getMessage() for r in caplog.records)


def test_at_least_one_thread():
    with pytest.raises(ValueError):
        executor.LastIdlePool(0)


def test_an_rpc_server_on_last_idle_serves_and_drains(config):
    rpc.init()
    target = messaging.Target(topic='t-executor', server='s1')
    endpoint = receiving.GatedEndpoint()
    server = rpc.get_server(target, [endpoint], executor='last-idle')
    assert server._executor_cls is executor.LastIdlePool
    server.start()
    client = rpc.get_client(messaging.Target(topic='t-executor'),
                            timeout=5)
    try:
        # Each call made once the thread of the one before is idle again
        # (it replies before it goes idle: a call sent at once may find
        # it still busy and get a new thread, which is no error).
        pool = server._work_executor
        answers = []
        for _ in range(3):
            answers.append(client.call({}, 'where'))
            _wait(lambda: pool.busy == 0)
        assert answers == [1, 2, 3]
        assert set(endpoint.threads) == {'rpc-0'}
        results = []
        caller = threading.Thread(
            target=lambda: results.append(client.call({}, 'where',
                                                      wait=True)))
        caller.start()
        _wait(lambda: len(endpoint.threads) == 4)
    finally:
        server.stop()
    # Stopped with a call in flight: wait() lets it finish and reply.
    threading.Timer(0.1, endpoint.gate.set).start()
    server.wait()
    caller.join(5)
    assert results == [4]


def test_executor_thread_pool_size_bounds_the_last_idle_pool(config):
    config.set_override('executor_thread_pool_size', 3)
    rpc.init()
    server = rpc.get_server(messaging.Target(topic='t-size', server='s1'),
                            [], executor='last-idle')
    server.start()
    try:
        assert isinstance(server._work_executor, executor.LastIdlePool)
        assert server._work_executor.max_workers == 3
    finally:
        server.stop()
        server.wait()


def test_the_proxy_serves_on_the_configured_executor(config):
    from nova_proxy.proxy import service
    proxy = service.ProxyService('host-1')
    assert proxy._server_options() == {'executor': 'receiver-first',
                                       'server': 'direct'}
    config.set_override('executor', 'threading', group='proxy')
    config.set_override('rpc_server', 'oslo.messaging', group='proxy')
    assert proxy._server_options() == {'executor': 'threading',
                                       'server': 'oslo.messaging'}
    assert rpc.EXECUTORS['threading'] is None


def test_the_default_server_keeps_oslo_messagings_executor(config):
    with servers.serving(messaging.Target(topic='t-executor-default',
                                          server='s1'), []) as server:
        assert server._executor_cls is not executor.LastIdlePool


# -- ReceiverFirstPool: a lone call served by the thread that received it --

def _receiver_first_server(topic):
    rpc.init()
    endpoint = receiving.GatedEndpoint()
    server = rpc.get_server(messaging.Target(topic=topic, server='s1'),
                            [endpoint], executor='receiver-first')
    server.start()
    client = rpc.get_client(messaging.Target(topic=topic), timeout=10)
    return server, endpoint, client


def test_receiver_first_serves_lone_calls_on_the_receiving_thread(config):
    server, endpoint, client = _receiver_first_server('t-rf-lone')
    try:
        pool = server._work_executor
        assert isinstance(pool, executor.ReceiverFirstPool)
        answers = [client.call({}, 'where') for _ in range(5)]
        assert answers == [1, 2, 3, 4, 5]
        receiver_thread = server.listener._listen_thread.name
        assert set(endpoint.threads) == {receiver_thread}
        # No hand-off: the pool never started a thread.
        assert pool._workers == []
        assert pool.reliefs == 0
    finally:
        server.stop()
        server.wait()


def test_a_long_call_on_the_receiving_thread_has_the_watchdog_receive(
        config):
    server, endpoint, client = _receiver_first_server('t-rf-long')
    polls = receiving.count_concurrent_polls(
        server.listener._poll_style_listener)
    pool = server._work_executor
    receiver_thread = server.listener._listen_thread.name
    long_call = []
    try:
        client.call({}, 'where')  # the receiver is known from here on
        caller = threading.Thread(target=lambda: long_call.append(
            client.call({}, 'where', wait=True)))
        caller.start()
        _wait(lambda: len(endpoint.threads) == 2)
        assert endpoint.threads[-1] == receiver_thread
        _wait(lambda: pool.reliefs == 1)
        # The long call still runs; others are answered meanwhile, by the
        # pool's threads.
        answers = [client.call({}, 'where') for _ in range(3)]
        assert answers == [3, 4, 5]
        assert not long_call
        assert all(name.startswith('rpc-')
                   for name in endpoint.threads[2:])
        endpoint.gate.set()
        caller.join(10)
        # It answers how many calls had come by its end.
        assert long_call == [5]
        # The receiving thread has its role back: a lone call is served
        # there again, and the watchdog is no longer receiving.
        _wait(lambda: not pool._relief and pool.busy == 0)
        assert client.call({}, 'where') == 6
        assert endpoint.threads[-1] == receiver_thread
        assert polls['most'] == 1
    finally:
        endpoint.gate.set()
        server.stop()
        server.wait()
    assert not pool._watchdog.is_alive()


def test_a_server_stopped_during_a_relief_drains_and_ends(config):
    server, endpoint, client = _receiver_first_server('t-rf-stop')
    pool = server._work_executor
    client.call({}, 'where')
    results = []
    caller = threading.Thread(target=lambda: results.append(
        client.call({}, 'where', wait=True)))
    caller.start()
    _wait(lambda: pool.reliefs == 1)
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    # stop() waits for the receiving thread, which serves the long call.
    time.sleep(0.2)
    assert stopper.is_alive()
    endpoint.gate.set()
    stopper.join(10)
    assert not stopper.is_alive()
    server.wait()
    caller.join(10)
    assert results == [2]
    assert not pool._relief
    assert not pool._watchdog.is_alive()


def test_receiver_first_hands_every_call_to_the_pool_without_a_receiver(
        caplog):
    # Submitted by a thread that is no RPC server's receiving thread.
    pool = executor.ReceiverFirstPool(2)
    names = []
    with caplog.at_level(logging.WARNING):
        for n in range(3):
            pool.submit(_thread_name, names)
            _wait(lambda: len(names) == n + 1 and pool.busy == 0)
    pool.shutdown()
    assert set(names) == {'rpc-0'}
    assert pool._watchdog is None
    assert 'every call is handed to a thread of the pool' in caplog.text


def test_the_watchdog_sleeps_when_no_call_comes_and_wakes_for_one(
        config, monkeypatch):
    monkeypatch.setattr(executor, 'WATCH_IDLE_AFTER', 0.1)
    server, endpoint, client = _receiver_first_server('t-rf-idle')
    pool = server._work_executor
    results = []
    try:
        client.call({}, 'where')
        _wait(lambda: pool._watch_asleep)
        # A long call after the watchdog fell asleep is still relieved.
        caller = threading.Thread(target=lambda: results.append(
            client.call({}, 'where', wait=True)))
        caller.start()
        _wait(lambda: pool.reliefs == 1)
        assert client.call({}, 'where') == 3
        endpoint.gate.set()
        caller.join(10)
        assert results == [3]
        _wait(lambda: pool._watch_asleep)
    finally:
        endpoint.gate.set()
        server.stop()
        server.wait()
    assert not pool._watchdog.is_alive()


def test_a_call_queued_during_a_relief_runs_when_the_long_one_ends(config):
    # One thread in all: the call on the receiving thread takes it, so
    # what the relief receives waits in the backlog for it.
    config.set_override('executor_thread_pool_size', 1)
    server, endpoint, client = _receiver_first_server('t-rf-one')
    pool = server._work_executor
    results = []
    try:
        client.call({}, 'where')
        long_caller = threading.Thread(target=lambda: results.append(
            ('long', client.call({}, 'where', wait=True))))
        long_caller.start()
        _wait(lambda: pool.reliefs == 1)
        short_caller = threading.Thread(target=lambda: results.append(
            ('short', client.call({}, 'where'))))
        short_caller.start()
        _wait(lambda: len(pool._backlog) == 1)
        assert pool._workers == [] and results == []
        endpoint.gate.set()
        long_caller.join(10)
        short_caller.join(10)
        assert sorted(results) == [('long', 2), ('short', 3)]
    finally:
        endpoint.gate.set()
        server.stop()
        server.wait()


def test_the_receiving_thread_keeps_no_context_of_a_call(config):
    from oslo_context import context as oslo_context
    server, endpoint, client = _receiver_first_server('t-rf-context')
    seen = []
    listener = server.listener._poll_style_listener
    poll = listener.poll

    def recording(*args, **kwargs):
        seen.append(oslo_context.get_current())
        return poll(*args, **kwargs)

    listener.poll = recording
    try:
        # The poll after the call served on the receiving thread.
        client.call({'request_id': 'req-first'}, 'where')
        _wait(lambda: seen)
        assert seen == [None]
    finally:
        server.stop()
        server.wait()


def test_a_relief_that_cannot_receive_hands_every_call_to_the_pool(
        config, caplog):
    server, endpoint, client = _receiver_first_server('t-rf-broken')
    pool = server._work_executor
    results = []
    try:
        client.call({}, 'where')
        receiver = pool._receiver

        def broken(**kwargs):
            raise RuntimeError('poll changed')

        receiver.poll = broken
        caller = threading.Thread(target=lambda: results.append(
            client.call({}, 'where', wait=True)))
        caller.start()
        _wait(lambda: pool._receiver is None)
        assert 'could not receive' in caplog.text
        endpoint.gate.set()
        caller.join(10)
        assert results == [2]
        # From now on the pool serves every call.
        assert client.call({}, 'where') == 3
        assert endpoint.threads[-1].startswith('rpc-')
    finally:
        endpoint.gate.set()
        server.stop()
        server.wait()


def test_the_call_on_the_receiving_thread_counts_against_the_bound(config):
    config.set_override('executor_thread_pool_size', 2)
    server, endpoint, client = _receiver_first_server('t-rf-bound')
    pool = server._work_executor
    results = []

    def long_call():
        results.append(client.call({}, 'where', wait=True))

    try:
        client.call({}, 'where')
        callers = [threading.Thread(target=long_call) for _ in range(3)]
        callers[0].start()
        _wait(lambda: pool.reliefs == 1)
        for caller in callers[1:]:
            caller.start()
        _wait(lambda: len(endpoint.threads) == 3)
        # Two running (the receiving thread's and one of the pool's), the
        # third queued: the bound is executor_thread_pool_size.
        time.sleep(0.2)
        assert len(endpoint.threads) == 3
        assert pool.busy == 2 and len(pool._backlog) == 1
        assert len(pool._workers) == 1
        endpoint.gate.set()
        for caller in callers:
            caller.join(10)
        assert len(results) == 3
    finally:
        endpoint.gate.set()
        server.stop()
        server.wait()


# -- submit_when_free: nothing waits in memory for a thread --

def _hold_the_only_thread(pool):
    gate = threading.Event()
    pool.submit(gate.wait, 10)
    _wait(lambda: pool.busy == 1)
    return gate


@pytest.mark.parametrize('cls', [executor.LastIdlePool,
                                 executor.ReceiverFirstPool])
def test_submit_when_free_takes_a_call_only_once_a_thread_is_free(cls):
    pool = cls(1)
    gate = _hold_the_only_thread(pool)
    taken, ran, outcome = [], [], []
    handing = threading.Thread(target=lambda: outcome.append(
        pool.submit_when_free(ran.append, ('call',),
                              taken=lambda: taken.append(1) or True,
                              stopping=lambda: False)))
    handing.start()
    time.sleep(0.3)
    # Not taken (so, on RabbitMQ, not acknowledged) while none is free.
    assert taken == [] and ran == [] and handing.is_alive()
    assert not pool._backlog
    gate.set()
    handing.join(5)
    _wait(lambda: ran == ['call'])
    assert taken == [1] and outcome == [True]
    pool.shutdown()


def test_submit_when_free_leaves_a_call_untaken_when_stopping():
    pool = executor.LastIdlePool(1)
    gate = _hold_the_only_thread(pool)
    stopping = threading.Event()
    taken, ran, outcome = [], [], []
    handing = threading.Thread(target=lambda: outcome.append(
        pool.submit_when_free(ran.append, ('call',),
                              taken=lambda: taken.append(1) or True,
                              stopping=stopping.is_set)))
    handing.start()
    time.sleep(0.2)
    stopping.set()
    handing.join(executor.HAND_OVER_CHECK * 20)
    assert not handing.is_alive()
    assert outcome == [False] and taken == [] and ran == []
    gate.set()
    pool.shutdown()
    assert ran == []


def test_submit_when_free_runs_nothing_the_taking_refused():
    pool = executor.LastIdlePool(2)
    ran = []
    assert pool.submit_when_free(ran.append, ('call',),
                                 taken=lambda: False,
                                 stopping=lambda: False) is False
    pool.shutdown()
    assert ran == [] and pool.busy == 0 and not pool._workers


def test_submit_when_free_after_shutdown_takes_nothing():
    pool = executor.LastIdlePool(1)
    pool.shutdown()
    taken = []
    assert pool.submit_when_free(print, ('x',),
                                 taken=lambda: taken.append(1) or True,
                                 stopping=lambda: False) is False
    assert taken == []


def test_a_server_on_the_fake_driver_acknowledges_as_oslo_messaging(
        config):
    # Only the rabbit driver's RPC listener is changed; on another
    # driver the server submits as before.
    server, endpoint, client = _receiver_first_server('t-rf-fake-ack')
    try:
        assert client.call({}, 'where') == 1
        assert server._ack_on_hand_over is False
    finally:
        server.stop()
        server.wait()


def test_a_call_taken_as_the_pool_shuts_down_is_served_all_the_same():
    # A stop racing the last poll: acknowledged, so served, on the
    # thread that took it.
    pool = executor.LastIdlePool(2)
    names = []

    def taken():
        pool.shutdown(wait=False)
        return True

    assert pool.submit_when_free(_thread_name, (names,), taken=taken,
                                 stopping=lambda: False) is True
    assert names == [threading.current_thread().name]
    with pytest.raises(executor.PoolShutDown):
        pool.submit(_thread_name, names)


def test_a_call_held_while_every_thread_is_busy_goes_to_the_first_done(
        monkeypatch):
    # No hand-off through an idle thread: the thread that finishes takes
    # the call (and its acknowledgement) itself, and the receiving thread
    # is let go as soon as it has, not at its next look.
    monkeypatch.setattr(executor, 'HAND_OVER_CHECK', 60)
    pool = executor.LastIdlePool(1)
    gate = threading.Event()
    names = []

    def hold():
        _thread_name(names)
        gate.wait(10)

    pool.submit(hold)
    _wait(lambda: pool.busy == 1)
    second = threading.Event()

    def hold_second():
        _thread_name(names)
        second.wait(10)

    taken_on, outcome = [], []
    handing = threading.Thread(target=lambda: outcome.append(
        pool.submit_when_free(hold_second, (),
                              taken=lambda: taken_on.append(
                                  threading.current_thread().name) or True,
                              stopping=lambda: False)))
    handing.start()
    _wait(lambda: pool._offer is not None)
    gate.set()
    # Let go while the call it handed over still runs.
    handing.join(10)
    assert not handing.is_alive() and not second.is_set()
    _wait(lambda: len(names) == 2)
    assert outcome == [True]
    assert taken_on == [names[0]] and names[1] == names[0]
    second.set()
    pool.shutdown()
