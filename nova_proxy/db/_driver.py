"""Statements of the hot path executed by the database driver itself.

On a held connection (``_held``) with its SQL compiled once, the frequent
writes still spent as much CPU in SQLAlchemy's execution of a statement
as in the driver's: an execution context, the parameters processed
through generic code, a result with its metadata and row processing
built for each call (measured in-process on PostgreSQL for issue 16).
``execute`` runs a Core statement the way SQLAlchemy would, with what it
prepares for every execution prepared once per statement, dialect and
parameter names:

* the SQL as the dialect compiles it for those parameter names, and the
  parameters converted by the same bind processors into the driver's
  paramstyle;
* the driver's cursor, through the dialect's ``do_execute``, with the
  engine's ``before_cursor_execute`` and ``after_cursor_execute``
  listeners called around it (without an execution context);
* a driver error handed to the SQLAlchemy ``Connection``'s own error
  handling: SQLAlchemy's wrapping, the engine's ``handle_error``
  listeners (oslo.db's translation to ``DBDeadlock``,
  ``DBDuplicateEntry``, ``DBConnectionError``...), the connection and the
  pool invalidated on a disconnect, exactly as for any statement;
* the rows converted by the result processors SQLAlchemy would apply
  (JSON text, SQLite's times, MariaDB's booleans), as ``sqlalchemy.Row``
  objects keyed by name and by column.

Whatever this cannot run exactly as SQLAlchemy would goes through
``connection.execute``: a connection outside a transaction (its autobegin
and its ``begin`` listeners are SQLAlchemy's; except in
``execute_in_autocommit``, whose statement commits by itself and needs no
transaction), execution options other
than those SQLAlchemy applies to the driver's connection once, when they
are set (``_CONNECTION_OPTIONS``: the held autocommit readers'), echo,
statement-level ``before_execute``/``after_execute`` listeners, expanding
or literal-rendered parameters, Python-side defaults computed at
execution, an INSERT whose new key the driver reports (MariaDB), a
dialect whose execution context handles errors itself or that streams
results through server-side cursors.

One thing SQLAlchemy does after a statement is not done here: psycopg2's
execution context logs the server's NOTICE messages; the statements of
the hot path raise none.

A statement may ride ahead of a thread's next one (``ride_ahead``): a
signed call's nonce INSERT, sent with the call's own write in one round
trip (``nova_proxy.db.nonces.RidingNonce``). ``execute`` offers it each
statement it runs itself; a write that it cannot carry (another path,
another driver, a connection in a transaction) has it recorded first,
by its own statement.
"""

import functools
import threading

import sqlalchemy as sa
from sqlalchemy.engine import default as sa_default
from sqlalchemy.engine import result as sa_result

__all__ = ['execute', 'execute_in_autocommit', 'DriverResult', 'ride_ahead',
           'riding', 'settle_riding']

# This thread's statement riding ahead (``ride_ahead``), or None.
_riding = threading.local()


class _Plan:
    """What ``execute`` prepares once for a statement, dialect and
    parameter names."""

    __slots__ = ('compiled', 'sql', 'positiontup', 'escaped', 'binds',
                 'sequence', 'columns', 'rows')

    def __init__(self, compiled, dialect):
        self.compiled = compiled
        self.sql = compiled.string
        self.positiontup = compiled.positiontup if compiled.positional \
            else None
        self.escaped = compiled.escaped_bind_names or {}
        self.binds = compiled._bind_processors
        self.sequence = dialect.execute_sequence_format
        self.columns = compiled._result_columns
        # (metadata, processors), from the first cursor description.
        self.rows = None

    def parameters(self, params):
        values = self.compiled.construct_params(params, escape_names=False)
        binds = self.binds
        if self.positiontup is not None:
            return self.sequence([
                binds[key](values[key]) if key in binds else values[key]
                for key in self.positiontup])
        escaped = self.escaped
        return {escaped.get(key, key):
                binds[key](value) if key in binds else value
                for key, value in values.items()}

    def row_maker(self, dialect, description):
        if self.rows is None:
            if len(description) != len(self.columns):
                # Never for a compiled statement's own columns; refuse
                # rather than guess which processor goes where.
                raise sa.exc.InvalidRequestError(
                    'the driver returned %d columns for %d compiled ones'
                    % (len(description), len(self.columns)))
            processors = [
                entry[3]._cached_result_processor(dialect, item[1])
                for entry, item in zip(self.columns, description)]
            metadata = sa_result.SimpleResultMetaData(
                [entry[0] for entry in self.columns],
                extra=[entry[2] for entry in self.columns])
            self.rows = (metadata, processors
                         if any(p is not None for p in processors) else None)
        metadata, processors = self.rows
        return functools.partial(sa.Row, metadata, processors,
                                 metadata._key_to_index)


