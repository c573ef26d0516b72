"""The start-up ping gives up after ``[proxy_client] startup_ping_timeout``
whether no proxy answers or the broker cannot be reached (a ping stuck
connecting, as oslo.messaging's rabbit driver is when there is no broker)."""

import threading
import time

import kombu.exceptions
import oslo_messaging as messaging
import pytest

from nova_proxy.compute import db_v1 as shim
from nova_proxy.compute import service as compute_service


@pytest.fixture(autouse=True)
def fast(config, monkeypatch):
    config.set_override('startup_ping_timeout', 1, group='proxy_client')
    config.set_override('startup_retry_interval', 0.1, group='compute')
    monkeypatch.setattr(compute_service, '_abandoned', threading.Event())


def test_a_ping_stuck_connecting_is_abandoned(monkeypatch):
    release = threading.Event()
    calls = []

    def stuck(context, arg, timeout=None):
        calls.append(timeout)
        release.wait(30)

    monkeypatch.setattr(shim, 'ping', stuck)
    started = time.monotonic()
    try:
        assert not compute_service.check_proxy_before_fork('lonely')
    finally:
        release.set()
    # startup_ping_timeout, the publish grace, half a second of cleanup.
    assert time.monotonic() - started < 3
    assert calls == [1]
    assert compute_service._abandoned.is_set()


def test_delivery_failures_are_retried_until_the_deadline(monkeypatch):
    calls = []

    def refused(context, arg, timeout=None):
        calls.append(timeout)
        raise messaging.MessageDeliveryFailure('refused')

    monkeypatch.setattr(shim, 'ping', refused)
    started = time.monotonic()
    with pytest.raises(messaging.MessageDeliveryFailure):
        compute_service.wait_for_proxy(_context())
    assert 1 <= time.monotonic() - started < 2
    assert len(calls) > 1
    assert not compute_service._abandoned.is_set()


def _found_after(monkeypatch, answers):
    """The launcher's wait finds a proxy after ``answers`` (errors the
    ping raises, then its answer), each used once."""
    answers = list(answers)

    def ping(context, arg, timeout=None):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(shim, 'ping', ping)
    assert compute_service.check_proxy_before_fork('lonely')
    assert answers == []


def test_a_proxy_answering_after_a_failure_is_found(monkeypatch):
    _found_after(monkeypatch, [messaging.MessageDeliveryFailure('refused'),
                               messaging.MessagingTimeout('none yet'),
                               'lonely'])


def test_zero_waits_without_a_thread(config, monkeypatch):
    config.set_override('startup_ping_timeout', 0, group='proxy_client')
    threads = []

    def ping(context, arg, timeout=None):
        threads.append(threading.current_thread())
        return arg

    monkeypatch.setattr(shim, 'ping', ping)
    compute_service.wait_for_proxy(_context())
    assert threads == [threading.main_thread()]


def _context():
    from nova_proxy.common import context as np_context
    return np_context.get_compute_context('lonely')


@pytest.mark.parametrize('error', [
    kombu.exceptions.OperationalError(
        '[Errno 104] Connection reset by peer'),
    ConnectionResetError(104, 'Connection reset by peer'),
], ids=['kombu', 'socket'])
def test_a_connection_reset_while_connecting_is_retried(monkeypatch, error):
    """A connection reset while the driver opens it is the broker not
    reachable yet: tried again, and past the deadline the launcher gets
    False (one line in its log), never a traceback."""
    _found_after(monkeypatch, [error, 'lonely'])

    def reset(context, arg, timeout=None):
        raise error

    monkeypatch.setattr(shim, 'ping', reset)
    with pytest.raises(messaging.MessageDeliveryFailure) as raised:
        compute_service.wait_for_proxy(_context())
    assert 'Connection reset by peer' in str(raised.value)
    assert not compute_service.check_proxy_before_fork('lonely')
