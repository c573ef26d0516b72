"""The hot path of the frequent writes (``session.hot_writer``) keeps the
guarantees of every other transaction, on SQLite, PostgreSQL and MariaDB:
oslo.db's error translation, the deadlock retry, the run again on a lost
connection, the host scope, joining and being joined by enginefacade's
transactions."""

import contextlib
import logging
import os

from oslo_db import exception as db_exc
import pytest
import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy import exception
from nova_proxy.db import _held
from nova_proxy.db import api
from nova_proxy.db import models
from nova_proxy.db import session as db_session
from tests.unit.db import test_lost_connections as lost

_HOT = ('instance_update', 'instance_update_and_get_original',
        'instance_update_and_record', 'service_update',
        'service_heartbeat', 'compute_node_update', 'action_event_start',
        'action_event_finish')


@contextlib.contextmanager
def statements_sent(engine):
    """The statements sent to the driver meanwhile, each as its first
    word and whether the driver's connection was in autocommit then
    (psycopg2's; None for the other drivers)."""
    statements = []

    def seen(conn, cursor, statement, *args):
        statements.append((statement.split()[0].upper(), getattr(
            conn.connection.dbapi_connection, 'autocommit', None)))
    sa.event.listen(engine, 'before_cursor_execute', seen)
    try:
        yield statements
    finally:
        sa.event.remove(engine, 'before_cursor_execute', seen)


def _backend(url):
    return sa.engine.make_url(url).get_backend_name()


def _host(context, name='h1'):
    service = api.service_create(context, {
        'host': name, 'binary': 'nova-compute', 'topic': 'compute',
        'report_count': 0})
    node = api.compute_node_create(context, {
        'host': name, 'node': name, 'hypervisor_type': 'fake', 'vcpus': 1,
        'memory_mb': 512, 'local_gb': 1, 'vcpus_used': 0,
        'memory_mb_used': 0, 'local_gb_used': 0})
    instance = api.instance_create(context, {'host': name, 'progress': 0})
    action = api.instance_action_start(context, {
        'instance_uuid': instance['uuid'], 'action': 'create',
        'request_id': 'req-1', 'user_id': 'u', 'project_id': 'p'})
    return service, node, instance, action


def _checkouts(engine):
    seen = []
    sa.event.listen(engine, 'checkout', lambda *args: seen.append(1))
    return seen


def test_the_frequent_writes_take_no_connection_from_the_pool(db_all):
    """What makes them hot: a held connection, no pool checkout per
    call."""
    context = np_context.get_admin_context()
    service, node, instance, _action = _host(context)
    engine = db_session.get_engine()
    api.instance_update(context, instance['uuid'], {'progress': 1})
    seen = _checkouts(engine)
    for n in range(5):
        api.instance_update(context, instance['uuid'], {'progress': n},
                            scope_host='h1')
        api.service_heartbeat(context, service['id'], scope_host='h1')
        api.service_update(context, service['id'],
                           {'report_count': 10 + n}, scope_host='h1')
        api.compute_node_update(context, node['id'], {'vcpus_used': n},
                                scope_host='h1')
        event = {'instance_uuid': instance['uuid'], 'request_id': 'req-1',
                 'event': 'e%d' % n}
        api.action_event_start(context, event, scope_host='h1')
        api.action_event_finish(context, dict(event, result='Success'),
                                scope_host='h1')
    assert seen == []
    assert api.instance_get_by_uuid(context,
                                    instance['uuid'])['progress'] == 4


def is_hot(function):
    """Whether ``function``'s wrapper chain holds ``_hot_scope``'s
    (``hot_writer``, ``hot_reader``)."""
    names = set()
    while function is not None:
        names.add(function.__code__.co_qualname)
        function = getattr(function, '__wrapped__', None)
    return '_hot_scope.<locals>.wrapper' in names


def test_hot_writers_are_the_hot_ones():
    """Each frequent write is wrapped by ``hot_writer``."""
    for name in _HOT:
        assert is_hot(getattr(api, name)), name


def insert_twice(context, service):
    """Insert ``service`` (a service's dict) again: a duplicate key."""
    context.connection.execute(sa.insert(models.Service.__table__).values(
        host='h1', binary='nova-compute', topic='compute', deleted=0,
        uuid=service['uuid'], report_count=0, disabled=False,
        forced_down=False, version=0))


