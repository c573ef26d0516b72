"""A signed call's nonce riding with the call's write
(``nonces.RidingNonce``): on PostgreSQL, one query for the two; the
guarantees of a nonce recorded by itself kept whatever happens to the
write (a replay, a failed write, a lost answer, a write that cannot carry
it, no write at all)."""

import logging

from oslo_db import exception as db_exc
import pytest
import sqlalchemy as sa

from nova_proxy.db import _driver
from nova_proxy.db import api
from nova_proxy import exception
from nova_proxy.db import nonces
from nova_proxy.db import session as db_session
from tests.unit.db import test_lost_connections as lost_connections


class Replayed(Exception):
    pass


def _refuse():
    raise Replayed()


def _ride(digest):
    return nonces.SharedNonces(60).ride(digest, 1000, 0, _refuse)


def _call(digest, fn, *args, **kwargs):
    """``fn`` as an endpoint marked ``nonce_with_write`` runs it."""
    riding = _ride(digest)
    assert riding is not None
    try:
        return fn(*args, **kwargs)
    finally:
        riding.finish()


@pytest.fixture(autouse=True)
def nothing_left_riding():
    yield
    assert _driver.riding() is None


@pytest.fixture
def riding_db(db_all):
    db_session.get_engine()
    if not db_session.statements_can_ride():
        pytest.skip('a statement rides with another on PostgreSQL only')
    return db_all


@pytest.fixture
def statements():
    engine = db_session.get_engine()
    seen = []

    def record(conn, cursor, statement, *args):
        statement = ' '.join(statement.split())
        # The purge of expired nonces is not the call's.
        if not statement.startswith('DELETE FROM signed_call_nonces'):
            seen.append(statement)
    sa.event.listen(engine, 'before_cursor_execute', record)
    yield seen
    sa.event.remove(engine, 'before_cursor_execute', record)


@pytest.fixture
def service(admin_context):
    return api.service_create(admin_context, {
        'host': 'h1', 'binary': 'nova-compute', 'topic': 'compute'})


def _heartbeat(context, service, count):
    return api.service_update(context, service['id'],
                              {'report_count': count}, scope_host='h1')


def _recorded(digest):
    """Whether ``digest`` is recorded (recording it if not)."""
    return not nonces.add(None, digest, 1000)


def test_elsewhere_a_nonce_is_recorded_by_itself(db_all):
    db_session.get_engine()
    riding = _ride('0' * 64)
    if sa.engine.make_url(db_all).get_backend_name() == 'postgresql':
        assert riding is not None
        riding.finish()
    else:
        assert riding is None


def test_the_nonce_rides_in_the_heartbeats_own_query(
        riding_db, admin_context, service, statements):
    updated = _call('a' * 64, _heartbeat, admin_context, service, 1)
    assert updated['report_count'] == 1
    assert len(statements) == 1
    insert, _, update = statements[0].partition('; ')
    assert insert.startswith('INSERT INTO signed_call_nonces')
    assert update.startswith('UPDATE services')
    assert _recorded('a' * 64)


def test_a_replay_is_refused_and_writes_nothing(
        riding_db, admin_context, service, statements):
    _call('b' * 64, _heartbeat, admin_context, service, 1)
    statements.clear()
    with pytest.raises(Replayed):
        _call('b' * 64, _heartbeat, admin_context, service, 7)
    # Refused by its own query's failure, in one round trip.
    assert len(statements) == 1 and '; UPDATE services' in statements[0]
    assert api.service_get(admin_context,
                           service['id'])['report_count'] == 1


def test_a_write_that_fails_has_its_nonce_recorded_all_the_same(
        riding_db, admin_context, service, statements):
    other = api.service_create(admin_context, {
        'host': 'h2', 'binary': 'nova-compute', 'topic': 'compute'})
    statements.clear()
    with pytest.raises(exception.Conflict):
        # h1's binary is taken: the UPDATE fails, the INSERT with it.
        _call('c' * 64, api.service_update, admin_context, other['id'],
              {'host': 'h1'})
    assert [s.split()[0] for s in statements] == ['INSERT', 'INSERT']
    assert '; UPDATE services' in statements[0]
    assert '; ' not in statements[1]
    with pytest.raises(Replayed):
        _call('c' * 64, _heartbeat, admin_context, service, 3)


def test_a_lost_answer_serves_the_call_once(
        riding_db, admin_context, service, statements, caplog):
    """The query committed, its answer lost: run again, its nonce goes
    in by itself first and finds its own row (the call's token), then the
    heartbeat runs again unchanged; a replay after it is refused."""
    engine = db_session.get_engine()
    lost, stop = lost_connections._lose_the_next_insert_answer(
        riding_db, engine)
    try:
        updated = _call('d' * 64, _heartbeat, admin_context, service, 4)
    finally:
        stop()
    assert len(lost) == 1
    assert updated['report_count'] == 4
    assert [s.split()[0] for s in statements] == [
        'INSERT', 'INSERT', 'SELECT', 'UPDATE']
    with pytest.raises(Replayed):
        _call('d' * 64, _heartbeat, admin_context, service, 5)
    assert api.service_get(admin_context,
                           service['id'])['report_count'] == 4


