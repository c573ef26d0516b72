"""Connections the database dropped while pooled or in use, on the
database servers (PostgreSQL, MariaDB): a SQLite file is never dropped.

The engine does not ping a connection before each use
(``session._no_ping_at_checkout``); a transaction whose connection is
found dead before it commits runs once more on a new one
(``session._run_once_more_if_lost``), and one cut off during its commit
is not run again.
"""

import logging

import pytest
import sqlalchemy as sa

from nova_proxy.db import api
from nova_proxy.db import models
from nova_proxy.db import session as db_session


@pytest.fixture
def server_db(db_all):
    if sa.engine.make_url(db_all).get_backend_name() == 'sqlite':
        pytest.skip('a SQLite file has no connection to lose')
    return db_all


def _own_id(connection):
    if connection.dialect.name == 'postgresql':
        return connection.exec_driver_sql('SELECT pg_backend_pid()').scalar()
    return connection.exec_driver_sql('SELECT CONNECTION_ID()').scalar()


def _drop(url, ids=None):
    """Have the server drop the connections ``ids`` to the test database
    (all of them when None), and wait until they are gone."""
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            own = _own_id(conn)
            if conn.dialect.name == 'postgresql':
                found = conn.exec_driver_sql(
                    'SELECT pid FROM pg_stat_activity '
                    'WHERE datname = current_database()').scalars().all()
            else:
                found = conn.exec_driver_sql(
                    'SELECT id FROM information_schema.processlist '
                    'WHERE db = DATABASE()').scalars().all()
            targets = [i for i in found
                       if i != own and (ids is None or i in ids)]
            for target in targets:
                if conn.dialect.name == 'postgresql':
                    # Waits (up to 5 s) until the backend is gone.
                    conn.exec_driver_sql(
                        'SELECT pg_terminate_backend(%d, 5000)' % target)
                else:
                    conn.exec_driver_sql('KILL CONNECTION %d' % target)
            return targets
    finally:
        admin.dispose()


def test_no_ping_before_each_transaction(server_db, admin_context,
                                         monkeypatch):
    engine = db_session.get_engine()
    pings = []
    original = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, 'do_ping',
                        lambda conn: pings.append(1) or original(conn))
    inst = api.instance_create(admin_context, {'host': 'h'})
    for n in range(5):
        api.instance_update(admin_context, inst['uuid'], {'progress': n})
    assert pings == []


def test_connections_dropped_while_pooled_are_replaced_unseen(
        server_db, admin_context, caplog):
    inst = api.instance_create(admin_context, {'host': 'h'})
    assert _drop(server_db), 'the pool held no connection to drop'
    caplog.set_level(logging.INFO, logger=db_session.__name__)
    updated = api.instance_update(admin_context, inst['uuid'],
                                  {'progress': 5,
                                   'expected_task_state': None})
    assert updated['progress'] == 5
    assert 'running it again on a new connection' in caplog.text
    # Reads too, and every connection pooled before the loss was replaced.
    _drop(server_db)
    assert api.instance_get_by_uuid(admin_context,
                                    inst['uuid'])['progress'] == 5
    assert api.instance_get_by_uuid(admin_context,
                                    inst['uuid'])['progress'] == 5


@pytest.mark.parametrize('decorator', ['core_writer', 'hot_writer'])
def test_a_transaction_lost_before_its_commit_runs_again_whole(
        server_db, admin_context, decorator):
    inst = api.instance_create(admin_context, {'host': 'h', 'progress': 0})
    runs = []

    @getattr(db_session, decorator)
    def write(context):
        runs.append(1)
        connection = context.connection
        connection.execute(sa.update(models.Instance.__table__).where(
            models.Instance.uuid == inst['uuid']).values(
                progress=models.Instance.progress + 1))
        if len(runs) == 1:
            _drop(server_db, [_own_id(connection)])
        # Fails on the first run: the connection is gone.
        connection.execute(sa.update(models.Instance.__table__).where(
            models.Instance.uuid == inst['uuid']).values(
                progress=models.Instance.progress + 10))

    write(admin_context)
    assert len(runs) == 2
    # The first run's increment went with its connection: 0 + 1 + 10.
    assert api.instance_get_by_uuid(admin_context,
                                    inst['uuid'])['progress'] == 11