def test_errors_are_translated_on_the_hot_path(db_all, admin_context):
    """A duplicate key is oslo.db's DBDuplicateEntry, which the call
    names: a rename onto another live service is Conflict."""
    service, _node, _instance, _action = _host(admin_context)
    other = api.service_create(admin_context, {
        'host': 'h2', 'binary': 'nova-compute', 'topic': 'compute'})
    with pytest.raises(exception.Conflict):
        api.service_update(admin_context, other['id'], {'host': 'h1'})

    with pytest.raises(db_exc.DBDuplicateEntry):
        db_session.hot_writer(insert_twice)(admin_context, service)
    # And the held connection was left usable.
    assert api.service_heartbeat(admin_context,
                                 service['id'])['report_count'] == 1


def test_errors_are_translated_in_autocommit(db_all, admin_context):
    """``autocommit_writer`` (PostgreSQL: the statement in autocommit)
    raises the same named errors, and leaves its held connection out of
    autocommit for the transactions after it."""
    service, _node, _instance, _action = _host(admin_context)
    engine = db_session.get_engine()
    modes = []

    def mode(conn, *args):
        modes.append(getattr(conn.connection.dbapi_connection,
                             'autocommit', None))
    with pytest.raises(db_exc.DBDuplicateEntry):
        db_session.autocommit_writer(insert_twice)(admin_context, service)
    sa.event.listen(engine, 'before_cursor_execute', mode)
    try:
        with pytest.raises(db_exc.DBDuplicateEntry):
            db_session.autocommit_writer(insert_twice)(admin_context,
                                                       service)
        assert api.service_heartbeat(
            admin_context, service['id'])['report_count'] == 1
    finally:
        sa.event.remove(engine, 'before_cursor_execute', mode)
    if engine.dialect.name == 'postgresql':
        assert modes == [True, False]


def test_a_heartbeat_is_one_statement_in_autocommit(db_all, admin_context):
    """nova's heartbeat (``service_update`` of ``report_count``) commits
    as it runs on PostgreSQL: one statement, no BEGIN nor COMMIT. A
    compute host's change of its version reads the stored one, locked,
    in a transaction."""
    service, _node, _instance, _action = _host(admin_context)
    engine = db_session.get_engine()
    events = []

    def on(name):
        return lambda *args: events.append(name)
    listeners = [('begin', on('begin')), ('commit', on('commit'))]
    api.service_update(admin_context, service['id'], {'report_count': 1},
                       scope_host='h1')
    for name, listener in listeners:
        sa.event.listen(engine, name, listener)
    try:
        with statements_sent(engine) as heartbeat:
            beat = api.service_update(admin_context, service['id'],
                                      {'report_count': 2}, scope_host='h1')
        heartbeat_events = list(events)
        events.clear()
        with statements_sent(engine) as statements:
            api.service_update(admin_context, service['id'],
                               {'version': 70}, scope_host='h1')
    finally:
        for name, listener in listeners:
            sa.event.remove(engine, name, listener)
    assert beat['report_count'] == 2
    # MariaDB has no UPDATE ... RETURNING: the row is read after it.
    read_back = [] if engine.dialect.update_returning else ['SELECT']
    assert [kind for kind, _autocommit in heartbeat
            if kind != 'BEGIN'] == ['UPDATE'] + read_back
    assert [kind for kind, _autocommit in statements
            if kind != 'BEGIN'] == ['SELECT', 'UPDATE'] + read_back
    # SQLAlchemy's transaction is there either way; on PostgreSQL it
    # sends nothing around a statement in autocommit.
    assert events == heartbeat_events == ['begin', 'commit']
    if _backend(db_all) == 'postgresql':
        assert heartbeat == [('UPDATE', True)]
        assert [autocommit for _kind, autocommit in statements] == [
            False, False]
    assert api.service_get(admin_context, service['id'])['version'] == 70


