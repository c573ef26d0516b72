"""The fleet's database floor: psycopg2's own CPU, timed in the process
that runs it, and in the processes it forks."""

import json
import subprocess
import sys
import textwrap

import sqlalchemy as sa

from nova_proxy.bench import database
from nova_proxy.bench import drivercpu

# In a process of its own: install() replaces psycopg2.connect for good.
_SCRIPT = textwrap.dedent('''
    import json, os, sys, threading, time
    import psycopg2
    from nova_proxy.bench import drivercpu
    report, dsn = sys.argv[1:]
    drivercpu.install(report)

    def work(executes):
        conn = psycopg2.connect(dsn)
        cur = conn.cursor()
        for n in range(executes):
            cur.execute('SELECT %s, pg_backend_pid()', (n,))
            assert cur.fetchall()[0][0] == n
        cur.execute('SELECT generate_series(1, 3)')
        assert [row[0] for row in cur] == [1, 2, 3]
        conn.rollback()
        cur.execute('SELECT 1')
        conn.commit()
        cur.close()
        conn.close()

    work(5)
    # A thread of the proxy's RPC server: its work is the calls'.
    server = threading.Thread(target=work, args=(1,),
                              name=drivercpu.CALL_THREADS + 'worker-0')
    server.start()
    server.join()
    time.sleep(3 * drivercpu.REPORT_INTERVAL)
    parent = drivercpu.read_totals(report)
    pid = os.fork()
    if pid == 0:
        work(10)
        time.sleep(3 * drivercpu.REPORT_INTERVAL)
        os._exit(0)
    os.waitpid(pid, 0)
    # Not a call of the driver: an operator's clock between two.
    started = time.thread_time()
    while time.thread_time() - started < 0.05:
        pass
    time.sleep(3 * drivercpu.REPORT_INTERVAL)
    print(json.dumps({'parent': parent,
                      'both': drivercpu.read_totals(report),
                      'files': sorted(os.listdir(report)),
                      'pids': [os.getpid(), pid]}))
''')


def test_the_driver_is_timed_in_the_process_and_in_its_forks(tmp_path):
    # The server the bench uses (NOVA_PROXY_BENCH_PG_URL).
    url = sa.engine.make_url(database.DEFAULT_PG_SERVER)
    dsn = 'host=%s port=%s user=%s dbname=postgres' % (
        url.host, url.port or 5432, url.username)
    out = subprocess.run([sys.executable, '-c', _SCRIPT, str(tmp_path), dsn],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    parent = result['parent']
    # The main thread's 5 + 2 executes, a rollback and a commit: not a
    # thread serving calls.
    background_s, background_ops = parent['background']
    assert background_ops == 9
    assert background_s > 0
    # The server thread's 1 + 2, a rollback and a commit.
    calls_s, calls_ops = parent['calls']
    assert calls_ops == 5
    assert calls_s > 0
    both = result['both']
    # The child's 12 and 2 come on top of the parent's, which did not
    # move (nothing of the parent was counted twice, nor the busy loop
    # outside the driver).
    assert both['calls'] == parent['calls']
    both_s, both_ops = both['background']
    assert both_ops == 9 + 14
    assert both_s > background_s
    assert both_s - background_s < 0.05
    assert result['files'] == ['%d.json' % pid for pid in
                               sorted(result['pids'], key=str)]


def test_no_report_no_total(tmp_path):
    (tmp_path / 'other.txt').write_text('not a report')
    (tmp_path / '12.json.tmp').write_text('{"calls": 9')
    assert drivercpu.read_totals(str(tmp_path)) == {
        'calls': (0.0, 0), 'background': (0.0, 0)}
    (tmp_path / '12.json').write_text(json.dumps(
        {'calls': {'seconds': 0.25, 'operations': 4},
         'background': {'seconds': 0.125, 'operations': 1}}))
    (tmp_path / '13.json').write_text(json.dumps(
        {'calls': {'seconds': 0.5, 'operations': 6},
         'background': {'seconds': 0.0, 'operations': 0}}))
    assert drivercpu.read_totals(str(tmp_path)) == {
        'calls': (0.75, 10), 'background': (0.125, 1)}


def test_the_command_wants_its_report_directory_and_the_proxy_args():
    out = subprocess.run(
        [sys.executable, '-m', 'nova_proxy.bench.drivercpu', '/tmp/x'],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        'usage: python -m nova_proxy.bench.drivercpu REPORT_DIR -- '
        'NOVA_COMPUTE_PROXY_ARGS')
