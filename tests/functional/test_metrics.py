"""The metrics endpoints of real daemons, scraped as Prometheus would.

A proxy with two workers (prometheus_client's multiprocess mode) and a
compute service, both with ``[metrics] enabled``; the test makes calls,
builds an instance and lets a periodic task run, then reads the counters
from ``GET /metrics``.
"""

import signal
import socket
import subprocess
import sys
import urllib.request
import uuid

from prometheus_client import parser
import pytest

from nova_proxy import exception
from nova_proxy.proxy import rpcapi as proxy_rpcapi
from tests.functional import orchestration_fixtures as of
from tests.functional import periodic_fixtures as pf
from tests.functional.procs import wait_for

orchestra = of.orchestra

PREFIX = 'nova_compute_proxy_'


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def metrics_options(port, **extra):
    return {'metrics': dict({'enabled': 'true', 'host': '127.0.0.1',
                             'port': str(port)}, **extra)}


def scrape(port):
    """``{(name, frozenset(labels.items())): value}`` of the endpoint."""
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port,
                                timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    samples = {}
    for family in parser.text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples, name, **labels):
    """The sample ``name`` with exactly these labels (0 when absent)."""
    return samples.get((PREFIX + name, frozenset(labels.items())), 0)


def total(samples, name, **labels):
    """The sum of the samples ``name`` whose labels include these."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items()
               if n == PREFIX + name and wanted <= ls)


def test_counters_move_on_a_proxy_with_two_workers_and_a_compute(
        orchestra, tmp_path):
    o = orchestra
    proxy_port, compute_port = free_port(), free_port()
    o.start_proxy('p1', wait=False, extra=dict(
        metrics_options(proxy_port),
        proxy={'workers': '2'},
        **pf.periodic_options(enabled=('purge_deleted',), interval=2)))
    o.wait_live('p1/0')
    o.wait_live('p1/1')
    o.start_compute('cmp1', extra=metrics_options(compute_port))

    before = scrape(proxy_port)
    assert value(before, 'build_info', daemon='proxy',
                 release=_release()) == 1
    # Both workers heartbeat; each reports the live members it saw.
    wait_for(lambda: value(scrape(proxy_port), 'live_proxies') == 2,
             timeout=30, message='two live proxy workers in the metrics')

    api = proxy_rpcapi.ProxyAPI(timeout=30)
    for n in range(5):
        assert api.ping(o.ctx, n) == n
    missing = str(uuid.uuid4())
    with pytest.raises(exception.InstanceNotFound):
        api.instance_get_by_uuid(o.ctx, missing)
    [built] = o.build(1, host='cmp1')
    # Counted right after the journal's DONE commits, which the test may
    # see first.
    wait_for(lambda: value(scrape(proxy_port), 'operations_total',
                           kind='build', status='done') == 1,
             timeout=10, message='the build counted done')

    after = scrape(proxy_port)
    # Five pings served, by either worker: the endpoint adds them up.
    assert value(after, 'rpc_calls_total', method='ping', outcome='ok') - \
        value(before, 'rpc_calls_total', method='ping', outcome='ok') == 5
    assert value(after, 'rpc_calls_total', method='instance_get_by_uuid',
                 outcome='InstanceNotFound') == 1
    assert value(after, 'rpc_call_duration_seconds_count',
                 method='ping') >= 5
    assert value(after, 'rpc_call_duration_seconds_bucket', method='ping',
                 le='+Inf') >= 5
    # The compute's own calls (heartbeats, the build's writes).
    assert total(after, 'rpc_calls_total', method='service_update',
                 outcome='ok') > 0
    assert value(after, 'rpc_calls_total', method='build_instance',
                 outcome='ok') == 1
    assert value(after, 'operations_total', kind='build',
                 status='pending') == 1
    assert value(after, 'operations_total', kind='build',
                 status='done') == 1
    assert value(after, 'rpc_calls_in_flight') == 0
    assert o.instance(built)['vm_state'] == 'active'

    wait_for(lambda: value(scrape(proxy_port), 'periodic_runs_total',
                           task='purge_deleted', result='ok') >= 1,
             timeout=30, message='a purge_deleted run in the metrics')
    lag = value(scrape(proxy_port), 'periodic_lag_seconds',
                task='purge_deleted')
    assert 0 <= lag < 2

    computed = scrape(compute_port)
    assert value(computed, 'build_info', daemon='compute',
                 release=_release()) == 1
    # The proxy drove the build's steps on the compute: served there.
    assert total(computed, 'rpc_calls_total', outcome='ok') >= 1


def test_a_takeover_and_the_stale_owner_s_fenced_write_are_counted(
        orchestra):
    """The owner of a migration stops (SIGSTOP by its step hook) after
    resize_instance; the survivor takes the operation over and finishes
    it; woken, the stale owner's next journal write is fenced. Each
    proxy's endpoint (served by its launcher, which is not stopped)
    counts its side."""
    o = orchestra
    survivor_port, stale_port = free_port(), free_port()
    o.start_proxy('survivor', extra=metrics_options(survivor_port))
    o.start_proxy('stale', hook='after:resize_instance:stop:op-stale',
                  liveness_deadline=60, extra=metrics_options(stale_port))
    o.start_compute('cmp1')
    o.start_compute('cmp2')
    [instance] = o.build(1, host='cmp1', proxy='survivor')
    o.call('stale', 'migrate_server', instance_uuid=instance,
           dest_host='cmp2', flavor=None, operation_id='op-stale')
    o.wait_stopped('stale')
    record = o.wait_finished('op-stale')
    assert (record['status'], record['owner']) == ('done', 'survivor')

    # Counted right after the journal's DONE commits, which the test may
    # see first.
    wait_for(lambda: value(scrape(survivor_port), 'operations_total',
                           kind='migrate', status='done') == 1,
             timeout=10, message='the migration counted done')
    survivor = scrape(survivor_port)
    assert value(survivor, 'operation_takeovers_total',
                 reason='dead_owner') == 1
    assert value(survivor, 'fenced_writes_total') == 0

    o.procs['stale'].signal(signal.SIGCONT)
    wait_for(lambda: 'is no longer ours' in o.procs['stale'].log(),
             timeout=60, message='the stale owner seeing it is fenced')
    stale = scrape(stale_port)
    assert value(stale, 'fenced_writes_total') == 1
    assert value(stale, 'operations_total', kind='migrate',
                 status='pending') == 1
    assert value(stale, 'operations_total', kind='migrate',
                 status='done') == 0


def test_a_taken_metrics_port_stops_the_proxy_with_one_line(
        orchestra, tmp_path):
    o = orchestra
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = o.start_proxy('p1', wait=False,
                             extra=metrics_options(port))
        assert proc.popen.wait(timeout=60) == 1
    log = proc.log()
    assert 'Cannot start: cannot serve metrics on 127.0.0.1:%d' % port in log
    assert 'Traceback' not in log


def _release():
    return subprocess.run(
        [sys.executable, '-c',
         'from nova_proxy import version; print(version.release())'],
        capture_output=True, text=True, check=True).stdout.strip()
