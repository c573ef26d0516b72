"""The hot path of nova-compute's frequent reads (``session.hot_reader``)
keeps the guarantees of ``core_reader``, on SQLite, PostgreSQL and
MariaDB: oslo.db's error translation, the run again on a lost connection,
the host scope, a read transaction (rolled back, no writer nested in it;
on PostgreSQL, autocommit and read only: nothing to roll back, a write
refused), joining an outer transaction (``test_hot_path``'s nested
call)."""

import logging

from oslo_db import exception as db_exc
import pytest
import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy import exception
from nova_proxy.db import api
from nova_proxy.db import models
from nova_proxy.db import session as db_session
from tests.unit.db import test_hot_path as hot
from tests.unit.db import test_lost_connections as lost

_HOT_READS = ('instance_get_by_uuid', 'instance_get',
              'instance_get_all_by_host', 'instance_get_all_by_host_and_node',
              'instance_get_all_by_filters_sort',
              'compute_node_get_all_by_host',
              'migration_get_in_progress_and_error_by_host_and_node',
              'block_device_mapping_get_all_by_instance_uuids')
_TRACKER_JOINS = ['system_metadata', 'extra', 'extra.flavor',
                  'extra.numa_topology']


def _reads(context, instance, scope_host='h1'):
    """One of each hot read, as nova-compute's periodic tasks make them;
    returns what they read."""
    return [
        api.instance_get_by_uuid(context, instance['uuid'],
                                 scope_host=scope_host),
        api.instance_get(context, instance['id'], scope_host=scope_host),
        api.instance_get_all_by_host(context, 'h1', columns_to_join=[]),
        api.instance_get_all_by_host_and_node(
            context, 'h1', 'h1', columns_to_join=_TRACKER_JOINS),
        api.instance_get_all_by_filters_sort(
            context, {'host': 'h1', 'deleted': False}, columns_to_join=[]),
        api.compute_node_get_all_by_host(context, 'h1'),
        api.migration_get_in_progress_and_error_by_host_and_node(
            context, 'h1', 'h1'),
        api.block_device_mapping_get_all_by_instance_uuids(
            context, [instance['uuid']]),
    ]


def _autocommit_reads(url):
    """Whether the hot reads of ``url``'s engine run in autocommit (by
    its DB-API driver, as ``session._hold_connections`` decides)."""
    return sa.engine.make_url(url).get_driver_name() in \
        db_session._AUTOCOMMIT_READERS


def _host(context):
    """``test_hot_path``'s host, its instance on the node ``h1``."""
    service, node, instance, action = hot._host(context)
    instance = api.instance_update(context, instance['uuid'],
                                   {'node': 'h1'})
    return service, node, instance, action


def test_hot_readers_are_the_hot_ones():
    for name in _HOT_READS:
        assert hot.is_hot(getattr(api, name)), name


def test_the_frequent_reads_take_no_connection_from_the_pool(db_all):
    context = np_context.get_admin_context()
    _service, _node, instance, _action = _host(context)
    first = _reads(context, instance)
    seen = hot._checkouts(db_session.get_engine())
    for _ in range(3):
        assert _reads(context, instance) == first
    assert seen == []
    assert first[0]['uuid'] == instance['uuid']
    assert [i['uuid'] for i in first[3]] == [instance['uuid']]
    assert first[3][0]['extra']['instance_uuid'] == instance['uuid']


def test_hot_reads_after_the_connections_were_killed(db_all, caplog):
    """Every connection the database had, the held ones among them, is
    killed between two reads: the next read succeeds, run again on a new
    connection."""
    if hot._backend(db_all) == 'sqlite':
        pytest.skip('a SQLite file has no connection to lose')
    context = np_context.get_admin_context()
    _service, _node, instance, _action = _host(context)
    before = _reads(context, instance)
    assert lost._drop(db_all), 'no connection to kill'
    caplog.set_level(logging.INFO, logger=db_session.__name__)
    assert api.instance_get_by_uuid(
        context, instance['uuid'], scope_host='h1') == before[0]
    assert 'running it again on a new connection' in caplog.text
    assert _reads(context, instance) == before


def test_scope_misses_on_the_hot_reads(db_all, admin_context):
    _service, _node, instance, _action = _host(admin_context)
    with pytest.raises(exception.HostScopeViolation):
        api.instance_get_by_uuid(admin_context, instance['uuid'],
                                 scope_host='h2')
    with pytest.raises(exception.HostScopeViolation):
        api.instance_get(admin_context, instance['id'], scope_host='h2')
    with pytest.raises(exception.HostScopeViolation):
        api.block_device_mapping_get_all_by_instance_uuids(
            admin_context, [instance['uuid']], scope_host='h2')
    with pytest.raises(exception.InstanceNotFound):
        api.instance_get_by_uuid(admin_context,
                                 '00000000-0000-4000-8000-000000000000',
                                 scope_host='h1')


def _not_supported(context, service):
    context.connection.exec_driver_sql(
        'SELECT count(*) FROM instances FOR UPDATE')


def test_errors_are_translated_on_the_hot_reads(db_all, admin_context):
    """A driver's error is oslo.db's named one (a duplicate key:
    DBDuplicateEntry; where hot reads are read only, PostgreSQL, a
    statement it does not support: DBNotSupportedError), and the held
    connection it came from is left usable."""
    service, _node, instance, _action = _host(admin_context)
    failing, error = hot.insert_twice, db_exc.DBDuplicateEntry
    if _autocommit_reads(db_all):
        failing, error = _not_supported, db_exc.DBNotSupportedError

    for _ in range(3):
        with pytest.raises(error):
            db_session.hot_reader(failing)(admin_context, service)
    assert api.instance_get_by_uuid(
        admin_context, instance['uuid'])['uuid'] == instance['uuid']