class _Execution:
    """What SQLAlchemy's error handling and the ``handle_error``
    listeners see of an execution that failed (``ExceptionContext``'s
    ``execution_context``): a single execution of ``compiled``."""

    executemany = False

    def __init__(self, connection, compiled, statement, parameters, cursor):
        self.root_connection = connection
        self.dialect = connection.dialect
        self.compiled = compiled
        self.statement = statement
        self.parameters = [parameters]
        self.cursor = cursor

    def handle_dbapi_exception(self, e):
        """As ``DefaultExecutionContext``'s (``_plan`` takes no dialect
        whose context does more): nothing."""


def _plain_context(dialect):
    return not dialect.server_side_cursors and \
        dialect.execution_ctx_cls.handle_dbapi_exception is \
        sa_default.DefaultExecutionContext.handle_dbapi_exception


@functools.lru_cache(maxsize=1024)
def _plan(statement, dialect, keys):
    if not _plain_context(dialect):
        return None
    compiled = statement.compile(dialect=dialect, column_keys=list(keys),
                                 for_executemany=False)
    if compiled.literal_execute_params or compiled.post_compile_params or \
            compiled.insert_prefetch or compiled.update_prefetch or \
            compiled.schema_translate_map or \
            (compiled.isinsert and not compiled.effective_returning):
        return None
    return _Plan(compiled, dialect)


class DriverResult:
    """The result of a statement ``execute`` ran: its rows (all fetched)
    and its row count, with the part of ``CursorResult``'s interface the
    hot path uses."""

    __slots__ = ('rowcount', '_rows')

    def __init__(self, rows, rowcount):
        self._rows = rows
        self.rowcount = rowcount

    def all(self):
        return list(self._rows)

    def first(self):
        return self._rows[0] if self._rows else None

    def one(self):
        if len(self._rows) != 1:
            raise (sa.exc.NoResultFound('No row was found when one was '
                                        'required') if not self._rows else
                   sa.exc.MultipleResultsFound('Multiple rows were found '
                                               'when exactly one was '
                                               'required'))
        return self._rows[0]

    def one_or_none(self):
        if len(self._rows) > 1:
            raise sa.exc.MultipleResultsFound(
                'Multiple rows were found when one or none was required')
        return self._rows[0] if self._rows else None

    def __iter__(self):
        return iter(self._rows)


# Execution options that SQLAlchemy's dialects apply to the driver's
# connection when they are set on a ``Connection``
# (``set_connection_execution_options``), and that play no part in the
# execution of a statement afterwards.
_CONNECTION_OPTIONS = frozenset(['isolation_level', 'postgresql_readonly',
                                 'postgresql_deferrable'])


def _runs_itself(connection, in_transaction=True):
    """Whether a statement on ``connection`` may skip SQLAlchemy's
    execution: in its transaction (``in_transaction``), or outside any
    (``execute_in_autocommit``)."""
    return connection.in_transaction() is in_transaction and \
        connection._execution_options.keys() <= _CONNECTION_OPTIONS and \
        not connection._echo and \
        not connection.dispatch.before_execute and \
        not connection.dispatch.after_execute


def execute(connection, statement, params=None):
    """``connection.execute(statement, params)``, run by the driver
    (see the module's documentation), on a connection in its
    transaction; returns a ``DriverResult`` or, where SQLAlchemy runs the
    statement, its ``CursorResult``."""
    params = params or {}
    if not _runs_itself(connection):
        return _executed_by_sqlalchemy(connection, statement, params)
    plan = _plan(statement, connection.dialect, tuple(sorted(params)))
    if plan is None:
        return _executed_by_sqlalchemy(connection, statement, params)
    return _run(connection, plan, params)