def test_a_transaction_lost_during_its_commit_is_not_run_again(
        server_db, admin_context):
    inst = api.instance_create(admin_context, {'host': 'h'})
    engine = db_session.get_engine()
    runs = []

    @db_session.core_writer
    def write(context):
        runs.append(_own_id(context.connection))
        context.connection.execute(
            sa.update(models.Instance.__table__).where(
                models.Instance.uuid == inst['uuid']).values(progress=42))

    def drop_before_commit(conn):
        _drop(server_db, runs[-1:])

    sa.event.listen(engine, 'commit', drop_before_commit)
    try:
        with pytest.raises(Exception) as error:
            write(admin_context)
    finally:
        sa.event.remove(engine, 'commit', drop_before_commit)
    from nova_proxy.common import db_errors
    assert db_errors.is_database_unavailable(error.value), error.value
    # Its outcome is unknown to the caller, so it was not repeated; here
    # the server never saw the COMMIT.
    assert len(runs) == 1
    assert api.instance_get_by_uuid(admin_context,
                                    inst['uuid'])['progress'] is None


def test_a_nested_transaction_is_run_again_by_the_outer_one(
        server_db, admin_context):
    inst = api.instance_create(admin_context, {'host': 'h'})
    outer_runs, inner_runs = [], []

    @db_session.core_writer
    def inner(context):
        inner_runs.append(1)
        if len(inner_runs) == 1:
            _drop(server_db, [_own_id(context.connection)])
        return api.instance_update(context, inst['uuid'],
                                   {'progress': len(inner_runs)})

    @db_session.writer
    def outer(context):
        outer_runs.append(1)
        return inner(context)

    assert outer(admin_context)['progress'] == 2
    # The inner transaction is part of the outer one: the outer one ran
    # again, the inner one never on its own.
    assert (len(outer_runs), len(inner_runs)) == (2, 2)


def _backend_id(dbapi_connection):
    """The server's id of a driver's connection, without a statement."""
    if hasattr(dbapi_connection, 'info') and \
            hasattr(dbapi_connection.info, 'backend_pid'):
        return dbapi_connection.info.backend_pid
    return dbapi_connection.thread_id()


def _lost_reply_error(engine):
    """The error the driver raises when the connection goes while it
    waits for a statement's answer."""
    if engine.dialect.name == 'postgresql':
        return engine.dialect.loaded_dbapi.OperationalError(
            'server closed the connection unexpectedly')
    return engine.dialect.loaded_dbapi.OperationalError(
        2013, 'Lost connection to server during query')


def _lose_the_next_insert_answer(server_db, engine, kind='INSERT'):
    """A listener that, once, lets an INSERT (a statement of ``kind``)
    run, has the server drop its connection, then fails the statement as
    a driver does whose answer never came: the INSERT committed or not,
    as the server left it."""
    lost = []

    def lose(conn, cursor, statement, parameters, context, executemany):
        if lost or not statement.lstrip().upper().startswith(kind):
            return
        lost.append(_backend_id(conn.connection.dbapi_connection))
        _drop(server_db, lost)
        raise _lost_reply_error(engine)
    sa.event.listen(engine, 'after_cursor_execute', lose)
    return lost, lambda: sa.event.remove(engine, 'after_cursor_execute',
                                         lose)


def test_a_nonce_whose_insert_answer_is_lost_is_still_its_calls(
        server_db, caplog):
    """On PostgreSQL the nonce's INSERT commits as it runs: run again on
    a new connection, it finds its own row (by its call's token) and the
    call is served once; a replay after it is refused. On MariaDB the
    INSERT was in a transaction the server rolled back."""
    from nova_proxy.db import nonces
    engine = db_session.get_engine()
    assert nonces.add(None, 'a' * 64, 1000)
    lost, stop = _lose_the_next_insert_answer(server_db, engine)
    caplog.set_level(logging.INFO, logger=db_session.__name__)
    statements = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement.split()[0].upper())
    sa.event.listen(engine, 'before_cursor_execute', seen)
    try:
        assert nonces.add(None, 'b' * 64, 1000)
    finally:
        stop()
        sa.event.remove(engine, 'before_cursor_execute', seen)
    assert len(lost) == 1
    assert 'running it again on a new connection' in caplog.text
    if engine.dialect.name == 'postgresql':
        # The first INSERT had committed: the second found the row and
        # read whose it was.
        assert statements == ['INSERT', 'INSERT', 'SELECT']
    else:
        assert statements == ['INSERT', 'INSERT']
    assert nonces.count(None) == 2
    assert not nonces.add(None, 'b' * 64, 1000)


def test_a_replay_whose_insert_answer_is_lost_is_refused(server_db):
    """Run again after the lost answer, the INSERT finds a row another
    call's token wrote: a replay, refused as without the loss."""
    from nova_proxy.db import nonces
    engine = db_session.get_engine()
    assert nonces.add(None, 'c' * 64, 1000)
    lost, stop = _lose_the_next_insert_answer(server_db, engine)
    try:
        assert not nonces.add(None, 'c' * 64, 1000)
    finally:
        stop()
    assert len(lost) == 1


