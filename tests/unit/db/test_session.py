"""Engines, transactions and the database clock."""

import datetime
import os
import urllib.parse

from oslo_db import exception as db_exc
import sqlalchemy as sa

from nova_proxy.conf import database as conf_database
from nova_proxy.db import api
from nova_proxy.db import guard
from nova_proxy.db import session as db_session
from nova_proxy import exception
from tests import databases


def test_sqlite_is_in_wal_mode(db):
    engine = db_session.get_engine()
    # Every connection of the engine, not just the first one.
    conns = [engine.connect() for _ in range(3)]
    try:
        for conn in conns:
            assert conn.exec_driver_sql(
                'PRAGMA journal_mode').scalar() == 'wal'
            assert conn.exec_driver_sql(
                'PRAGMA busy_timeout').scalar() == \
                db_session.SQLITE_BUSY_TIMEOUT_MS
            assert conn.exec_driver_sql('PRAGMA foreign_keys').scalar() == 1
    finally:
        for conn in conns:
            conn.close()


def test_default_connection_is_sqlite_under_state_path(config):
    # The conftest's CONF.reset() drops set_default()s; put ours back.
    conf_database.register_opts(config)
    db_session.dispose()
    try:
        engine = db_session.get_engine()
        assert engine.dialect.name == 'sqlite'
        assert engine.url.database == os.path.join(config.state_path,
                                                   'nova_proxy.sqlite')
        # The state directory is created on first use.
        with engine.connect() as conn:
            assert conn.exec_driver_sql(
                'PRAGMA journal_mode').scalar() == 'wal'
        assert os.path.exists(engine.url.database)
    finally:
        db_session.dispose()


def test_db_utcnow_is_the_database_clock(db_all):
    engine = db_session.get_engine()
    with engine.connect() as conn:
        value = conn.execute(sa.select(db_session.db_utcnow())).scalar()
    if isinstance(value, str):     # SQLite hands back its text form
        value = datetime.datetime.fromisoformat(value)
    assert value.tzinfo is None
    drift = value - db_session.utcnow()
    assert abs(drift.total_seconds()) < 60


def test_dispose_rebuilds_the_engine(db, admin_context):
    first = db_session.get_engine()
    db_session.dispose()
    assert db_session.get_engine() is not first
    assert api.instance_get_all_by_host(admin_context, 'h') == []


def test_blocked_process_cannot_open_a_transaction(db, admin_context):
    guard.block_db_access('nova-compute-proxy-compute')
    try:
        for call in (lambda: api.instance_get_all_by_host(admin_context,
                                                          'h'),
                     lambda: api.instance_create(admin_context, {}),
                     db_session.get_engine):
            try:
                call()
            except exception.DBNotAllowed as e:
                assert 'nova-compute-proxy-compute' in str(e)
            else:
                raise AssertionError('database access was not blocked')
    finally:
        guard.unblock_db_access()
    assert api.instance_get_all_by_host(admin_context, 'h') == []


def test_sqlite_write_transactions_begin_immediate(db, admin_context):
    """Read-then-write transactions from several threads never fail with
    "database is locked": they take the write lock at BEGIN and wait on
    busy_timeout, instead of failing when their read snapshot goes stale."""
    import threading
    node = api.compute_node_create(admin_context,
                                   {'host': 'h', 'node': 'h', 'vcpus': 4})
    errors = []

    def work():
        for i in range(40):
            try:
                # Reads the row, then writes it: the pattern that fails on
                # a deferred BEGIN under concurrent writers.
                api.compute_node_update(admin_context, node['id'],
                                        {'vcpus_used': i})
            except Exception as e:  # noqa: BLE001 - counted, then asserted
                errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    engine = db_session.get_engine()
    assert list(engine.dispatch.begin)[0] is db_session._sqlite_on_begin


def test_core_writer_joins_an_outer_session_transaction(db_all,
                                                        admin_context):
    """A ``core_writer`` call made inside a ``writer`` transaction runs in
    it: rolled back with it, and not committed on its own."""
    inst = api.instance_create(admin_context, {'host': 'h'})

    @db_session.writer
    def outer(context):
        api.instance_update(context, inst['uuid'], {'task_state': 'x'})
        # Seen inside the transaction...
        assert api.instance_get_by_uuid(context,
                                        inst['uuid'])['task_state'] == 'x'
        raise RuntimeError('roll back')

    try:
        outer(admin_context)
    except RuntimeError:
        pass
    else:
        raise AssertionError('outer did not raise')
    # ...and gone with it.
    assert api.instance_get_by_uuid(admin_context,
                                    inst['uuid'])['task_state'] is None