def test_a_hot_read_is_a_read_transaction(db_all, admin_context):
    """What it would write is rolled back at its end (refused where hot
    reads run outside a transaction: PostgreSQL's are read only), and a
    writer nested in it is refused, as in enginefacade's reader."""
    _service, _node, instance, _action = _host(admin_context)
    table = models.Instance.__table__

    @db_session.hot_reader
    def writes_by_hand(context):
        context.connection.execute(sa.update(table).where(
            table.c.uuid == instance['uuid']).values(progress=42))
        return api.instance_get_by_uuid(context, instance['uuid'])

    if _autocommit_reads(db_all):
        with pytest.raises(db_exc.DBError, match='read-only transaction'):
            writes_by_hand(admin_context)
    else:
        assert writes_by_hand(admin_context)['progress'] == 42
    assert api.instance_get_by_uuid(admin_context,
                                    instance['uuid'])['progress'] == 0

    @db_session.hot_reader
    def nested_write(context):
        api.instance_update(context, instance['uuid'], {'progress': 5})

    with pytest.raises(TypeError):
        nested_write(admin_context)
    assert api.instance_get_by_uuid(admin_context,
                                    instance['uuid'])['progress'] == 0


def _autocommit_only(url):
    if not _autocommit_reads(url):
        pytest.skip('hot reads run in a read transaction on %s'
                    % hot._backend(url))


def test_hot_reads_send_no_begin_nor_rollback(db_all, admin_context):
    """On PostgreSQL a hot read is its statements alone: its connection
    is left idle, in no transaction, its last statement the read's own
    (a read transaction would have ended with a ROLLBACK)."""
    _autocommit_only(db_all)
    _service, _node, instance, _action = _host(admin_context)
    _reads(admin_context, instance)
    connection, token = db_session._held_readers.take()
    backend_pid = connection.connection.dbapi_connection.get_backend_pid()
    db_session._held_readers.give_back(connection, token)
    reads = [
        lambda: api.instance_get_by_uuid(admin_context, instance['uuid']),
        lambda: api.instance_get_all_by_host_and_node(
            admin_context, 'h1', 'h1', columns_to_join=_TRACKER_JOINS)[0],
        lambda: api.compute_node_get_all_by_host(admin_context, 'h1')[0]]
    with db_session.get_engine().connect() as watcher:
        for read in reads:
            assert read()['host'] == 'h1'
            state, in_transaction, query = watcher.execute(sa.text(
                'SELECT state, xact_start IS NOT NULL, query '
                'FROM pg_stat_activity WHERE pid = :pid'),
                {'pid': backend_pid}).one()
            assert (state, in_transaction) == ('idle', False)
            assert query.lstrip().upper().startswith('SELECT'), query


def test_readers_and_writers_hold_at_most_the_pool_size_together(
        db_all, admin_context):
    _autocommit_only(db_all)
    _host(admin_context)
    engine = db_session.get_engine()
    writers, readers = db_session._held_connections, \
        db_session._held_readers
    assert readers is not writers
    taken = [(held, held.take()) for held in (writers, readers)
             for _ in range(engine.pool.size() + 2)]
    for held, (connection, token) in taken:
        held.give_back(connection, token)
    assert engine.pool.checkedout() == engine.pool.size()
    db_session.dispose()
    assert engine.pool.checkedout() == 0


def test_a_readers_connection_back_in_the_pool_writes_again(
        db_all, admin_context):
    """The autocommit and read only of a hot read's connection end when
    it goes back to the pool: the next transaction on it writes, and
    rolls back."""
    _autocommit_only(db_all)
    _host(admin_context)
    engine = db_session.get_engine()
    readers = db_session._held_readers
    connection, _token = readers.take()
    dbapi = connection.connection.dbapi_connection
    assert (dbapi.autocommit, dbapi.readonly) == (True, True)
    connection.close()
    with engine.connect() as again:
        assert again.connection.dbapi_connection is dbapi
        assert (dbapi.autocommit, dbapi.readonly) == (False, False)
        again.execute(sa.update(models.Instance.__table__).values(
            progress=7))
        assert again.exec_driver_sql(
            'SHOW transaction_read_only').scalar() == 'off'
        again.rollback()
    assert api.instance_get_all_by_host(
        admin_context, 'h1', columns_to_join=[])[0]['progress'] == 0


def test_autocommit_reads_can_be_turned_off(db_all, admin_context):
    """``[database] autocommit_reads = false`` (behind a transaction-mode
    pooler): the hot reads share the writers' held connections and run in
    read transactions again, with nothing of autocommit or read only on
    them."""
    _autocommit_only(db_all)
    from nova_proxy import conf
    conf.CONF.set_override('autocommit_reads', False, group='database')
    db_session.dispose()
    _service, _node, instance, _action = _host(admin_context)
    assert db_session._held_readers is db_session._held_connections
    first = _reads(admin_context, instance)
    assert _reads(admin_context, instance) == first
    connection, token = db_session._held_readers.take()
    dbapi = connection.connection.dbapi_connection
    # psycopg2's readonly: None when never set, False once set back.
    assert dbapi.autocommit is False and not dbapi.readonly
    db_session._held_readers.give_back(connection, token)
