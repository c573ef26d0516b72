"""``rpc.call_within``: a call's deadline covers publishing it, while the
broker cannot be reached. (The same against a real broker cut off:
``tests/functional/test_shim_outage.py``.)"""

import time

import oslo_messaging as messaging
import pytest

from nova_proxy.common import rpc


class _Broker:
    """A prepared call context whose publishes fail ``down`` times."""

    def __init__(self, down, answer='pong'):
        self.down = down
        self.answer = answer
        self.attempts = []

    def prepare(self, **kwargs):
        self.attempts.append(kwargs)
        return self

    def call(self, context, method, **kwargs):
        if len(self.attempts) <= self.down:
            raise messaging.MessageDeliveryFailure('connection refused')
        return (self.answer, method, kwargs)


def test_publishes_again_with_the_time_left(monkeypatch):
    monkeypatch.setattr(rpc, 'PUBLISH_RETRY_INTERVAL', 0.05)
    broker = _Broker(down=3)
    assert rpc.call_within(broker, {}, 'ping', 5, arg=1) == (
        'pong', 'ping', {'arg': 1})
    assert len(broker.attempts) == 4
    # One publish per attempt, never the driver's own reconnect loop.
    assert all(a['retry'] == 0 for a in broker.attempts)
    timeouts = [a['timeout'] for a in broker.attempts]
    assert timeouts == sorted(timeouts, reverse=True)
    assert 4.5 < timeouts[-1] < 5


def test_an_unreachable_broker_ends_the_call_at_its_deadline(monkeypatch):
    monkeypatch.setattr(rpc, 'PUBLISH_RETRY_INTERVAL', 0.05)
    broker = _Broker(down=10 ** 6)
    start = time.monotonic()
    with pytest.raises(messaging.MessagingTimeout,
                       match='broker could not be reached'):
        rpc.call_within(broker, {}, 'ping', 0.5, arg=1)
    assert 0.5 <= time.monotonic() - start < 0.7
    assert len(broker.attempts) > 3


def test_other_errors_are_not_retried():
    class Refusing(_Broker):
        def call(self, context, method, **kwargs):
            raise messaging.MessagingTimeout('no answer')

    broker = Refusing(down=0)
    with pytest.raises(messaging.MessagingTimeout, match='no answer'):
        rpc.call_within(broker, {}, 'ping', 5)
    assert len(broker.attempts) == 1