def _executed_by_sqlalchemy(connection, statement, params):
    """A statement SQLAlchemy runs: a write cannot carry what rides
    ahead, which is recorded first, here rather than by the engine's
    listener (``nonces.settle_before_a_write``, the net for writes by
    any other path): a refusal raised inside SQLAlchemy's execution goes
    through its error handling and the engine's ``handle_error``
    listeners, as if the statement had failed."""
    if getattr(_riding, 'statement', None) is not None and \
            getattr(statement, 'is_dml', False):
        settle_riding()
    return connection.execute(statement, params)


def ride_ahead(statement):
    """Send ``statement`` ahead of this thread's next statement that can
    carry it (None: no more). ``statement`` has ``board(connection, sql,
    arguments, write)``, which returns the SQL and arguments to run (its
    own joined to the statement's when it boards, and then it is
    ``sent()``, or ``failed(error, connection)`` if that execution
    fails, true when it calls for ``refuse()``), and
    ``settle()``, which records it by itself."""
    _riding.statement = statement


def riding():
    """This thread's statement riding ahead, or None."""
    return getattr(_riding, 'statement', None)


def settle_riding():
    """Record this thread's statement riding ahead by itself, if there is
    one: before work that could not carry it."""
    statement = getattr(_riding, 'statement', None)
    if statement is not None:
        _riding.statement = None
        statement.settle()


def execute_in_autocommit(connection, statement, params):
    """``statement`` run by the driver on ``connection`` outside any
    SQLAlchemy transaction, its driver connection in autocommit (the
    caller's to switch): the statement commits as it runs, and nothing of
    SQLAlchemy's transaction (its ``begin`` and ``commit`` events, a
    ``RootTransaction``) is built around it. A driver's error is handled
    as in ``execute``: translated, the connection invalidated when it was
    lost. Returns a ``DriverResult``, or None where SQLAlchemy would have
    to run the statement (the caller then runs it in a transaction)."""
    if not _runs_itself(connection, in_transaction=False):
        return None
    plan = _plan(statement, connection.dialect, tuple(sorted(params)))
    if plan is None:
        return None
    return _run(connection, plan, params)


def _run(connection, plan, params):
    dialect = connection.dialect
    sql, cursor = plan.sql, None
    try:
        arguments = plan.parameters(params)
    except Exception as e:
        # As SQLAlchemy reports a statement it could not prepare.
        connection._handle_dbapi_exception(e, sql, params, None, None)
    rider = getattr(_riding, 'statement', None)
    if rider is not None:
        compiled = plan.compiled
        write = compiled.isinsert or compiled.isupdate or compiled.isdelete
        boarded = rider.board(connection, sql, arguments, write)
        if boarded is None:
            if write:
                settle_riding()
            rider = None
        else:
            _riding.statement = None
            sql, arguments = boarded
    try:
        cursor = connection.connection.cursor()
        events = connection._has_events or connection.engine._has_events
        if events:
            for fn in connection.dispatch.before_cursor_execute:
                sql, arguments = fn(connection, cursor, sql, arguments,
                                    None, False)
        dialect.do_execute(cursor, sql, arguments, None)
        if events and connection.dispatch.after_cursor_execute:
            connection.dispatch.after_cursor_execute(
                connection, cursor, sql, arguments, None, False)
        description = cursor.description
        raw = cursor.fetchall() if description else ()
        rowcount = cursor.rowcount
        cursor.close()
    except BaseException as e:
        if rider is not None and rider.failed(e, connection):
            # Its own INSERT failed on the key: a replay, refused.
            if cursor is not None:
                cursor.close()
            rider.refuse()
        # SQLAlchemy's handling of an error of an execution: a driver's
        # error wrapped and translated, anything else raised as it is.
        connection._handle_dbapi_exception(
            e, sql, arguments, cursor,
            _Execution(connection, plan.compiled, sql, arguments, cursor))
    if rider is not None:
        rider.sent()
    if not raw:
        return DriverResult((), rowcount)
    make = plan.row_maker(dialect, description)
    return DriverResult([make(row) for row in raw], rowcount)
