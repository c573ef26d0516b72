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
connections whose cursors (of whatever cursor factory the caller asks
for) time, in the calling thread's CPU (``time.thread_time``),
everything done in the driver: ``connect`` itself, making a cursor,
``execute`` and ``executemany``, fetching rows, closing, ``commit`` and
``rollback`` (the ``BEGIN`` psycopg2 sends before a transaction's first
statement is inside ``execute``). Its operations are the statements,
commits and rollbacks (an ``executemany`` counts once). Not timed:
``mogrify``, ``callproc``, ``copy_*``, the session setters and
``close`` of a connection, which the proxies' hot paths do not use; so
the floor leans low, as a floor should.

Each process (cotyledon forks the proxy's workers) writes its running
totals, with the time it wrote them, to ``REPORT_DIR/<pid>.json`` every
``REPORT_INTERVAL`` seconds; ``read_totals()`` adds them up, waiting if
asked for every file to be written after a moment. The totals are kept
apart by thread: the threads of the proxy's RPC server
(``direct_rpc.THREAD_PREFIX``: its receiver and workers) serve the
calls, and only they make the floor; the others (periodic tasks, the
orchestration engine, liveness) are the proxy's background, printed
beside it.

What the timing itself costs: about half a microsecond per operation
falls inside the timed interval (a clock read and the wrapper's call),
a few percent of the floor; the rest is charged to the proxy's CPU, not
to the driver, which is why a run measuring the proxy's cores does not
use this. A garbage collection that an allocation inside the driver
triggers is charged to the driver too.

PostgreSQL with psycopg2 only: on another driver nothing is timed.
"""

import functools
import json
import os
import sys
import threading
import time

from oslo_log import log as logging

__all__ = ['install', 'read_totals', 'flush', 'REPORT_INTERVAL', 'KINDS',
           'main']

LOG = logging.getLogger(__name__)

REPORT_INTERVAL = 0.02
# 'calls': the driver's work in the RPC server's threads; 'background':
# in every other thread.
KINDS = ('calls', 'background')

_clock = time.thread_time
_lock = threading.Lock()
_flush_lock = threading.Lock()
# One [kind, seconds, operations] per thread that used the driver: a
# thread adds to its own only, so no lock is taken per operation.
_slots = []
_local = threading.local()
_reporter_started = False
_report_dir = None


def _after_fork_in_child():
    """A forked process has none of its parent's threads: not the
    reporter, nor the threads whose slots it inherited, and a lock one of
    them held stays held. It starts from nothing."""
    global _lock, _flush_lock, _slots, _reporter_started, _local
    _lock = threading.Lock()
    _flush_lock = threading.Lock()
    _slots = []
    _local = threading.local()
    _reporter_started = False


os.register_at_fork(after_in_child=_after_fork_in_child)


def _kind():
    # direct_rpc is imported here, once a thread uses the driver: importing
    # it imports oslo.messaging, which the proxy's command must be the
    # first to do.
    from nova_proxy.common import direct_rpc
    return ('calls' if threading.current_thread().name.startswith(
        direct_rpc.THREAD_PREFIX) else 'background')


def _slot():
    """This thread's ``[kind, seconds, operations]``; the first one made
    in a process (after ``install()``) starts its reporting thread."""
    global _reporter_started
    try:
        return _local.slot
    except AttributeError:
        slot = _local.slot = [_kind(), 0.0, 0]
        with _lock:
            _slots.append(slot)
            start = not _reporter_started and _report_dir is not None
            _reporter_started = _reporter_started or start
        if start:
            threading.Thread(target=_report_forever, daemon=True,
                             name='drivercpu-report').start()
        return slot


def _totals():
    with _lock:
        slots = list(_slots)
    totals = {kind: {'seconds': 0.0, 'operations': 0} for kind in KINDS}
    for kind, seconds, operations in slots:
        totals[kind]['seconds'] += seconds
        totals[kind]['operations'] += operations
    return totals


def flush():
    """Write this process's totals now (one writer at a time: the totals
    a reader finds are never older than the last ones written)."""
    with _flush_lock:
        data = dict(_totals(), written_at=time.time())
        path = os.path.join(_report_dir, '%d.json' % os.getpid())
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(data, f)
        os.replace(tmp, path)


def _report_forever():
    failed = False
    while True:
        try:
            flush()
        except Exception:
            # The report directory removed, a full disk: the totals stop
            # moving, and the log says why, once.
            if not failed:
                LOG.exception('Cannot write the driver\'s CPU to %s',
                              _report_dir)
            failed = True
        time.sleep(REPORT_INTERVAL)


def _read(report_dir):
    reports = []
    for name in os.listdir(report_dir):
        if not name.endswith('.json'):
            continue
        try:
            with open(os.path.join(report_dir, name)) as f:
                reports.append(json.load(f))
        except (OSError, ValueError):
            continue
    return reports


def read_totals(report_dir, written_after=None, timeout=5.0):
    """``{kind: (seconds, operations)}`` for each of ``KINDS``: the
    driver's CPU and its operations in the threads of that kind of every
    process reporting to ``report_dir``. With ``written_after`` (a
    ``time.time()``), first waits up to ``timeout`` seconds for every
    process's report to be written after it (a process that stopped
    reporting is read as it last wrote)."""
    deadline = time.monotonic() + timeout
    reports = _read(report_dir)
    while written_after is not None and time.monotonic() < deadline and \
            any(r.get('written_at', 0) <= written_after for r in reports):
        time.sleep(REPORT_INTERVAL / 4)
        reports = _read(report_dir)
    totals = dict.fromkeys(KINDS, (0.0, 0))
    for report in reports:
        for kind in KINDS:
            seconds, operations = totals[kind]
            totals[kind] = (seconds + report[kind]['seconds'],
                            operations + report[kind]['operations'])
    return totals


def _timed(method, counts):
    @functools.wraps(method)
    def timed(self, *args, **kwargs):
        slot = _slot()
        started = _clock()
        try:
            return method(self, *args, **kwargs)
        finally:
            slot[1] += _clock() - started
            slot[2] += counts
    return timed


_CURSOR_METHODS = (('execute', 1), ('executemany', 1), ('fetchone', 0),
                   ('fetchmany', 0), ('fetchall', 0), ('close', 0),
                   ('__next__', 0))


@functools.lru_cache(maxsize=None)
def _timed_cursor(factory):
    """``factory`` (a cursor class) with its driver's methods timed."""
    return type('Timed' + factory.__name__, (factory,), {
        name: _timed(getattr(factory, name), counts)
        for name, counts in _CURSOR_METHODS})


def _connection_class():
    from psycopg2 import extensions

    class TimedConnection(extensions.connection):
        commit = _timed(extensions.connection.commit, 1)
        rollback = _timed(extensions.connection.rollback, 1)

        def cursor(self, *args, **kwargs):
            # The factory the caller asked for, as psycopg2 picks it (the
            # argument, else the connection's), timed.
            args = list(args)
            if len(args) > 1:
                args[1] = _timed_cursor(
                    args[1] or self.cursor_factory or extensions.cursor)
            else:
                kwargs['cursor_factory'] = _timed_cursor(
                    kwargs.get('cursor_factory') or self.cursor_factory or
                    extensions.cursor)
            slot = _slot()
            started = _clock()
            try:
                return extensions.connection.cursor(self, *args, **kwargs)
            finally:
                slot[1] += _clock() - started

    return TimedConnection


def install(report_dir):
    """Time psycopg2 in this process (and the processes it forks) from
    now on, reporting to ``report_dir``."""
    global _report_dir
    import psycopg2
    _report_dir = report_dir
    connection_class = _connection_class()
    connect = psycopg2.connect

    @functools.wraps(connect)
    def timed_connect(*args, **kwargs):
        # A caller's own connection class is left as it is: not timed.
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
