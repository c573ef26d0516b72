"""Sessions, engines and the database clock.

All database code opens its transactions through ``writer`` and ``reader``
here, which:

* refuse to run in a process that blocked database access;
* retry a whole write transaction on deadlock (``oslo_db.api.wrap_db_retry``;
  the outermost one, when transactions nest);
* on SQLite, open write transactions with ``BEGIN IMMEDIATE``: the database
  write lock is taken at the start, so a read-then-write transaction waits on
  ``busy_timeout`` instead of failing with "database is locked";
* put SQLite in WAL mode, where readers never block the one writer;
* run a transaction again, once, on a new connection when its connection
  turns out to be dead before it commits (``_run_once_more_if_lost``),
  instead of pinging every connection at checkout (``autocommit_writer``'s
  statement commits as it runs, and its function tells its own earlier
  run);
* bound a connection attempt and notice a silently dead connection in
  seconds on PostgreSQL, MariaDB and MySQL (``_liveness_parameters``).

``hot_writer`` is ``core_writer`` for the frequent one-statement writes
(the compare-and-swap, heartbeats, compute node updates, action events):
the same guarantees, on a connection held between transactions
(``nova_proxy.db._held``) and without enginefacade's layers of context
managers around it. ``autocommit_writer`` is ``hot_writer`` without the
transaction's BEGIN and COMMIT on PostgreSQL, for a statement that can
tell its own earlier run (a signed call's nonce) or that leaves what its
earlier run committed as it was when run again (nova's heartbeat);
``autocommit_writer_when`` chooses it per call. ``statement_in_autocommit``
runs such a statement with nothing of SQLAlchemy's transaction around it.

The engine is built on first use (never at import) from ``[database]``.
"""

import contextlib
import functools
import os
import sqlite3
import threading
import urllib.parse

from oslo_db import api as oslo_db_api
from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import enginefacade
from oslo_log import log as logging
from oslo_utils import timeutils
import sqlalchemy
from sqlalchemy.ext import compiler as sa_compiler
from sqlalchemy import pool as sa_pool
from sqlalchemy.sql import expression

from nova_proxy.common import context as np_context
from nova_proxy.common import db_errors
from nova_proxy.common import metrics
from nova_proxy import conf
from nova_proxy.db import _driver
from nova_proxy.db import _held
from nova_proxy.db import guard

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['writer', 'reader', 'core_writer', 'core_reader', 'hot_writer',
           'statements_can_ride',
           'autocommit_writer', 'autocommit_writer_when',
           'statement_in_autocommit', 'ran_once', 'LOST', 'unretried_writer',
           'unretried_core_writer', 'get_engine', 'dispose', 'db_utcnow',
           'utcnow', 'reset_for_tests']

SQLITE_BUSY_TIMEOUT_MS = 30000

_lock = threading.Lock()
_context_manager = None
_held_connections = None
_held_readers = None
_tls = threading.local()


class db_utcnow(expression.FunctionElement):
    """The database server's current UTC time, as a naive timestamp.

    Liveness and periodic periods use it so that one clock, the database's,
    decides for every proxy: a proxy with a skewed clock still agrees.
    """
    type = sqlalchemy.DateTime()
    inherit_cache = True


@sa_compiler.compiles(db_utcnow, 'postgresql')
def _pg_utcnow(element, compiler, **kw):
    return "(now() AT TIME ZONE 'utc')"


@sa_compiler.compiles(db_utcnow, 'mysql')
@sa_compiler.compiles(db_utcnow, 'mariadb')
def _mysql_utcnow(element, compiler, **kw):
    return 'UTC_TIMESTAMP(6)'


@sa_compiler.compiles(db_utcnow, 'sqlite')
def _sqlite_utcnow(element, compiler, **kw):
    return "STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')"


def utcnow():
    """The proxy's own clock, naive UTC, for ordinary timestamps."""
    return timeutils.utcnow().replace(tzinfo=None)