def test_a_resource_update_is_one_statement_in_autocommit(
        db_all, admin_context):
    """The resource tracker's save of its node commits as it runs on
    PostgreSQL; a compute host's rename of its node reads the other
    nodes' names first, in a transaction."""
    _service, node, _instance, _action = _host(admin_context)
    engine = db_session.get_engine()
    with statements_sent(engine) as saved:
        api.compute_node_update(admin_context, node['id'],
                                {'vcpus_used': 3}, scope_host='h1')
    with statements_sent(engine) as statements:
        api.compute_node_update(admin_context, node['id'],
                                {'hypervisor_hostname': 'h1-renamed'},
                                scope_host='h1')
    # ``node`` names the hypervisor too: checked the same way.
    with statements_sent(engine) as by_node:
        api.compute_node_update(admin_context, node['id'],
                                {'node': 'h1-renamed'}, scope_host='h1')
    assert by_node == statements
    read_back = [] if engine.dialect.update_returning else ['SELECT']
    assert [kind for kind, _ in saved if kind != 'BEGIN'] == \
        ['UPDATE'] + read_back
    assert [kind for kind, _ in statements if kind != 'BEGIN'] == \
        ['SELECT', 'UPDATE'] + read_back
    if _backend(db_all) == 'postgresql':
        assert saved == [('UPDATE', True)]
        assert [autocommit for _, autocommit in statements] == [
            False, False]
    node = api.compute_node_get(admin_context, node['id'])
    assert (node['vcpus_used'], node['hypervisor_hostname']) == (
        3, 'h1-renamed')


_DEADLOCK = {
    'postgresql': "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40P01', "
                  "MESSAGE = 'deadlock detected'; END $$",
    'mysql': "SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, "
             "MESSAGE_TEXT = 'Deadlock found when trying to get lock; "
             "try restarting transaction'",
}


def test_a_deadlock_on_the_hot_path_is_retried(db_all, admin_context,
                                               monkeypatch):
    """The database reports a deadlock for the compare-and-swap's UPDATE
    the first time: oslo.db names it DBDeadlock, the whole call runs
    again and succeeds."""
    backend = _backend(db_all)
    _service, _node, instance, _action = _host(admin_context)
    engine = db_session.get_engine()
    updates = []

    def deadlock_once(conn, cursor, statement, parameters, context,
                      executemany):
        if statement.lstrip().startswith('UPDATE instances'):
            updates.append(statement)
            if len(updates) == 1:
                return _DEADLOCK[backend], parameters
        return statement, parameters

    if backend == 'sqlite':
        # SQLite has no deadlock to report: oslo.db's error, raised by
        # the driver's call.
        original = engine.dialect.do_execute

        def do_execute(cursor, statement, parameters, context=None):
            if statement.lstrip().startswith('UPDATE instances'):
                updates.append(statement)
                if len(updates) == 1:
                    raise db_exc.DBDeadlock()
            return original(cursor, statement, parameters, context)
        monkeypatch.setattr(engine.dialect, 'do_execute', do_execute)
    else:
        sa.event.listen(engine, 'before_cursor_execute', deadlock_once,
                        retval=True)
    monkeypatch.setattr(db_session._wrap_deadlock_retry, 'retry_interval',
                        0)
    try:
        updated = api.instance_update(admin_context, instance['uuid'],
                                      {'progress': 7,
                                       'expected_task_state': None},
                                      scope_host='h1')
    finally:
        if backend != 'sqlite':
            sa.event.remove(engine, 'before_cursor_execute', deadlock_once)
    assert updated['progress'] == 7
    assert len(updates) == 2
    assert api.instance_get_by_uuid(admin_context,
                                    instance['uuid'])['progress'] == 7


def test_hot_calls_after_the_connections_were_killed(db_all, admin_context,
                                                     caplog):
    """Every connection the database had, the held ones among them, is
    killed between two calls (a restart): the next call succeeds, run
    again on a new connection, and so do the next ones."""
    if _backend(db_all) == 'sqlite':
        pytest.skip('a SQLite file has no connection to lose')
    service, node, instance, _action = _host(admin_context)
    held = db_session._held_connections
    # Several held connections, as several threads leave them.
    taken = [held.take() for _ in range(3)]
    for connection, token in taken:
        connection.exec_driver_sql('SELECT 1')
        connection.rollback()
        held.give_back(connection, token)
    api.instance_update(admin_context, instance['uuid'], {'progress': 1})
    assert lost._drop(db_all), 'no connection to kill'
    caplog.set_level(logging.INFO, logger=db_session.__name__)
    updated = api.instance_update(admin_context, instance['uuid'],
                                  {'progress': 2,
                                   'expected_task_state': None},
                                  scope_host='h1')
    assert updated['progress'] == 2
    assert 'running it again on a new connection' in caplog.text
    assert api.service_heartbeat(admin_context, service['id'],
                                 scope_host='h1')['report_count'] == 1
    assert api.compute_node_update(admin_context, node['id'],
                                   {'vcpus_used': 1},
                                   scope_host='h1')['vcpus_used'] == 1