def test_core_writer_retries_a_deadlock(db, admin_context):
    calls = []

    @db_session.core_writer
    def write(context):
        calls.append(context.connection)
        if len(calls) == 1:
            raise db_exc.DBDeadlock()
        return 'written'

    assert write(admin_context) == 'written'
    assert len(calls) == 2


def test_sqlite_file_connections_are_pooled(db, admin_context):
    """oslo.db would open a new SQLite connection per transaction; ours are
    kept, and a pooled connection still has our PRAGMAs."""
    engine = db_session.get_engine()
    seen = []
    sa.event.listen(engine, 'connect', lambda conn, record: seen.append(1))
    for _ in range(5):
        api.instance_get_all_by_host(admin_context, 'h')
        api.instance_create(admin_context, {'host': 'h'})
    assert len(seen) <= 1
    with engine.connect() as conn:
        assert conn.exec_driver_sql('PRAGMA journal_mode').scalar() == 'wal'
        assert conn.exec_driver_sql('PRAGMA foreign_keys').scalar() == 1
    assert len(api.instance_get_all_by_host(admin_context, 'h')) == 5


def test_pooled_sqlite_connection_begins_every_transaction(db,
                                                           admin_context):
    """A "BEGIN was sent" marker left on a pooled connection's record does
    not make the next transaction skip its BEGIN IMMEDIATE."""
    engine = db_session.get_engine()
    with engine.connect() as conn:
        conn.info['in_transaction'] = True
        record = conn.connection._connection_record
    sent = []
    sa.event.listen(engine, 'before_cursor_execute',
                    lambda conn, cursor, statement, *args:
                    sent.append(statement))
    api.instance_create(admin_context, {'host': 'h'})
    assert 'BEGIN IMMEDIATE' in sent
    assert 'in_transaction' not in record.info


def test_sqlite_pool_falls_back_to_unpooled(db, admin_context, monkeypatch,
                                            caplog):
    """If SQLAlchemy changes how a pool is built, the engine keeps oslo.db's
    unpooled connections and says so, instead of failing to start."""
    def changed(old):
        raise TypeError('unexpected keyword argument')

    db_session.dispose()
    monkeypatch.setattr(db_session, '_queue_pool_like', changed)
    engine = db_session.get_engine()
    assert isinstance(engine.pool, sa.pool.NullPool)
    assert 'SQLite connections stay unpooled' in caplog.text
    assert api.instance_get_all_by_host(admin_context, 'h') == []
    monkeypatch.undo()
    db_session.dispose()


# -- bounded connection attempts and dead connections noticed -------------

def _params(url, config, given=''):
    config.set_override('connection_parameters', given, group='database')
    return dict(urllib.parse.parse_qsl(db_session._liveness_parameters(url)))


def test_postgresql_connections_get_a_connect_timeout_and_keepalives(
        config):
    params = _params('postgresql+psycopg2://u@db/nova', config)
    assert params == {'connect_timeout': '5', 'keepalives': '1',
                      'keepalives_idle': '5', 'keepalives_interval': '1',
                      'keepalives_count': '3', 'tcp_user_timeout': '10000'}


def test_what_the_url_or_connection_parameters_name_wins(config):
    params = _params('postgresql+psycopg2://u@db/nova?connect_timeout=30',
                     config, given='keepalives_idle=60&application_name=x')
    assert 'connect_timeout' not in params
    assert params['keepalives_idle'] == '60'
    assert params['application_name'] == 'x'
    assert params['tcp_user_timeout'] == '10000'


def test_mysql_gets_only_a_connect_timeout(config):
    config.set_override('connect_timeout', 7, group='database')
    assert _params('mysql+pymysql://u@db/nova', config) == {
        'connect_timeout': '7'}


def test_zero_leaves_the_drivers_and_kernels_defaults(config):
    config.set_override('connect_timeout', 0, group='database')
    config.set_override('dead_connection_timeout', 0, group='database')
    assert _params('postgresql+psycopg2://u@db/nova', config) == {}


def test_sqlite_gets_nothing(config):
    assert _params('sqlite:////tmp/x.sqlite', config) == {}


def test_a_postgresql_connection_carries_the_parameters(config, tmp_path):
    url = databases.create_database('postgresql', tmp_path)
    try:
        config.set_override('connection', url, group='database')
        db_session.reset_for_tests()
        with db_session.get_engine().connect() as conn:
            dsn = conn.connection.dbapi_connection.dsn
        assert 'connect_timeout=5' in dsn
        assert 'keepalives_idle=5' in dsn
        assert 'tcp_user_timeout=10000' in dsn
    finally:
        db_session.reset_for_tests()
        databases.drop_database(url)