def _sqlite_on_connect(dbapi_conn, record):
    if not isinstance(dbapi_conn, sqlite3.Connection):
        return
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute('PRAGMA busy_timeout = %d' % SQLITE_BUSY_TIMEOUT_MS)
        if _is_file_database(dbapi_conn):
            cursor.execute('PRAGMA journal_mode = WAL')
            cursor.execute('PRAGMA synchronous = NORMAL')
    finally:
        cursor.close()


def _is_file_database(dbapi_conn):
    row = dbapi_conn.execute('PRAGMA database_list').fetchone()
    return bool(row and row[2])


def _sqlite_on_begin(conn):
    # Runs before oslo.db's own begin listener, which then sees the marker
    # and emits nothing.
    if conn.dialect.name != 'sqlite' or 'in_transaction' in conn.info:
        return
    mode = 'IMMEDIATE' if getattr(_tls, 'want_write', False) else 'DEFERRED'
    conn.exec_driver_sql('BEGIN %s' % mode)
    conn.info['in_transaction'] = True


def _listen_first(engine, name, fn):
    """Make ``fn`` the first ``name`` listener of ``engine``.

    oslo.db registers its own SQLite ``begin`` listener (a plain deferred
    ``BEGIN``) when it builds the engine, and ``listen(..., insert=True)``
    does not put ours before it on SQLAlchemy 2.1: take the existing
    listeners off, add ours, and put theirs back after it.
    """
    existing = list(getattr(engine.dispatch, name))
    for listener in existing:
        sqlalchemy.event.remove(engine, name, listener)
    sqlalchemy.event.listen(engine, name, fn)
    for listener in existing:
        sqlalchemy.event.listen(engine, name, listener)


def _pool_sqlite_file(engine):
    """Keep the connections of a SQLite file database in a pool.

    oslo.db gives a SQLite file database a ``NullPool``: every transaction
    opened a new connection, set its PRAGMAs and parsed the schema again,
    which made an ``instance_update`` cost 2.5 to 4 times the CPU it costs
    pooled (measured, see docs/benchmark.rst). SQLAlchemy pools them by
    default, its pysqlite dialect allowing a connection to move between
    threads for them; a connection is still used by one thread at a time.
    The new pool keeps the old one's events (our PRAGMAs, oslo.db's
    foreign keys), its recycling and its ping.
    """
    old = engine.pool
    if engine.dialect.name != 'sqlite' or \
            not isinstance(old, sa_pool.NullPool):
        return
    try:
        engine.pool = _queue_pool_like(old)
    except (AttributeError, TypeError):
        LOG.warning('SQLite connections stay unpooled (one per transaction): '
                    'this SQLAlchemy does not build a pool the way '
                    'nova_proxy.db.session expects', exc_info=True)
        return
    old.dispose()
    sqlalchemy.event.listen(engine, 'checkout', _sqlite_on_checkout)


def _queue_pool_like(old):
    """A QueuePool with what ``Pool.recreate()`` would copy from ``old``
    (read from the same attributes), sized as oslo.db sizes the pools of
    the other backends."""
    sizes = {'pool_size': CONF.database.max_pool_size,
             'max_overflow': CONF.database.max_overflow}
    return sa_pool.QueuePool(
        old._creator, **{k: v for k, v in sizes.items() if v is not None},
        recycle=old._recycle, echo=old.echo,
        logging_name=old._orig_logging_name,
        reset_on_return=old._reset_on_return, pre_ping=old._pre_ping,
        dialect=old._dialect, _dispatch=old.dispatch)


def _sqlite_on_checkout(dbapi_conn, record, proxy):
    # The "BEGIN was sent" marker of oslo.db's begin listener and ours
    # lives in the connection's pool record, which a pooled connection
    # keeps: commit and rollback remove it, and a connection handed out
    # is never in a transaction of ours, so a marker left by any other
    # way out must not make the next transaction skip its BEGIN.
    record.info.pop('in_transaction', None)


