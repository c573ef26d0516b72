"""Stopping the compute's periodic tasks never waits on a hung call."""

import threading
import time

from nova_proxy.compute import periodic


class _Stuck(periodic.PeriodicThread):
    """A run that sits in a "call to the proxies" until released."""
    name = 'stuck'
    STOP_WAIT = 0.5

    def __init__(self):
        super().__init__(None, interval=60)
        self.entered = threading.Event()
        self.release = threading.Event()

    def run_once(self):
        self.entered.set()
        self.release.wait(30)


def test_stop_gives_up_on_a_run_stuck_in_a_call(caplog):
    task = _Stuck()
    task.start()
    assert task.entered.wait(5)
    started = time.monotonic()
    task.stop()
    took = time.monotonic() - started
    assert 0.45 <= took < 5
    assert 'still in a call to the proxies' in caplog.text
    task.release.set()


def test_tasks_asked_together_wait_once_not_once_each():
    tasks = [_Stuck() for _ in range(4)]
    for task in tasks:
        task.start()
    for task in tasks:
        assert task.entered.wait(5)
    started = time.monotonic()
    for task in tasks:
        task.request_stop()
    for task in tasks:
        task.stop()
    # One STOP_WAIT (0.5 s) in all, not four (2 s).
    assert time.monotonic() - started < 1.5
    for task in tasks:
        task.release.set()


def test_an_idle_task_stops_at_once():
    task = _Stuck()
    task.release.set()
    task.start()
    assert task.entered.wait(5)
    started = time.monotonic()
    task.stop()
    assert time.monotonic() - started < 0.45
