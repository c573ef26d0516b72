"""The hot path's statements run by the driver (``nova_proxy.db._driver``)
give what SQLAlchemy gives: the same rows, typed by the same result
processors, the same translated errors, on SQLite, PostgreSQL and
MariaDB; and the frequent writes do take that path. The guarantees of
the calls themselves (deadlock retry, run again on a lost connection,
the host scope) are tests/unit/db/test_hot_path.py's, which now run on
it."""

import datetime

from oslo_db import exception as db_exc
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import default as sa_default

from nova_proxy.common import context as np_context
from nova_proxy.db import _driver
from nova_proxy.db import api
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _instance_rows
from nova_proxy.db import models
from nova_proxy.db import session as db_session
from tests.unit.db import test_hot_path as hot

_SERVICES = models.Service.__table__


def _compiled_executions(monkeypatch):
    """The SQL of every statement SQLAlchemy's own execution prepares."""
    seen = []
    original = sa_default.DefaultExecutionContext._init_compiled.__func__

    def init_compiled(cls, dialect, connection, dbapi_connection, options,
                      compiled, *args, **kwargs):
        seen.append(compiled.string)
        return original(cls, dialect, connection, dbapi_connection, options,
                        compiled, *args, **kwargs)
    monkeypatch.setattr(sa_default.DefaultExecutionContext, '_init_compiled',
                        classmethod(init_compiled))
    return seen


def test_the_frequent_writes_run_their_statements_by_the_driver(
        db_all, monkeypatch):
    """Once warm, no UPDATE of the frequent writes is executed by
    SQLAlchemy: each reached the driver by ``_driver.execute``."""
    context = np_context.get_admin_context()
    service, node, instance, _action = hot._host(context)

    def calls(n):
        api.instance_update(context, instance['uuid'],
                            {'progress': n, 'expected_task_state': None},
                            scope_host='h1')
        api.instance_update_and_get_original(
            context, instance['uuid'], {'progress': n + 1},
            columns_to_join=[], scope_host='h1')
        api.service_heartbeat(context, service['id'], scope_host='h1')
        api.compute_node_update(context, node['id'], {'vcpus_used': n},
                                scope_host='h1')
    calls(1)
    seen = _compiled_executions(monkeypatch)
    calls(2)
    assert not [sql for sql in seen if sql.lstrip().startswith('UPDATE')]
    assert api.instance_get_by_uuid(context,
                                    instance['uuid'])['progress'] == 3


def test_the_frequent_reads_and_nonces_run_by_the_driver_too(
        db_all, monkeypatch):
    """On PostgreSQL the frequent reads run on held connections in
    autocommit and read only, execution options SQLAlchemy applies to the
    driver's connection once, and a signed call's nonce returns its row:
    their statements reach the driver all the same. Elsewhere the
    nonce's INSERT returns no row, and SQLAlchemy runs it (so do
    MariaDB's reads of an instance's metadata and system metadata, as
    they did before)."""
    from nova_proxy.db import nonces
    context = np_context.get_admin_context()
    _service, _node, instance, _action = hot._host(context)

    def calls(n):
        assert api.instance_get_by_uuid(
            context, instance['uuid'])['uuid'] == instance['uuid']
        assert len(api.instance_get_all_by_host(context, 'h1')) == 1
        assert len(api.compute_node_get_all_by_host(context, 'h1')) == 1
        assert nonces.add(None, str(n) * 64, 1000)
    calls(1)
    seen = _compiled_executions(monkeypatch)
    calls(2)
    if db_session.get_engine().dialect.name == 'postgresql':
        assert db_session._held_readers is not \
            db_session._held_connections
        assert seen == []
    else:
        assert [sql.split()[0] for sql in seen
                if not sql.startswith('SELECT')] == ['INSERT']


def _both(statement, params):
    """The rows of ``statement`` as SQLAlchemy and as the driver path
    return them, in one transaction."""
    engine = db_session.get_engine()
    with engine.connect() as connection, connection.begin():
        by_sqlalchemy = connection.execute(statement, params).all()
        by_driver = _driver.execute(connection, statement, params).all()
    assert isinstance(by_driver, list) and by_driver
    return by_sqlalchemy, by_driver


def _same_rows(expected, rows):
    assert [row._fields for row in rows] == \
        [row._fields for row in expected]
    assert [tuple(row) for row in rows] == [tuple(row) for row in expected]
    assert [[type(value) for value in row] for row in rows] == \
        [[type(value) for value in row] for row in expected]


def test_rows_are_typed_as_sqlalchemy_types_them(db_all):
    """Times, booleans (MariaDB: integers from the driver) and the JSON
    aggregates of the metadata come back as SQLAlchemy returns them."""
    context = np_context.get_admin_context()
    service, _node, instance, _action = hot._host(context)
    api.instance_update(context, instance['uuid'],
                        {'metadata': {'a': '1'},
                         'launched_at': datetime.datetime(2026, 1, 2, 3)})
    dialect = db_session.get_engine().dialect
    statement = _instance_rows._instance_read(
        _dialect.aggregating_dialect(dialect.name), False)
    expected, rows = _both(statement, {'uuid': instance['uuid']})
    _same_rows(expected, rows)
    assert isinstance(rows[0].launched_at, datetime.datetime)
    assert rows[0]._mapping[models.Instance.__table__.c.uuid] == \
        instance['uuid']
    expected, rows = _both(_dialect._row_by_id(_SERVICES),
                           {'r_id': service['id']})
    _same_rows(expected, rows)
    assert rows[0].disabled is False and rows[0].forced_down is False