def _no_ping_at_checkout(engine):
    """Stop oslo.db's ``SELECT 1`` before every use of a pooled connection.

    oslo.db builds every engine with ``pool_pre_ping``: one round trip to
    the database per transaction, a quarter of an ``instance_update``'s
    (BEGIN, the UPDATE, COMMIT being the others): in-process 0.84 to 0.99x
    the CPU and 0.90 to 0.94x the latency per call without it (measured,
    see docs/benchmark.rst; through the proxy the gain is within the
    machine's spread). A connection that died while pooled (a database
    restart or failover, an idle timeout) is found by the transaction's
    first statement instead, and ``_run_once_more_if_lost`` runs that
    transaction again on a new one: the caller sees no error, as with the
    ping.
    """
    if not hasattr(engine.pool, '_pre_ping'):
        LOG.warning('Pooled connections stay pinged at checkout: this '
                    'SQLAlchemy keeps its pool options elsewhere')
        return
    engine.pool._pre_ping = False


def _ensure_state_path(url):
    if url.startswith('sqlite:///') and url != 'sqlite:///:memory:':
        path = url[len('sqlite:///'):]
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)


def _mysql_on_connect(dbapi_conn, record):
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute('SET SESSION TRANSACTION ISOLATION LEVEL '
                       'READ COMMITTED')
    finally:
        cursor.close()


def _read_committed_on_mysql(engine):
    """MariaDB and MySQL transactions read as PostgreSQL's do: each
    statement from what was committed when it started (READ COMMITTED),
    not from a snapshot fixed at the transaction's first read (InnoDB's
    REPEATABLE READ). The database API is written for that: a write
    transaction that read something first (an action event's part of
    instance_update_and_record) would otherwise return metadata older
    than the row it updated, and explain a compare-and-swap miss from
    the old snapshot. Set at connect, once per connection; the pool's
    first connection (oslo.db's test connection) is dropped so that none
    is left at the server's default."""
    if engine.dialect.name not in ('mysql', 'mariadb'):
        return
    sqlalchemy.event.listen(engine, 'connect', _mysql_on_connect)
    engine.dispose()


# libpq's parameters that drivers using it (psycopg2, psycopg) take from
# the connection URL's query.
_LIBPQ_DRIVERS = ('psycopg2', 'psycopg')


