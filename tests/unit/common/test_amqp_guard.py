"""The guard that keeps a stopping rabbit listener from acknowledging
calls it will never serve."""

import threading

from oslo_messaging._drivers import amqpdriver

from nova_proxy.common import amqp_guard


class _Message:

    def __init__(self):
        self.acked = False


def test_a_stopping_listener_leaves_the_call_unacknowledged(monkeypatch):
    seen = []

    def original(self, message):
        message.acked = True
        seen.append(message)

    monkeypatch.setattr(amqpdriver.RpcAMQPListener, '__call__', original)
    monkeypatch.setattr(amqp_guard, '_installed', False)
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
