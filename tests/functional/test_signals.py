"""SIGHUP and SIGUSR2 on a real proxy with two workers, as an operator
sends them (``systemctl reload`` sends SIGHUP to the launcher)."""

import os
import re
import signal
import threading

import pytest

from nova_proxy.common import context as np_context
from nova_proxy.proxy import rpcapi as proxy_rpcapi
from tests.functional.procs import wait_for

SERVED = 'Served ping'


class Pings:
    """A thread pinging the proxies as fast as they answer."""

    def __init__(self):
        self.api = proxy_rpcapi.ProxyAPI(timeout=30)
        self.answered = 0
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        ctx = np_context.get_admin_context()
        while not self._stop.is_set():
            try:
                self.api.ping(ctx, self.answered)
                self.answered += 1
            except Exception as e:
                self.errors.append(repr(e))

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=60)


def worker_pids(proc):
    """``{member: pid}`` from the workers' start lines."""
    return {m: int(pid) for pid, m in re.findall(
        r'^\S+ \S+ (\d+) INFO \S+ \[.*?\] Proxy worker (\S+) starting',
        proc.log(), re.M)}


def served_since(proc, offset):
    return proc.log()[offset:].count(SERVED)


@pytest.fixture
def proxy(pg_cluster):
    options = {'proxy': {'workers': '2'},
               'DEFAULT': {'debug': 'false'}}
    proc = pg_cluster.start('proxy', 'p1', extra=options)
    wait_for(lambda: len(worker_pids(proc)) == 2, timeout=60,
             message='two proxy workers')
    wait_for(lambda: 'serving' in proc.log(), timeout=60,
             message='the proxy serving')
    proc.options = options
    return proc


def reload_with(cluster, proc, **defaults):
    """Rewrite the proxy's config with ``[DEFAULT]`` changed, SIGHUP the
    launcher, and wait until both workers say they reloaded."""
    options = dict(proc.options)
    options['DEFAULT'] = dict(options['DEFAULT'], **defaults)
    cluster.write_config(proc.name, options)
    before = proc.log().count('Option DEFAULT.')
    os.kill(proc.pid, signal.SIGHUP)
    # Each worker and the launcher log each option that changed.
    wait_for(lambda: proc.log().count('Option DEFAULT.') >= before + 3,
             timeout=30, message='the workers reloading')
    return len(proc.log())


def test_sighup_changes_log_levels_without_a_restart_or_a_lost_call(
        pg_cluster, proxy):
    pids = worker_pids(proxy)
    pings = Pings()
    try:
        wait_for(lambda: pings.answered > 20, message='pings answered')
        assert SERVED not in proxy.log()   # debug is off

        # One logger's level, by [DEFAULT] log_levels.
        offset = reload_with(pg_cluster, proxy,
                             log_levels='nova_proxy.common.rpc=DEBUG')
        wait_for(lambda: served_since(proxy, offset) > 10,
                 message='"Served ping" lines after the reload')

        # Removed again: the logger follows the root level (INFO) again.
        offset = reload_with(pg_cluster, proxy, log_levels='')
        answered = pings.answered
        wait_for(lambda: pings.answered > answered + 50,
                 message='more pings answered')
        # Lines of calls served just before the reload may trail it.
        assert served_since(proxy, offset) < 5

        # And debug, through oslo.log.
        offset = reload_with(pg_cluster, proxy, debug='true')
        wait_for(lambda: served_since(proxy, offset) > 10,
                 message='"Served ping" lines with debug on')
    finally:
        pings.stop()
    assert pings.errors == []
    # Reloaded in place: the same two workers, never restarted.
    assert worker_pids(proxy) == pids
    assert proxy.log().count('Proxy worker') == 2
    assert proxy.alive()


def test_sighup_with_a_bad_log_level_keeps_serving(pg_cluster, proxy):
    reload_with(pg_cluster, proxy, log_levels='nova_proxy=LOUD')
    assert "Not applied: [DEFAULT] log_levels: 'nova_proxy=LOUD'" in \
        proxy.log()
    ctx = np_context.get_admin_context()
    assert proxy_rpcapi.ProxyAPI(timeout=30).ping(ctx, 'still') == 'still'


def serving_pids(proc):
    """The pids of the workers that said they serve (after starting their
    heartbeat, periodic tasks and orchestration engine)."""
    return {int(pid) for pid in re.findall(
        r'^\S+ \S+ (\d+) INFO \S+ \[.*?\] ProxyService on host \S+ '
        r'serving', proc.log(), re.M)}


def test_sigusr2_writes_a_report_with_every_thread(pg_cluster, proxy):
    pid = worker_pids(proxy)['p1/0']
    # The fixture waits for one worker to serve: this one may still be
    # starting the threads its report must show (CI once sent the signal
    # that early, on a loaded machine).
    wait_for(lambda: pid in serving_pids(proxy), timeout=60,
             message='worker p1/0 serving')
    os.kill(pid, signal.SIGUSR2)
    wait_for(lambda: 'Guru Meditation' in proxy.log(), timeout=30,
             message='the report')
    # The threads of the worker: its heartbeat, its periodic tasks and the
    # orchestration scanner, each with its stack; then the options. The
    # report is long: a loaded machine writes it in pieces.
    wanted = ('Threads', 'liveness.py', 'periodic/runner.py',
              'orchestration/engine.py', 'Configuration')
    wait_for(lambda: all(w in proxy.log() for w in wanted), timeout=60,
             message='the whole report')
    assert proxy.alive()
    ctx = np_context.get_admin_context()
    assert proxy_rpcapi.ProxyAPI(timeout=30).ping(ctx, 1) == 1


def test_sighup_turns_on_debug_in_a_compute_service(pg_cluster, proxy):
    options = {'DEFAULT': {'debug': 'false'},
               'compute': {'report_interval': '1'},
               'proxy_client': {'startup_ping_timeout': '60'}}
    compute = pg_cluster.start('compute', 'cmp-1', extra=options)
    wait_for(lambda: 'Compute service cmp-1 started' in compute.log(),
             timeout=60, message='the compute to start')
    assert ' DEBUG ' not in compute.log()
    options['DEFAULT'] = {'debug': 'true'}
    pg_cluster.write_config('cmp-1', options)
    offset = len(compute.log())
    os.kill(compute.pid, signal.SIGHUP)
    # Its heartbeat and periodic tasks log at DEBUG once debug is on.
    wait_for(lambda: ' DEBUG ' in compute.log()[offset:], timeout=30,
             message='DEBUG lines from the compute')
    # The launcher and the worker each applied it.
    assert compute.log().count(
        'Option DEFAULT.debug changed from [false] to [true]') == 2
    assert compute.log().count('Compute service cmp-1 started') == 1
    assert compute.alive()