def _liveness_parameters(url):
    """``[database] connection_parameters`` plus, for a PostgreSQL, MariaDB
    or MySQL ``url``, a connect timeout and (PostgreSQL) TCP keepalives
    and ``tcp_user_timeout`` from ``[database] connect_timeout`` and
    ``dead_connection_timeout``: each only where neither the URL nor
    ``connection_parameters`` names it.

    Without them a connection attempt to a server cut off silently waits
    for the kernel's SYN retries (about two minutes), and a pooled
    connection whose server vanished is noticed after the kernel's
    keepalive (two hours) or retransmission (fifteen minutes) timings;
    the proxy's heartbeat, and a call, are held as long."""
    given = CONF.database.connection_parameters or ''
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except Exception:
        return given
    named = set(parsed.query) | {
        key for key, _ in urllib.parse.parse_qsl(given)}
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name()
    wanted = {}
    connect = CONF.database.connect_timeout
    if connect and (backend in ('mysql', 'mariadb')
                    or (backend == 'postgresql'
                        and driver in _LIBPQ_DRIVERS)):
        wanted['connect_timeout'] = connect
    dead = CONF.database.dead_connection_timeout
    if dead and backend == 'postgresql' and driver in _LIBPQ_DRIVERS:
        # Idle: the first probe after half the time, then three probes
        # that share the rest. Sending: no acknowledgement for that long.
        idle = max(1, dead // 2)
        wanted.update(keepalives=1, keepalives_idle=idle,
                      keepalives_interval=max(1, (dead - idle) // 3),
                      keepalives_count=3, tcp_user_timeout=dead * 1000)
    added = urllib.parse.urlencode(
        [(key, value) for key, value in wanted.items() if key not in named])
    return '&'.join(part for part in (given, added) if part)


def _get_context_manager():
    global _context_manager
    if _context_manager is None:
        with _lock:
            if _context_manager is None:
                url = CONF.database.connection
                _ensure_state_path(url)
                cm = enginefacade.transaction_context()
                # No sleep(0) at every check-in (oslo.db's default, for
                # eventlet): our services run no eventlet, and there it
                # only handed the GIL to another thread at every call.
                cm.configure(connection=url, sqlite_fk=True,
                             connection_parameters=_liveness_parameters(url),
                             max_pool_size=CONF.database.max_pool_size,
                             max_overflow=CONF.database.max_overflow,
                             thread_checkin=False)
                engine = cm.writer.get_engine()
                sqlalchemy.event.listen(engine, 'connect', _sqlite_on_connect)
                _listen_first(engine, 'begin', _sqlite_on_begin)
                _pool_sqlite_file(engine)
                _no_ping_at_checkout(engine)
                _read_committed_on_mysql(engine)
                _hold_connections(engine)
                from nova_proxy.db import nonces
                sqlalchemy.event.listen(engine, 'before_cursor_execute',
                                        nonces.settle_before_a_write)
                _context_manager = cm
    return _context_manager


def get_engine():
    guard.check_db_access()
    return _get_context_manager().writer.get_engine()


# Where the hot reads run outside a transaction, and with which execution
# options of their held connections. Each statement of a read transaction
# reads what was committed when it started (READ COMMITTED, which the
# database API is written for), so a read outside one reads the same,
# without the BEGIN and ROLLBACK round trips around it; read only, so that
# a statement that would write is refused rather than committed (a read
# transaction would have rolled it back). By DB-API driver, only where it
# is known to send neither BEGIN nor ROLLBACK in autocommit and to make an
# autocommit session read only (psycopg2; PyMySQL sends a ROLLBACK all the
# same). SQLite's read transaction is the snapshot its reads share under
# WAL, and stays.
_AUTOCOMMIT_READERS = {
    'psycopg2': {'isolation_level': 'AUTOCOMMIT',
                 'postgresql_readonly': True},
}

# The DB-API drivers whose connection a write of one statement
# (``autocommit_writer``) switches to autocommit for its statement: only
# where the switch is made on the client alone and where, in autocommit,
# the driver sends no BEGIN before the statement and nothing for the
# transaction's COMMIT after it (psycopg2; checked with strace: one
# sendto per statement). PyMySQL already sends no BEGIN (the server
# begins a transaction by itself) and sends its COMMIT in autocommit all
# the same, so MariaDB would save nothing; SQLite's transactions cost no
# round trip.
_AUTOCOMMIT_WRITERS = frozenset(['psycopg2'])


def _hold_connections(engine):
    global _held_connections, _held_readers
    _held_connections = _held_readers = None
    if _held.holds(engine):
        # As many as the pool keeps, readers and writers together: its
        # overflow stays for the others.
        recycle = CONF.database.connection_recycle_time
        _held_connections = _held.HeldConnections(
            engine, engine.pool.size(), recycle=recycle)
        _held_readers = _held_connections
        if CONF.database.autocommit_reads and \
                engine.dialect.driver in _AUTOCOMMIT_READERS:
            _held_readers = _held.HeldConnections(
                engine, engine.pool.size(), recycle=recycle,
                options=_AUTOCOMMIT_READERS[engine.dialect.driver],
                share_size_with=_held_connections)


def dispose():
    """Close every pooled connection; the next use builds a new engine."""
    global _context_manager, _held_connections, _held_readers
    with _lock:
        cm, _context_manager = _context_manager, None
        held, _held_connections = _held_connections, None
        readers, _held_readers = _held_readers, None
    if held is not None:
        held.clear()
    if readers is not None and readers is not held:
        readers.clear()
    if cm is not None:
        try:
            cm.writer.get_engine().dispose()
        except Exception:
            LOG.debug('Engine disposal failed', exc_info=True)


reset_for_tests = dispose


@contextlib.contextmanager
def _nested():
    _tls.depth = getattr(_tls, 'depth', 0) + 1
    try:
        yield
    finally:
        _tls.depth -= 1


def _inside_a_transaction():
    """Whether this thread is inside one of our transactions: a retry
    (deadlock, lost connection) is then the outermost one's to make."""
    return getattr(_tls, 'depth', 0) > 0


def _run_once_more_if_lost(fn):
    """Run ``fn()`` (a whole transaction) again, once, if the database
    connection was lost before the transaction committed.

    Only then is it safe: a transaction cut off before its COMMIT was
    sent is rolled back by the server, whatever it had done; one cut off
    during its COMMIT may have committed, and stays an error
    (``DatabaseUnavailable`` for a caller over RPC). A lost connection
    also makes SQLAlchemy replace every connection pooled before it, so
    the second run gets a fresh one. ``fn(done)`` calls ``done()`` once
    its work is done, before the commit. A transaction nested in another
    (which joins the outer one) is not run again by itself: the outer
    one is, and so is one inside ``ran_once()``, which is already the
    one more run. ``autocommit_writer``'s statement is committed as it
    runs, before ``done()``: its function must tell its own earlier
    run."""
    if _inside_a_transaction() or getattr(_tls, 'ran_once', False):
        return fn(lambda: None)
    done = []
    try:
        return fn(lambda: done.append(True))
    except Exception as e:
        if done or not db_errors.is_database_unavailable(e):
            raise
        _runs_again(e, 'before the transaction committed')
    return fn(lambda: None)


def _runs_again(error, when):
    """Count and log work whose connection was lost ``when``, and which
    runs once more."""
    metrics.db_retry('connection_lost')
    LOG.info('Database connection lost %s (%s): running it again on a new '
             'connection', when, db_errors.describe(error))


@contextlib.contextmanager
def ran_once():
    """Inside it, a transaction whose connection is lost is not run again:
    for the one more run of work that ran once already
    (``statement_in_autocommit``'s statement)."""
    previous = getattr(_tls, 'ran_once', False)
    _tls.ran_once = True
    try:
        yield
    finally:
        _tls.ran_once = previous


@contextlib.contextmanager
def _want_write(flag):
    previous = getattr(_tls, 'want_write', False)
    _tls.want_write = flag or previous
    try:
        yield
    finally:
        _tls.want_write = previous


def _session_scope(fn, write, core=False):
    @functools.wraps(fn)
    def wrapper(context, *args, **kwargs):
        guard.check_db_access()
        # Nothing rides with a statement of enginefacade's transactions.
        _driver.settle_riding()
        if context is None:
            context = np_context.get_admin_context()
        cm = _get_context_manager()
        scope = cm.writer if write else cm.reader
        if core:
            scope = scope.connection

        def transaction(done):
            with _want_write(write), _nested():
                with scope.using(context):
                    result = fn(context, *args, **kwargs)
                    done()
            return result
        return _run_once_more_if_lost(transaction)
    return wrapper


# A write transaction is retried whole on deadlock.
_wrap_deadlock_retry = oslo_db_api.wrap_db_retry(
    max_retries=5, retry_on_deadlock=True, retry_interval=0.05,
    inc_retry_interval=True, max_retry_interval=1)


def _counting_deadlocks(scoped):
    """``scoped``, each deadlock it meets counted as a retry (after its
    fifth, ``_wrap_deadlock_retry`` gives up instead; counted all the
    same)."""
    @functools.wraps(scoped)
    def wrapper(*args, **kwargs):
        try:
            return scoped(*args, **kwargs)
        except db_exc.DBDeadlock:
            metrics.db_retry('deadlock')
            raise
    return wrapper


def _retry_on_deadlock(scoped):
    """``scoped`` retried whole on deadlock, unless it runs nested in
    another transaction: the database has then rolled back (MariaDB) or
    aborted (PostgreSQL) the outer transaction too, so retrying the nested
    part alone would write it without the outer one's earlier writes, or
    fail; the outermost transaction is retried instead."""
    retried = _wrap_deadlock_retry(_counting_deadlocks(scoped))

    @functools.wraps(scoped)
    def wrapper(*args, **kwargs):
        if _inside_a_transaction():
            return scoped(*args, **kwargs)
        return retried(*args, **kwargs)
    return wrapper


def writer(fn):
    """Run ``fn(context, ...)`` in a write transaction, with
    ``context.session`` set; retried whole on deadlock."""
    return _retry_on_deadlock(_session_scope(fn, write=True))


def unretried_writer(fn):
    """As ``writer``, never retried: for a transaction that bounds its
    own lock waits and handles their end itself. MariaDB reports a lock
    wait timeout as a deadlock, which ``writer`` would retry five more
    times, each waiting the whole timeout again."""
    return _session_scope(fn, write=True)


def reader(fn):
    """Run ``fn(context, ...)`` in a read transaction."""
    return _session_scope(fn, write=False)


# The hot paths of the compute wire run as Core statements and need no ORM
# session: a transaction on a bare connection costs about 150 to 250 us
# less CPU than one through a Session (measured, see docs/benchmark.rst).

def core_writer(fn):
    """As ``writer``, with ``context.connection`` (a Core connection in
    its transaction) instead of ``context.session``. Nested in an outer
    session transaction, it runs on that session's connection."""
    return _retry_on_deadlock(_session_scope(fn, write=True, core=True))


def unretried_core_writer(fn):
    """As ``unretried_writer``, with ``context.connection`` instead of
    ``context.session``."""
    return _session_scope(fn, write=True, core=True)


def core_reader(fn):
    """As ``reader``, with ``context.connection`` instead of
    ``context.session``."""
    return _session_scope(fn, write=False, core=True)


# -- the hot path -----------------------------------------------------------
#
# The frequent one-statement writes spent more CPU in the layers around
# their statement than in running it: enginefacade's context managers,
# the pool's checkout and check-in (measured in-process on PostgreSQL for
# issue 16).
# ``hot_writer`` runs them on a held connection (``_held``), in a
# transaction of its own, with every guarantee of ``core_writer``: the
# engine's events (oslo.db's error translation to named errors, SQLite's
# BEGIN IMMEDIATE), the deadlock retry, the run again on a lost
# connection. enginefacade still sees the transaction (a transaction
# context of its own kind, on the held connection), so that a call nested
# in it joins it as it would join enginefacade's own. Their statements
# are executed by the driver (``nova_proxy.db._driver``), with
# SQLAlchemy's error handling and result processing. ``hot_reader`` does
# the same for the frequent reads, in a read transaction (no deadlock
# retry, a rollback at its end, a writer nested in it refused as in
# enginefacade's reader).

def _facade_transaction(cm, connection, write=True):
    """An enginefacade transaction context for ``connection``, a writer's
    (``write``) or a reader's, in its transaction; None where this oslo.db
    keeps it otherwise."""
    try:
        tc = enginefacade._TransactionContext(cm._factory)
        tc.mode = enginefacade._WRITER if write else enginefacade._READER
    except (AttributeError, TypeError):
        return None
    tc.connection = connection
    return tc


def _in_autocommit(connection, fn, /, *args, **kwargs):
    """``fn(*args, **kwargs)`` with ``connection``'s driver connection in
    autocommit (psycopg2, ``_AUTOCOMMIT_WRITERS``): each statement
    commits as it runs, with no BEGIN before it, and a SQLAlchemy
    transaction around it has nothing left to commit. Switched back
    before that commit, unless the connection was closed (lost)
    meanwhile."""
    dbapi_connection = connection.connection.dbapi_connection
    try:
        dbapi_connection.autocommit = True
    except connection.dialect.loaded_dbapi.Error as e:
        # A connection the driver knows closed: SQLAlchemy's handling of
        # a driver's error (translated, the connection invalidated, and
        # run again on a new one when it was lost).
        connection._handle_dbapi_exception(e, None, None, None, None)
    try:
        return fn(*args, **kwargs)
    finally:
        if not dbapi_connection.closed:
            dbapi_connection.autocommit = False


def _hot_transaction(cm, held, fn, context, args, kwargs, done,
                     write=True, autocommit=False):
    """``fn`` in a write (``write``) or read transaction on a held
    connection, or None as the first item when enginefacade's own scope
    must run it. A read transaction ends with a rollback, as
    enginefacade's reader does. ``autocommit``: a write's statements run
    in autocommit where the driver allows (``_in_autocommit``); a
    function of ``fn``'s arguments after its context: for the calls where
    it is true."""
    by_thread = enginefacade._transaction_contexts_by_thread(context)
    if getattr(by_thread, 'current', None) is not None:
        # In enginefacade's transaction for this context (one not opened
        # by our decorators): join it the usual way.
        return False, None
    connection, token = held.take()
    try:
        tc = _facade_transaction(cm, connection, write)
        if tc is None:
            return False, None
        by_thread.current = tc
        previous_write = getattr(_tls, 'want_write', False)
        _tls.want_write = write or previous_write
        _tls.depth = getattr(_tls, 'depth', 0) + 1
        try:
            if write:
                with connection.begin():
                    if autocommit and connection.dialect.driver in \
                            _AUTOCOMMIT_WRITERS and (
                                autocommit is True or
                                autocommit(*args, **kwargs)):
                        result = _in_autocommit(connection, fn, context,
                                                *args, **kwargs)
                    else:
                        result = fn(context, *args, **kwargs)
                    done()
            else:
                transaction = connection.begin()
                try:
                    result = fn(context, *args, **kwargs)
                    done()
                finally:
                    transaction.rollback()
        finally:
            _tls.depth -= 1
            _tls.want_write = previous_write
            del by_thread.current
        return True, result
    finally:
        held.give_back(connection, token)


def _hot_scope(fn, write=True, autocommit=False):
    """``fn`` in a transaction on a connection held by the writers'
    (``write``) or the readers' set, or in enginefacade's own scope where
    none is held; ``autocommit``: see ``autocommit_writer``."""
    scoped = _session_scope(fn, write=write, core=True)

    def held_now():
        return _held_connections if write else _held_readers

    @functools.wraps(fn)
    def wrapper(context, *args, **kwargs):
        if held_now() is None or _inside_a_transaction():
            return scoped(context, *args, **kwargs)
        guard.check_db_access()
        if not (write and autocommit and (autocommit is True or
                                          autocommit(*args, **kwargs))):
            # Only a statement that commits as it runs carries a nonce.
            _driver.settle_riding()
        if context is None:
            context = np_context.get_admin_context()
        cm = _get_context_manager()
        held = held_now()
        if held is None:
            return scoped(context, *args, **kwargs)

        def transaction(done):
            return _hot_transaction(cm, held, fn, context, args, kwargs,
                                    done, write, autocommit)
        ran, result = _run_once_more_if_lost(transaction)
        if not ran:
            return scoped(context, *args, **kwargs)
        return result
    return wrapper


# What ``statement_in_autocommit`` returns when its connection was lost.
LOST = object()


def statement_in_autocommit(statement_for, params):
    """Run one statement that commits as it runs, with less around it
    than ``autocommit_writer``: on a held writer connection switched to
    autocommit, outside any SQLAlchemy and enginefacade transaction
    (which the statement does not need: the driver commits it), executed
    by the driver (``_driver.execute_in_autocommit``). A signed call's
    nonce INSERT spent twice as much CPU in those layers as in the driver
    (measured in-process on PostgreSQL: docs/benchmark.rst, step 41).

    ``statement_for(dialect_name)``: the statement. Only where
    ``autocommit_writer`` would run in autocommit (a held connection,
    ``_AUTOCOMMIT_WRITERS``, no transaction of ours on this thread).

    :returns: its ``DriverResult``; None where it did not run (it cannot
        run so) or the database reported a deadlock: the caller runs it
        through its ``autocommit_writer``, which retries a deadlock;
        ``LOST`` where the connection was lost, or could not be opened
        (counted and logged as a run again, the pool invalidated as
        SQLAlchemy does): the caller runs it through its
        ``autocommit_writer`` inside ``ran_once()``, the one more run any
        transaction gets. The statement may have committed before the
        loss was noticed, and must be safe to run again.
    :raises: the database's other errors, translated (oslo.db's named
        errors), as ``autocommit_writer`` raises them.
    """
    held = _held_connections
    if held is None or held.driver not in _AUTOCOMMIT_WRITERS or \
            _inside_a_transaction():
        return None
    guard.check_db_access()
    _driver.settle_riding()
    connection = token = None
    when = 'while connecting'
    try:
        connection, token = held.take()
        when = 'during a statement that commits as it runs'
        # A held connection is never in a transaction; one that would be
        # is left to SQLAlchemy by the driver path (None).
        return _in_autocommit(
            connection, _driver.execute_in_autocommit, connection,
            statement_for(connection.dialect.name), params)
    except db_exc.DBDeadlock:
        return None
    except Exception as e:
        if not db_errors.is_database_unavailable(e):
            raise
        _runs_again(e, when)
        return LOST
    finally:
        if connection is not None:
            held.give_back(connection, token)


def statements_can_ride():
    """Whether a statement can ride with another (``_driver.ride_ahead``):
    where writes commit as they run (``autocommit_writer``)."""
    held = _held_connections
    return held is not None and held.driver in _AUTOCOMMIT_WRITERS


def hot_writer(fn):
    """As ``core_writer`` (``context.connection``, retried whole on
    deadlock, joining an outer transaction), on a held connection: for the
    frequent writes."""
    return _retry_on_deadlock(_hot_scope(fn))


def autocommit_writer(fn):
    """As ``hot_writer``, for a write of one statement: on PostgreSQL
    with psycopg2 its held connection is switched to autocommit for it,
    so the statement commits as it runs, without the BEGIN and COMMIT
    round trips around it (``_AUTOCOMMIT_WRITERS``); elsewhere, and
    inside another transaction or enginefacade's own scope, it is
    ``hot_writer``.

    A lost connection runs ``fn`` once more on a new one, as for any
    transaction cut off before its commit; but in autocommit the
    statement *is* the commit, and may have gone in before the connection
    was lost. ``fn`` must therefore tell a row its own earlier run wrote
    from one another call wrote (``nonces.add`` writes a token of its
    call in its row and reads it back when the row is already there)."""
    return _retry_on_deadlock(_hot_scope(fn, autocommit=True))


def autocommit_writer_when(one_statement):
    """As ``autocommit_writer`` for the calls whose arguments (after the
    context) ``one_statement`` is true of, ``hot_writer`` for the others:
    for a function that writes in one statement on most calls and reads
    (and locks) before it writes on the others. Run again after a lost
    connection, its one statement must leave what its earlier run
    committed as it was (``autocommit_writer``)."""
    def decorator(fn):
        return _retry_on_deadlock(_hot_scope(fn, autocommit=one_statement))
    return decorator


def hot_reader(fn):
    """As ``core_reader`` (``context.connection``, joining an outer
    transaction), on a held connection: for the frequent reads of
    nova-compute's periodic tasks. In-process on PostgreSQL, taking a
    connection from the pool and enginefacade's reader scope were a fifth
    of the CPU of ``instance_get_all_by_host_and_node``. On PostgreSQL
    with psycopg2 the connection is in autocommit and read only
    (``_AUTOCOMMIT_READERS``): no BEGIN and no ROLLBACK around the
    read's statements."""
    return _hot_scope(fn, write=False)
