"""The database driver's own CPU inside the proxies: the fleet's ``driver``
floor.

The capacity target has floors for the RPC (the echo servers answering
the same fleet), and none for the database until this: what psycopg2
itself spends on the statements the proxies send for the fleet's calls,
measured where they run, in the proxies, with the calls as cold as the
fleet makes them. A proxy cannot do a call's database work for less CPU
than its driver does (the database layer's own Python, SQLAlchemy and
oslo.db come on top), so the proxy's CPU per fleet call less this and
less an echo server's is what the rest of the proxy costs.

How: ``python -m nova_proxy.bench.drivercpu REPORT_DIR -- PROXY_ARGS``
runs ``nova-compute-proxy`` with psycopg2's ``connect`` giving
connections whose cursors time, in the calling thread's CPU
(``time.thread_time``), everything done in the driver: making a cursor,
``execute``, fetching rows, closing, ``commit`` and ``rollback`` (the
``BEGIN`` psycopg2 sends before a transaction's first statement is
inside ``execute``). Each process (cotyledon forks the proxy's workers)
writes its running totals to ``REPORT_DIR/<pid>.json`` every
``REPORT_INTERVAL`` seconds; ``read_totals()`` adds them up. The totals
are kept apart by thread: the threads of the proxy's RPC server
(``direct_rpc``'s receiver and workers, ``CALL_THREADS``) serve the
calls; the others (periodic tasks, the orchestration engine, liveness)
are the proxy's background, whose work a proxy that started a moment
ago has more of than one that has run for a while. The
timing's own cost, two clock reads and a Python call per operation, is
counted in the proxy's CPU, not in the driver's: a run that measures the
proxy's cores does not use it.

PostgreSQL with psycopg2 only: on another driver nothing is timed, and
the report's driver figures are 0 calls' worth (``read_totals()`` says
how many operations were timed).
"""

import json
import os
import sys
import threading
import time

__all__ = ['install', 'read_totals', 'REPORT_INTERVAL', 'CALL_THREADS',
           'main']

REPORT_INTERVAL = 0.1
# The names of the threads that serve calls (direct_rpc's): their totals
# are 'calls', every other thread's 'background'.
CALL_THREADS = 'direct-rpc-'
KINDS = ('calls', 'background')

_clock = time.thread_time
_lock = threading.Lock()
# One [kind, seconds, operations] per thread that used the driver: a
# thread adds to its own only, so no lock is taken per operation.
_slots = []
_local = threading.local()
_reporter_pid = None


def _slot():
    """This thread's ``[kind, seconds, operations]`` in this process: a
    process forked from one that timed the driver starts from nothing."""
    pid = os.getpid()
    slot = _local.__dict__.get(pid)
    if slot is None:
        kind = ('calls' if threading.current_thread().name.startswith(
            CALL_THREADS) else 'background')
        slot = _local.__dict__[pid] = [kind, 0.0, 0]
        _ensure_reporter(pid)
        with _lock:
            _slots.append(slot)
    return slot


def _ensure_reporter(pid):
    """A reporting thread in this process (a forked worker has none of
    its parent's threads, and none of its slots)."""
    global _reporter_pid
    with _lock:
        if _reporter_pid == pid or _report_dir is None:
            return
        _reporter_pid = pid
        del _slots[:]
    threading.Thread(target=_report_forever, args=(pid,), daemon=True,
                     name='drivercpu-report').start()


_report_dir = None


def _totals():
    with _lock:
        slots = list(_slots)
    totals = {kind: {'seconds': 0.0, 'operations': 0} for kind in KINDS}
    for kind, seconds, operations in slots:
        totals[kind]['seconds'] += seconds
        totals[kind]['operations'] += operations
    return totals


def _write(pid):
    path = os.path.join(_report_dir, '%d.json' % pid)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(_totals(), f)
    os.replace(tmp, path)


def _report_forever(pid):
    while os.getpid() == pid:
        _write(pid)
        time.sleep(REPORT_INTERVAL)


def read_totals(report_dir):
    """``{kind: (seconds, operations)}`` for each of ``KINDS``: the
    driver's CPU and its operations in the threads of that kind of every
    process reporting to ``report_dir``, so far."""
    totals = dict.fromkeys(KINDS, (0.0, 0))
    for name in os.listdir(report_dir):
        if not name.endswith('.json'):
            continue
        try:
            with open(os.path.join(report_dir, name)) as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        for kind in KINDS:
            seconds, operations = totals[kind]
            totals[kind] = (seconds + data[kind]['seconds'],
                            operations + data[kind]['operations'])
    return totals


def _timed(method, counts):
    def timed(self, *args, **kwargs):
        slot = _slot()
        started = _clock()
        try:
            return method(self, *args, **kwargs)
        finally:
            slot[1] += _clock() - started
            slot[2] += counts
    timed.__name__ = method.__name__
    return timed


def _classes():
    from psycopg2 import extensions

    class TimedCursor(extensions.cursor):
        execute = _timed(extensions.cursor.execute, 1)
        executemany = _timed(extensions.cursor.executemany, 1)
        fetchone = _timed(extensions.cursor.fetchone, 0)
        fetchmany = _timed(extensions.cursor.fetchmany, 0)
        fetchall = _timed(extensions.cursor.fetchall, 0)
        close = _timed(extensions.cursor.close, 0)
        __next__ = _timed(extensions.cursor.__next__, 0)

    class TimedConnection(extensions.connection):
        commit = _timed(extensions.connection.commit, 1)
        rollback = _timed(extensions.connection.rollback, 1)

        def cursor(self, *args, **kwargs):
            kwargs.setdefault('cursor_factory', TimedCursor)
            slot = _slot()
            started = _clock()
            try:
                return extensions.connection.cursor(self, *args, **kwargs)
            finally:
                slot[1] += _clock() - started

    return TimedCursor, TimedConnection


def install(report_dir):
    """Time psycopg2 in this process (and the processes it forks) from
    now on, reporting to ``report_dir``."""
    global _report_dir
    import psycopg2
    _report_dir = report_dir
    _, connection_class = _classes()
    connect = psycopg2.connect

    def timed_connect(*args, **kwargs):
        kwargs.setdefault('connection_factory', connection_class)
        slot = _slot()
        started = _clock()
        try:
            return connect(*args, **kwargs)
        finally:
            slot[1] += _clock() - started
    psycopg2.connect = timed_connect


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or argv[1] != '--':
        sys.exit('usage: python -m nova_proxy.bench.drivercpu REPORT_DIR '
                 '-- NOVA_COMPUTE_PROXY_ARGS')
    # The proxy's command selects oslo.service's threading backend as it
    # is imported: before anything imports oslo.messaging.
    from nova_proxy.cmd import proxy
    os.makedirs(argv[0], exist_ok=True)
    install(argv[0])
    return proxy.main(['nova-compute-proxy'] + argv[2:])


if __name__ == '__main__':
    sys.exit(main())