def test_a_driver_error_is_translated_and_the_connection_stays(db_all):
    """A duplicate key raised by the driver is oslo.db's DBDuplicateEntry,
    as through SQLAlchemy; the transaction then rolls back as usual and
    the connection serves the next one."""
    context = np_context.get_admin_context()
    service, _node, _instance, _action = hot._host(context)
    other = api.service_create(context, {
        'host': 'h2', 'binary': 'nova-compute', 'topic': 'compute'})
    statement = _dialect._update_by_id(_SERVICES, ('host',), False)
    engine = db_session.get_engine()
    with engine.connect() as connection:
        with pytest.raises(db_exc.DBDuplicateEntry):
            with connection.begin():
                _driver.execute(connection, statement,
                                {'v_host': 'h1', 'w_id': other['id']})
        with connection.begin():
            result = _driver.execute(connection, statement,
                                     {'v_host': 'h3', 'w_id': other['id']})
            assert isinstance(result, _driver.DriverResult)
            assert result.rowcount == 1
    assert api.service_get(context, other['id'])['host'] == 'h3'


def test_what_it_cannot_run_as_sqlalchemy_does_goes_to_sqlalchemy(db_all):
    """Outside a transaction (SQLAlchemy's autobegin) and with a
    statement-level listener, SQLAlchemy runs the statement."""
    context = np_context.get_admin_context()
    service, _node, _instance, _action = hot._host(context)
    statement = _dialect._row_by_id(_SERVICES)
    params = {'r_id': service['id']}
    engine = db_session.get_engine()
    seen = []

    def before_execute(conn, clauseelement, multiparams, params, options):
        seen.append(clauseelement)
    with engine.connect() as connection:
        result = _driver.execute(connection, statement, params)
        assert isinstance(result, sa.CursorResult)
        assert result.one().id == service['id']
        connection.rollback()
        sa.event.listen(engine, 'before_execute', before_execute)
        try:
            with engine.connect() as listened, listened.begin():
                result = _driver.execute(listened, statement, params)
                assert isinstance(result, sa.CursorResult)
        finally:
            sa.event.remove(engine, 'before_execute', before_execute)
        assert seen == [statement]
        with connection.begin():
            result = _driver.execute(connection, statement, params)
            assert isinstance(result, _driver.DriverResult)
    # An execution option SQLAlchemy applies at each execution: its own.
    with engine.connect() as connection:
        connection.execution_options(logging_token='t')
        with connection.begin():
            result = _driver.execute(connection, statement, params)
            assert isinstance(result, sa.CursorResult)
    # One it applies to the driver's connection when it is set: the
    # driver's.
    with engine.connect() as connection:
        connection.execution_options(isolation_level='SERIALIZABLE')
        with connection.begin():
            result = _driver.execute(connection, statement, params)
            assert isinstance(result, _driver.DriverResult)
            assert result.one().id == service['id']


def test_a_nonce_commits_by_itself_outside_sqlalchemys_transaction(
        db_all, monkeypatch):
    """On PostgreSQL a nonce's INSERT runs on a held connection in
    autocommit with no SQLAlchemy transaction around it (no ``begin``
    or ``commit`` event); inside one of our transactions it joins that
    transaction instead, through ``autocommit_writer``. Elsewhere it is
    always ``autocommit_writer``'s."""
    from nova_proxy.db import nonces
    engine = db_session.get_engine()
    events = []

    def on(name):
        def listener(*args, **kwargs):
            events.append(name)
        return listener
    listeners = [(name, on(name)) for name in ('begin', 'commit')]
    assert nonces.add(None, '1' * 64, 1000)
    for name, listener in listeners:
        sa.event.listen(engine, name, listener)
    try:
        assert nonces.add(None, '2' * 64, 1000)
        by_itself = list(events)
        events.clear()

        @db_session.core_writer
        def inside(context):
            return db_session.statement_in_autocommit(
                nonces._insert_unless_present,
                {'digest': '3' * 64, 'expires_at': 1000, 'attempt': 'a'})
        assert inside(None) is None
        inside_one = list(events)
    finally:
        for name, listener in listeners:
            sa.event.remove(engine, name, listener)
    assert nonces.count(None) == 2
    if engine.dialect.name == 'postgresql':
        assert by_itself == []
    else:
        assert by_itself == ['begin', 'commit']
    assert inside_one == ['begin', 'commit']


def test_a_nonce_the_database_refuses_is_refused_as_before(db_all):
    """A database error of the INSERT by itself (not a lost connection)
    is raised as ``autocommit_writer`` raises it, translated, from its
    one run (no transaction of SQLAlchemy's around it, no second run);
    the held connection goes back out of autocommit and serves the next
    nonce."""
    from nova_proxy.db import nonces
    from tests.unit.db import test_hot_path as hot
    assert nonces.add(None, '4' * 64, 1000)
    engine = db_session.get_engine()
    if engine.dialect.name != 'postgresql':
        pytest.skip('the INSERT runs by itself on PostgreSQL only (and '
                    'SQLite and MariaDB\'s INSERT IGNORE take a value '
                    'longer than its column)')
    begun = []

    def begin(conn):
        begun.append(conn)
    sa.event.listen(engine, 'begin', begin)
    try:
        with hot.statements_sent(engine) as statements:
            # A digest longer than its column.
            with pytest.raises(db_exc.DBError):
                nonces.add(None, '5' * 65, 1000)
    finally:
        sa.event.remove(engine, 'begin', begin)
    assert statements == [('INSERT', True)]
    assert begun == []
    held = list(db_session._held_connections._idle)
    assert held and not any(
        connection.connection.dbapi_connection.autocommit
        for connection, _since in held)
    assert nonces.add(None, '6' * 64, 1000)
    assert nonces.count(None) == 2