def test_a_held_connection_the_driver_closed_is_replaced(server_db, caplog):
    """A held connection whose driver connection was closed under it
    (the driver raises when it is switched to autocommit, on PostgreSQL,
    or at its first statement): the nonce goes in on a new connection."""
    from nova_proxy.db import nonces
    assert nonces.add(None, 'd' * 64, 1000)
    idle = list(db_session._held_connections._idle)
    assert idle
    for connection, _since in idle:
        connection.connection.dbapi_connection.close()
    caplog.set_level(logging.INFO, logger=db_session.__name__)
    assert nonces.add(None, 'e' * 64, 1000)
    assert 'running it again on a new connection' in caplog.text
    # And the closed ones were dropped, not kept for the next calls.
    caplog.clear()
    for digest in 'fgh':
        assert nonces.add(None, digest * 64, 1000)
    assert 'running it again' not in caplog.text
    assert nonces.count(None) == 5


def test_a_heartbeat_whose_answer_is_lost_runs_again_unchanged(
        server_db, admin_context, caplog):
    """nova's heartbeat (``service_update`` of ``report_count``) commits
    as it runs on PostgreSQL: run again after its answer was lost, it
    sets the same count, and ``last_seen_up`` stays as the run that
    committed set it. On MariaDB its transaction was rolled back, and the
    second run is the one that counts."""
    engine = db_session.get_engine()
    service = api.service_create(admin_context, {
        'host': 'h1', 'binary': 'nova-compute', 'topic': 'compute'})
    api.service_update(admin_context, service['id'], {'report_count': 1},
                       scope_host='h1')
    lost, stop = _lose_the_next_insert_answer(server_db, engine, 'UPDATE')
    caplog.set_level(logging.INFO, logger=db_session.__name__)
    seen = []

    def last_seen(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith('UPDATE'):
            seen.append(_last_seen_up(server_db, service['id']))
    sa.event.listen(engine, 'before_cursor_execute', last_seen)
    try:
        updated = api.service_update(admin_context, service['id'],
                                     {'report_count': 2}, scope_host='h1')
    finally:
        stop()
        sa.event.remove(engine, 'before_cursor_execute', last_seen)
    assert len(lost) == 1
    assert 'running it again on a new connection' in caplog.text
    assert updated['report_count'] == 2
    stored = _last_seen_up(server_db, service['id'])
    if engine.dialect.name == 'postgresql':
        # Committed by the first run: the second one found the count it
        # had set and left the time alone.
        assert len(seen) == 2 and seen[1] == stored != seen[0]
    else:
        assert seen[0] == seen[1] != stored


def _last_seen_up(url, service_id):
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            return conn.execute(sa.select(
                models.Service.__table__.c.last_seen_up).where(
                models.Service.__table__.c.id == service_id)).scalar()
    finally:
        admin.dispose()


def test_a_nonce_whose_connection_cannot_be_opened_is_run_once_more(
        server_db, caplog, monkeypatch):
    """No held connection, and the first connection attempt fails: the
    INSERT runs once more on a new connection, as a transaction whose
    connection was lost would, and the call is served."""
    from oslo_db import exception as db_exc
    from nova_proxy.db import nonces
    assert nonces.add(None, 'j' * 64, 1000)
    # A new engine, as after a restart: no connection held yet.
    db_session.dispose()
    engine = db_session.get_engine()
    original = engine.connect
    failed = []

    def connect():
        if not failed:
            failed.append(True)
            raise db_exc.DBConnectionError('connection refused')
        return original()
    monkeypatch.setattr(engine, 'connect', connect)
    caplog.set_level(logging.INFO, logger=db_session.__name__)
    assert nonces.add(None, 'k' * 64, 1000)
    assert failed == [True]
    assert caplog.text.count('running it again on a new connection') == 1
    assert nonces.count(None) == 2


def test_a_nonce_whose_connections_are_all_lost_runs_twice_in_all(
        server_db, caplog):
    """Every INSERT loses its connection: the nonce's statement runs
    twice in all, as any transaction, logged once, and the caller gets
    the database's unavailability."""
    from nova_proxy.common import db_errors
    from nova_proxy.db import nonces
    engine = db_session.get_engine()
    assert nonces.add(None, 'm' * 64, 1000)
    lost = []

    def lose(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith('INSERT'):
            lost.append(_backend_id(conn.connection.dbapi_connection))
            _drop(server_db, lost[-1:])
            raise _lost_reply_error(engine)
    sa.event.listen(engine, 'after_cursor_execute', lose)
    caplog.set_level(logging.INFO, logger=db_session.__name__)
    try:
        with pytest.raises(Exception) as raised:
            nonces.add(None, 'n' * 64, 1000)
    finally:
        sa.event.remove(engine, 'after_cursor_execute', lose)
    assert db_errors.is_database_unavailable(raised.value)
    assert len(lost) == 2
    assert caplog.text.count('running it again on a new connection') == 1