def test_scope_misses_on_the_hot_path(db_all, admin_context):
    """A caller confined to another host writes nothing and is told so;
    a row that is not there is not found."""
    service, node, instance, _action = _host(admin_context)
    with pytest.raises(exception.HostScopeViolation):
        api.instance_update(admin_context, instance['uuid'],
                            {'progress': 9}, scope_host='h2')
    with pytest.raises(exception.HostScopeViolation):
        api.instance_update_and_get_original(
            admin_context, instance['uuid'], {'progress': 9},
            scope_host='h2')
    with pytest.raises(exception.HostScopeViolation):
        api.service_heartbeat(admin_context, service['id'],
                              scope_host='h2')
    with pytest.raises(exception.HostScopeViolation):
        api.service_update(admin_context, service['id'],
                           {'report_count': 5}, scope_host='h2')
    with pytest.raises(exception.HostScopeViolation):
        api.compute_node_update(admin_context, node['id'],
                                {'vcpus_used': 1}, scope_host='h2')
    with pytest.raises(exception.HostScopeViolation):
        api.action_event_start(admin_context, {
            'instance_uuid': instance['uuid'], 'request_id': 'req-1',
            'event': 'e'}, scope_host='h2')
    with pytest.raises(exception.InstanceNotFound):
        api.instance_update(admin_context,
                            '00000000-0000-4000-8000-000000000000',
                            {'progress': 9}, scope_host='h1')
    with pytest.raises(exception.ComputeHostNotFound):
        api.compute_node_update(admin_context, node['id'] + 1000,
                                {'vcpus_used': 1}, scope_host='h1')
    assert api.instance_get_by_uuid(admin_context,
                                    instance['uuid'])['progress'] == 0
    assert api.service_get(admin_context, service['id'])[
        'report_count'] == 0
    assert api.compute_node_get(admin_context, node['id'])[
        'vcpus_used'] == 0


def test_a_call_nested_in_a_hot_one_joins_it(db_all, admin_context):
    """A read or a write made inside a hot transaction with its context
    runs in it: it sees its writes, and is rolled back with it."""
    _service, _node, instance, _action = _host(admin_context)

    @db_session.hot_writer
    def write(context):
        api.instance_update(context, instance['uuid'], {'progress': 3})
        seen = api.instance_get_by_uuid(context, instance['uuid'])
        assert seen['progress'] == 3
        # A hot read (``hot_reader``) too.
        assert api.instance_get_all_by_host(
            context, 'h1', columns_to_join=[])[0]['progress'] == 3
        raise RuntimeError('roll back')

    with pytest.raises(RuntimeError):
        write(admin_context)
    assert api.instance_get_by_uuid(admin_context,
                                    instance['uuid'])['progress'] == 0


def test_held_connections_go_back_to_the_pool(db_all, admin_context):
    """At most the pool's size is held, and ``dispose`` gives them back."""
    _service, _node, instance, _action = _host(admin_context)
    api.instance_update(admin_context, instance['uuid'], {'progress': 1})
    engine = db_session.get_engine()
    held = db_session._held_connections
    taken = [held.take() for _ in range(engine.pool.size() + 3)]
    for connection, token in taken:
        held.give_back(connection, token)
    assert engine.pool.checkedout() == engine.pool.size()
    db_session.dispose()
    assert engine.pool.checkedout() == 0


def test_a_fork_never_uses_nor_closes_the_parents_connections(
        db, admin_context, monkeypatch):
    api.instance_create(admin_context, {'host': 'h1'})
    held = db_session._held_connections
    parent, parent_token = held.take()
    held.give_back(parent, parent_token)
    closed = []
    monkeypatch.setattr(parent, 'close', lambda: closed.append(parent))
    parent_pid = os.getpid()
    monkeypatch.setattr(_held.os, 'getpid', lambda: parent_pid + 1)
    child, token = held.take()
    assert child is not parent
    held.give_back(child, token)
    db_session.dispose()
    assert closed == []
    assert child.closed
    monkeypatch.undo()
    _held._abandoned.remove((parent, parent_token))
    parent.close()
