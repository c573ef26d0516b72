"""``raw-sql``: the proxy's compare-and-swap with the database driver alone.

The floor of the database part of a call. ``capture()`` runs
``nova_proxy.db.api.instance_update`` once, with the host scope the proxy
adds for a compute caller, and records the SQL text and parameters that
reached the driver's cursor (an SQLAlchemy ``before_cursor_execute``
listener on the project's engine): exactly the statements the proxy runs
for that call, whatever the database layer's code looks like at the time.
``RawCaller`` then runs them again with the driver alone (psycopg2 on
PostgreSQL, PyMySQL on MariaDB, sqlite3 on SQLite) on a connection of its
own: one transaction per call, the rows fetched, the commit; no pool, no
SQLAlchemy, no oslo.db, no validation, no dicts.

Each call writes a new ``progress`` (the value ``capture()`` sent is a
marker found again in the parameters), so every UPDATE changes the row as
the proxy's does. On PostgreSQL and SQLite the compare-and-swap is one
``UPDATE ... RETURNING``; on MariaDB, which has no ``RETURNING``, the
captured call is the UPDATE and the reads of the row after it.
"""

import sqlite3

import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy.db import api as db
from nova_proxy.db import session as db_session

__all__ = ['Statement', 'capture', 'RawCaller', 'RawSqlError', 'MARKER']

# The progress ``capture()`` writes: found again in the parameters, it is
# where each raw call puts its own value.
MARKER = 77


class RawSqlError(Exception):
    """The captured call cannot be replayed (or a replay matched no row)."""


class Statement:
    """One statement as the driver got it: SQL text, parameters (a dict
    or a sequence, in the driver's paramstyle) and where, if anywhere, the
    progress goes in them."""

    def __init__(self, sql, parameters):
        self.sql = sql
        self.parameters = parameters
        self.progress_key = _marker_key(parameters)

    def parameters_for(self, progress):
        if self.progress_key is None:
            return self.parameters
        if isinstance(self.parameters, dict):
            return dict(self.parameters, **{self.progress_key: progress})
        values = list(self.parameters)
        values[self.progress_key] = progress
        return tuple(values)


def _marker_key(parameters):
    if isinstance(parameters, dict):
        items = parameters.items()
    else:
        items = enumerate(parameters or ())
    keys = [key for key, value in items
            if type(value) is int and value == MARKER]
    if len(keys) > 1:
        raise RawSqlError('the progress marker %d appears %d times in the '
                          'parameters' % (MARKER, len(keys)))
    return keys[0] if keys else None


def capture(host):
    """The statements of one scoped ``instance_update`` of ``host``'s first
    instance, as the driver receives them (``[Statement]``)."""
    engine = db_session.get_engine()
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not executemany:
            seen.append(Statement(statement, parameters))

    # Once before listening: the connection's first use (its set-up
    # statements) is not part of a call.
    _update(host, 0)
    sa.event.listen(engine, 'before_cursor_execute', record)
    try:
        _update(host, MARKER)
    finally:
        sa.event.remove(engine, 'before_cursor_execute', record)
    statements = [s for s in seen if not _is_ping(s.sql)]
    if not any(s.progress_key is not None for s in statements):
        raise RawSqlError('no statement of instance_update carries the '
                          'progress: %r' % [s.sql for s in statements])
    return statements


def _update(host, progress):
    db.instance_update(np_context.get_admin_context(), host.instance_uuids[0],
                       {'progress': progress, 'expected_task_state': None},
                       scope_host=host.name)


def _is_ping(sql):
    return sql.strip().upper() in ('SELECT 1', 'SELECT 1 AS ANON_1')


def connect(url):
    """A plain DB-API connection to ``url`` (an SQLAlchemy URL), made by the
    driver the project's engine uses, with the same session settings that
    matter to the statement (MariaDB: rows matched, not changed)."""
    url = sa.engine.make_url(url)
    backend = url.get_backend_name()
    if backend == 'postgresql':
        import psycopg2
        return psycopg2.connect(
            host=url.host, port=url.port or 5432, user=url.username,
            password=url.password or None, dbname=url.database)
    if backend == 'mysql':
        import pymysql
        from pymysql.constants import CLIENT
        return pymysql.connect(
            host=url.host, port=url.port or 3306, user=url.username,
            password=url.password or '', database=url.database,
            charset=url.query.get('charset', 'utf8mb4'),
            client_flag=CLIENT.FOUND_ROWS)
    if backend == 'sqlite':
        # Used from the caller's thread, made in the bench's main thread;
        # no implicit transactions: the captured call begins its own
        # (``BEGIN IMMEDIATE``), as the project's engine does.
        return sqlite3.connect(url.database, timeout=30,
                               check_same_thread=False, isolation_level=None)
    raise RawSqlError('no raw driver for %s' % backend)


class RawCaller:
    """One caller of the raw statements: its connection and its host's
    statements. ``call()`` is one compare-and-swap."""

    def __init__(self, url, statements):
        self.connection = connect(url)
        self.statements = statements
        self._progress = 0

    def call(self):
        self._progress = (self._progress + 1) % 100
        if self._progress == MARKER:
            self._progress += 1
        cursor = self.connection.cursor()
        try:
            for statement in self.statements:
                cursor.execute(statement.sql,
                               statement.parameters_for(self._progress))
                # The compare-and-swap is the statement with the progress.
                cas = statement.progress_key is not None
                if cursor.description is not None:
                    rows = cursor.fetchall()
                    if cas and not rows:
                        raise RawSqlError('the compare-and-swap matched '
                                          'no row')
                elif cas and cursor.rowcount != 1:
                    raise RawSqlError('the compare-and-swap matched %s '
                                      'rows' % cursor.rowcount)
            self.connection.commit()
        except Exception:
            self.connection.rollback()
            raise
        finally:
            cursor.close()

    def close(self):
        self.connection.close()
