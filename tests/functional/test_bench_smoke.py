"""The benchmark in smoke mode, against the real RabbitMQ and PostgreSQL.

It checks that every scenario makes successful calls, that the outputs are
written, and that the run cleans up (its database and its processes). No
figure is asserted: speed is the benchmark's business, not CI's.
"""

import json
import os
import re
import signal
import subprocess
import sys

import amqp
import sqlalchemy as sa

from tests import databases
from tests.functional import procs


def test_smoke_run(tmp_path):
    out = tmp_path / 'out'
    proc = subprocess.run(
        [sys.executable, '-m', 'nova_proxy.cmd.bench', '--smoke',
         '--output-dir', str(out)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '| proxy-1 |' in proc.stdout

    with open(out / 'bench.json') as f:
        report = json.load(f)
    assert set(report['results']) == {
        'direct', 'direct-scoped', 'direct-build', 'raw-sql', 'amqp', 'oslo',
        'proxy-1', 'proxy-signed-1', 'proxy-signed-burst-1', 'build-1',
        'proxy-nova-1', 'build-nova-1', 'build-combined-1', 'proxy-2',
        'build-2', 'build-combined-2'}
    for name, per_callers in report['results'].items():
        assert list(per_callers) == ['1', '2']
        for row in per_callers.values():
            assert row['errors'] == 0, (name, row['first_error'])
            # Not proxy-signed-burst-1: on a busy machine the proxy may
            # still be working through the burst when a 0.5 s round ends.
            if name in ('direct', 'direct-scoped', 'raw-sql', 'amqp', 'oslo',
                        'proxy-1', 'proxy-signed-1', 'proxy-nova-1',
                        'proxy-2'):
                assert row['calls_per_s'] > 0, name
    proxy = report['results']['proxy-1']['1']['cpu_us_per_call']
    assert proxy['server'] > 0 and proxy['database'] > 0
    # The fleet's mix (nova 34's periodic calls) is served without error.
    step = report['fleet']['steps'][0]
    assert step['errors'] == 0, step['first_error']
    # Signed, as the proxies require by default: every call they served
    # recorded its nonce, the warm-up's and the drain's included (the
    # step's calls are the measured ones).
    for step in report['fleet']['steps']:
        assert step['nonces_recorded'] > 0, step
        assert step['nonces_recorded'] >= step['calls_per_s'] * (
            report['profile']['fleet_duration']), step
    # The fleet's floor: the largest good fleet again, every call to the
    # echo servers, which alone are metered. (A smoke fleet is small and
    # short: a loaded machine may answer none of its calls in time.)
    # Both floors: oslo.messaging's echo server and the raw AMQP one.
    best = report['fleet']['best']
    for key, kind in (('echo', 'oslo'), ('amqp_echo', 'amqp')):
        if best is None:
            break
        echo = report['fleet'][key]
        assert echo is not None, report['fleet']
        assert echo['errors'] == 0, echo['first_error']
        assert echo['echo_kind'] == kind
        assert echo['simulated'] == best['simulated']
        assert echo['echo_processes'] == 2
        if echo['calls_per_s']:
            # Metered (its window may be shorter than the CPU clock's
            # tick: 0 is a figure).
            assert echo['cpu_us_per_call']['server'] >= 0, echo
    # The floor of its database part: the largest good fleet again on
    # proxies with their psycopg2 timed; a signed call's nonce alone is a
    # statement, so every call timed one at least.
    driver = report['fleet']['driver']
    if best is not None:
        assert driver is not None, report['fleet']
        assert 'problem' not in driver, driver
        assert driver['errors'] == 0, driver['first_error']
        assert driver['simulated'] == best['simulated']
        assert driver['proxy_processes'] == best['proxy_processes']
        if driver['calls_per_s']:
            # (A short window's edges may hold a call without its
            # statements, or statements without their call.)
            assert driver['driver_operations_per_call'] > 0, driver
            assert driver['cpu_us_per_call']['driver'] > 0, driver
            assert 'psycopg2 in the proxies (floor)' in \
                report['fleet']['capacity']['roles']
    # Every target is there, judged or not as the run's load says.
    names = [t['name'] for t in report['targets']]
    assert 'proxy CPU per call, 1 caller(s)' in names
    assert 'database layer CPU per call, 1 caller(s)' in names
    assert report['calm'] in (True, False)
    if not report['calm']:
        assert all(t['met'] is None for t in report['targets'])
    assert report['proxy_idle_cpu_cores']['1'] >= 0
    with open(out / 'bench.png', 'rb') as f:
        assert f.read(4) == b'\x89PNG'
    machine, _, table = (out / 'bench.md').read_text().partition('\n\n')
    assert machine.startswith('Machine: %d cores; load average ' %
                              os.cpu_count()), machine
    assert machine.split('\n')[1].startswith('Calm run: %s' % (
        'yes' if report['calm'] else 'NO')), machine
    stolen = report['stolen_cpu_s']
    assert stolen is None or stolen >= 0
    assert ('CPU stolen by the hypervisor' in machine) == (
        stolen is not None), machine
    assert len(report['load_average']['start']) == 3
    assert len(report['load_average']['end']) == 3
    assert table.startswith('| scenario |')

    _assert_cleaned_up(proc.stderr)


def test_smoke_run_on_mariadb(tmp_path):
    # The database-side scenarios and a proxy on MariaDB; its run drops
    # its database too.
    proc = subprocess.run(
        [sys.executable, '-m', 'nova_proxy.cmd.bench', '--smoke',
         '--no-fleet', '--database', 'mariadb', '--scenarios',
         'direct-scoped,raw-sql,proxy-1,proxy-nova-1',
         '--output-dir', str(tmp_path / 'out')],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / 'out' / 'bench.json') as f:
        report = json.load(f)
    assert report['backend'] == 'mariadb'
    for name, per_callers in report['results'].items():
        for row in per_callers.values():
            assert row['errors'] == 0, (name, row['first_error'])
            assert row['calls_per_s'] > 0, name
    name = re.search(r'mariadb database (np_bench_\w+)',
                     proc.stderr).group(1)
    engine = sa.create_engine(databases.SERVER_URLS['mysql'] + '/mysql')
    with engine.connect() as conn:
        left = conn.execute(sa.text(
            'SELECT count(*) FROM information_schema.schemata WHERE '
            'schema_name = :name'), {'name': name}).scalar_one()
    engine.dispose()
    assert left == 0


def test_a_terminated_run_cleans_up(tmp_path):
    # SIGTERM while the proxies serve: the run stops its servers and
    # drops its database, as at its normal end.
    proc = subprocess.Popen(
        [sys.executable, '-m', 'nova_proxy.cmd.bench', '--smoke',
         '--no-fleet', '--output-dir', str(tmp_path / 'out')],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if line.startswith('proxy-1 '):
                break
        proc.terminate()
        _, rest = proc.communicate(timeout=120)
    finally:
        proc.kill()
    stderr = ''.join(seen) + rest
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert not (tmp_path / 'out' / 'bench.json').exists()
    _assert_cleaned_up(stderr)


def _assert_cleaned_up(stderr):
    match = re.search(r'run (\w+): directory (\S+), postgresql database '
                      r'(np_bench_\w+)', stderr)
    assert match, stderr[-2000:]
    run_id, directory, name = match.groups()
    # The run dropped its database...
    engine = sa.create_engine(databases.SERVER_URLS['postgresql'] +
                              '/postgres')
    with engine.connect() as conn:
        left = conn.execute(sa.text(
            'SELECT count(*) FROM pg_database WHERE datname = :name'),
            {'name': name}).scalar_one()
    engine.dispose()
    assert left == 0
    # ...and stopped every server it started (their command lines name
    # its run directory or its run id)...
    assert not [pid for pid in os.listdir('/proc') if pid.isdigit() and (
        directory in _cmdline(pid) or run_id in _cmdline(pid))]
    # ...and left no topic queue nor its exchange on the broker.
    left = []
    with procs.broker_connection() as connection:
        for kind, name in [
                ('queue', 'np-bench-proxy-%s' % run_id),
                ('queue', 'np-bench-proxy-%s.bench-proxy-0' % run_id),
                ('queue', 'np-bench-echo-%s' % run_id),
                ('queue', 'np-bench-echo-%s.echo' % run_id),
                # auto-delete: gone with its last consumer
                ('queue', 'np-bench-amqp-echo-%s' % run_id),
                ('exchange', 'np-bench-%s' % run_id),
                ('exchange', 'np-bench-proxy-%s_fanout' % run_id),
                ('exchange', 'np-bench-echo-%s_fanout' % run_id)]:
            channel = connection.channel()
            try:
                if kind == 'queue':
                    channel.queue_declare(name, passive=True)
                else:
                    # (a passive declare checks the name alone)
                    channel.exchange_declare(name, 'topic', passive=True)
                left.append(name)
            except amqp.exceptions.NotFound:
                pass
    assert left == []


def _cmdline(pid):
    try:
        with open('/proc/%s/cmdline' % pid, 'rb') as f:
            return f.read().replace(b'\0', b' ').decode(errors='replace')
    except OSError:
        return ''
