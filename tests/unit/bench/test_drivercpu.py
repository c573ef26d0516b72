"""The fleet's database floor: psycopg2's own CPU, timed in the process
that runs it, and in the processes it forks."""

import json
import subprocess
import sys
import textwrap
import time

import sqlalchemy as sa

from nova_proxy.bench import drivercpu
from nova_proxy.common import direct_rpc
from tests import databases

# In a process of its own: install() replaces psycopg2.connect for good.
_SCRIPT = textwrap.dedent('''
    import json, os, sys, threading, time
    import psycopg2
    import psycopg2.extras
    import sqlalchemy as sa
    from nova_proxy.bench import drivercpu
    from nova_proxy.common import direct_rpc
    report, dsn, url = sys.argv[1:]
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

    def factories():
        # The caller's cursor factory is kept, and timed: by keyword, by
        # position, and the connection's own.
        conn = psycopg2.connect(dsn)
        for cur in (conn.cursor(cursor_factory=psycopg2.extras.DictCursor),
                    conn.cursor(None, psycopg2.extras.DictCursor)):
            cur.execute('SELECT 1 AS one')
            assert cur.fetchone()['one'] == 1
        conn.cursor_factory = psycopg2.extras.RealDictCursor
        cur = conn.cursor()
        cur.execute('SELECT 2 AS two')
        assert cur.fetchall() == [{'two': 2}]
        conn.close()

    def through_sqlalchemy():
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            assert conn.execute(sa.text('SELECT 3')).scalar() == 3
            conn.commit()

    work(5)
    # A thread of the proxy's RPC server: its work is the calls'.
    for target in (lambda: work(1), factories, through_sqlalchemy):
        server = threading.Thread(
            target=target, name=direct_rpc.THREAD_PREFIX + 'worker-0')
        server.start()
        server.join()
    drivercpu.flush()
    parent = drivercpu.read_totals(report)
    # Forked while another thread holds the module's lock: the child
    # must not wait for it.
    drivercpu._lock.acquire()
    pid = os.fork()
    if pid == 0:
        work(10)
        drivercpu.flush()
        os._exit(0)
    drivercpu._lock.release()
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
    # Not a call of the driver: an operator's clock between two.
    started = time.thread_time()
    while time.thread_time() - started < 0.05:
        pass
    drivercpu.flush()
    print(json.dumps({'parent': parent,
                      'both': drivercpu.read_totals(report),
                      'files': sorted(name for name in os.listdir(report)
                                      if name.endswith('.json')),
                      'pids': [os.getpid(), pid]}))
''')


def test_the_driver_is_timed_in_the_process_and_in_its_forks(tmp_path):
    url = sa.engine.make_url(databases.SERVER_URLS['postgresql']).set(
        database='postgres')
    dsn = url.set(drivername='postgresql').render_as_string(
        hide_password=False)
    out = subprocess.run(
        [sys.executable, '-c', _SCRIPT, str(tmp_path), dsn,
         url.render_as_string(hide_password=False)],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    parent = result['parent']
    # The main thread's 5 + 2 executes, a rollback and a commit: not a
    # thread serving calls.
    background_s, background_ops = parent['background']
    assert background_ops == 9
    assert background_s > 0
    # In the server's thread: work(1)'s 1 + 2, a rollback and a commit;
    # the three cursor factories' one execute each; SQLAlchemy's
    # connection: its own setup queries, ours, and the commit (3 at
    # least).
    calls_s, calls_ops = parent['calls']
    assert calls_ops >= 5 + 3 + 3
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
    assert result['files'] == sorted('%d.json' % pid
                                     for pid in result['pids'])


def test_reports_add_up_and_can_be_waited_for(tmp_path):
    (tmp_path / 'other.txt').write_text('not a report')
    (tmp_path / '12.json.tmp').write_text('{"calls": 9')
    assert drivercpu.read_totals(str(tmp_path)) == {
        'calls': (0.0, 0), 'background': (0.0, 0)}
    now = time.time()
    (tmp_path / '12.json').write_text(json.dumps(
        {'calls': {'seconds': 0.25, 'operations': 4},
         'background': {'seconds': 0.125, 'operations': 1},
         'written_at': now}))
    (tmp_path / '13.json').write_text(json.dumps(
        {'calls': {'seconds': 0.5, 'operations': 6},
         'background': {'seconds': 0.0, 'operations': 0},
         'written_at': now}))
    assert drivercpu.read_totals(str(tmp_path)) == {
        'calls': (0.75, 10), 'background': (0.125, 1)}
    # A report older than asked for is waited for, up to the timeout,
    # then read as it is.
    started = time.monotonic()
    assert drivercpu.read_totals(str(tmp_path), written_after=now,
                                 timeout=0.3)['calls'] == (0.75, 10)
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    drivercpu.read_totals(str(tmp_path), written_after=now - 1, timeout=5)
    assert time.monotonic() - started < 1


def test_the_call_threads_are_the_direct_servers():
    assert direct_rpc.THREAD_PREFIX == 'direct-rpc-'
    assert drivercpu.KINDS == ('calls', 'background')


def test_the_command_wants_its_report_directory_and_the_proxy_args():
    out = subprocess.run(
        [sys.executable, '-m', 'nova_proxy.bench.drivercpu', '/tmp/x'],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        'usage: python -m nova_proxy.bench.drivercpu REPORT_DIR -- '
        'NOVA_COMPUTE_PROXY_ARGS')