def test_a_replay_whose_connection_is_lost_is_refused(
        riding_db, admin_context, service):
    """Its query never reached the server: run again, its nonce goes in
    by itself and finds another call's row."""
    _call('e' * 64, _heartbeat, admin_context, service, 1)
    engine = db_session.get_engine()
    lost = []

    def lose(conn, cursor, statement, *args):
        if not lost and '; UPDATE services' in statement:
            lost.append(lost_connections._backend_id(
                conn.connection.dbapi_connection))
            lost_connections._drop(riding_db, lost)
    sa.event.listen(engine, 'before_cursor_execute', lose)
    try:
        with pytest.raises(Replayed):
            _call('e' * 64, _heartbeat, admin_context, service, 9)
    finally:
        sa.event.remove(engine, 'before_cursor_execute', lose)
    assert len(lost) == 1
    assert api.service_get(admin_context,
                           service['id'])['report_count'] == 1


def test_a_write_in_a_transaction_has_its_nonce_recorded_first(
        riding_db, admin_context, service, statements):
    # A compute's change of its version reads the stored one first,
    # locked: not a write of one statement.
    _call('f' * 64, api.service_update, admin_context, service['id'],
          {'version': 70}, scope_host='h1')
    assert statements[0].startswith('INSERT INTO signed_call_nonces')
    assert not any('; ' in s for s in statements)
    assert any(s.startswith('UPDATE services') for s in statements[1:])
    assert _recorded('f' * 64)


def test_a_call_that_writes_nothing_has_its_nonce_recorded_at_its_end(
        riding_db, admin_context, statements):
    with pytest.raises(exception.ServiceNotFound):
        _call('9' * 64, api.service_update, admin_context, True,
              {'report_count': 1}, scope_host='h1')
    assert len(statements) == 1
    assert statements[0].startswith('INSERT INTO signed_call_nonces')
    assert _recorded('9' * 64)


def test_a_read_first_has_the_nonce_recorded_before_it(
        riding_db, admin_context, service, statements):
    riding = _ride('8' * 64)
    try:
        api.service_get(admin_context, service['id'])
        _heartbeat(admin_context, service, 2)
    finally:
        riding.finish()
    assert statements[0].startswith('INSERT INTO signed_call_nonces')
    assert not any('; ' in s for s in statements)
    assert statements[-1].startswith('UPDATE services')
    assert _recorded('8' * 64)


def _lose_the_first_settle(monkeypatch):
    """The first INSERT of a nonce by itself raises as a lost connection
    does, before it reaches the server."""
    real = nonces._add_alone
    lost = []

    def add_alone(params):
        if not lost:
            lost.append(params['digest'])
            raise db_exc.DBConnectionError('lost during the nonce INSERT')
        return real(params)
    monkeypatch.setattr(nonces, '_add_alone', add_alone)
    return lost


@pytest.mark.parametrize('replay', [False, True])
def test_a_nonce_lost_inside_the_calls_transaction_is_settled_on_its_rerun(
        riding_db, admin_context, service, monkeypatch, replay):
    """Where a write cannot carry the nonce (here: SQLAlchemy runs every
    statement, as with ``[database] connection_debug``), the nonce goes
    in by itself from inside the call's transaction; lost there, the
    transaction runs again, and the nonce is settled by its token before
    the write: a replay is refused, and a call's own nonce is kept."""
    monkeypatch.setattr(_driver, '_runs_itself', lambda *a, **k: False)
    if replay:
        _call('1' * 64, _heartbeat, admin_context, service, 1)
    lost = _lose_the_first_settle(monkeypatch)
    if replay:
        with pytest.raises(Replayed):
            _call('1' * 64, _heartbeat, admin_context, service, 7)
        assert api.service_get(admin_context,
                               service['id'])['report_count'] == 1
    else:
        assert _call('2' * 64, _heartbeat, admin_context, service,
                     3)['report_count'] == 3
        assert _recorded('2' * 64)
    assert lost


def test_a_write_by_any_other_path_has_the_nonce_recorded_first(
        riding_db, admin_context, service, statements, monkeypatch):
    """A write the driver path does not run (``connection.execute``
    itself): the engine's listener records the nonce before it."""
    monkeypatch.setattr(_driver, 'execute',
                        lambda connection, statement, params=None:
                        connection.execute(statement, params or {}))
    _call('3' * 64, _heartbeat, admin_context, service, 2)
    assert statements[0].startswith('INSERT INTO signed_call_nonces')
    assert statements[1].startswith('UPDATE services')
    assert not any('; ' in s for s in statements)
    assert _recorded('3' * 64)


def test_a_nonce_left_riding_by_a_call_before_is_recorded_not_carried(
        riding_db, admin_context, service, statements, caplog):
    left = _ride('4' * 64)
    caplog.set_level(logging.ERROR, logger=nonces.__name__)
    _call('5' * 64, _heartbeat, admin_context, service, 2)
    assert 'left riding on this thread' in caplog.text
    assert statements[0].startswith('INSERT INTO signed_call_nonces')
    assert '; ' not in statements[0]
    assert '; UPDATE services' in statements[1]
    assert left.state == left.DONE
    assert _recorded('4' * 64) and _recorded('5' * 64)
