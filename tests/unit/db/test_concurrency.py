"""The compare-and-swap under real concurrency, on every backend.

Threads each with their own context (and so their own session and
connection) race on one instance row.
"""

import threading
import time

import pytest
import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy.db import api
from nova_proxy.db.api import actions
from nova_proxy.db.api import instances
from nova_proxy.db import models
from nova_proxy.db import session as db_session
from nova_proxy import exception

RACERS = 8
INCREMENTERS = 6
INCREMENTS = 8


def _run_threads(count, target):
    errors = []
    barrier = threading.Barrier(count)

    def run(i):
        try:
            barrier.wait(timeout=30)
            target(i)
        except Exception as e:   # reported below, with the thread's index
            errors.append((i, e))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), 'a thread hung'
    assert errors == []


def test_exactly_one_cas_wins(db_all):
    uuid = api.instance_create(np_context.get_admin_context(), {
        'host': 'h1', 'task_state': None, 'vm_state': 'active'})['uuid']
    winners, losers = [], []

    def race(i):
        ctx = np_context.get_admin_context()
        try:
            api.instance_update(ctx, uuid, {
                'task_state': 'racer-%d' % i, 'progress': i,
                'expected_task_state': None,
                'expected_vm_state': 'active'})
        except exception.UnexpectedTaskStateError as e:
            losers.append((i, e.kwargs['actual']))
        else:
            winners.append(i)

    _run_threads(RACERS, race)
    assert len(winners) == 1, (winners, losers)
    winner = winners[0]
    assert len(losers) == RACERS - 1
    final = api.instance_get_by_uuid(np_context.get_admin_context(), uuid)
    assert (final['task_state'], final['progress']) == (
        'racer-%d' % winner, winner)
    # Each loser was told the state that beat it (or, if it read later,
    # a state no racer expected): never its own expectation.
    assert all(actual is not None for _, actual in losers)


def test_cas_retry_loops_lose_no_update(db_all):
    """Each thread increments a counter held in the instance with a
    read / compare-and-swap / retry loop. A lost update would let two
    threads succeed from the same value: the final counter would be below
    the number of successful updates."""
    uuid = api.instance_create(np_context.get_admin_context(), {
        'host': 'h1', 'task_state': 'count-0', 'progress': 0})['uuid']
    successes = []
    conflicts = []

    def increment(i):
        ctx = np_context.get_admin_context()
        for _ in range(INCREMENTS):
            while True:
                current = api.instance_get_by_uuid(ctx, uuid)
                count = current['progress']
                try:
                    api.instance_update(ctx, uuid, {
                        'progress': count + 1,
                        'task_state': 'count-%d' % (count + 1),
                        'expected_task_state': 'count-%d' % count})
                except exception.UnexpectedTaskStateError:
                    conflicts.append(i)
                    continue
                successes.append(count + 1)
                break

    _run_threads(INCREMENTERS, increment)
    final = api.instance_get_by_uuid(np_context.get_admin_context(), uuid)
    total = INCREMENTERS * INCREMENTS
    assert len(successes) == total
    assert final['progress'] == total
    assert final['task_state'] == 'count-%d' % total
    # Every value was produced exactly once.
    assert sorted(successes) == list(range(1, total + 1))


def _blocked_on_a_row_lock(url):
    """Whether a session of this database waits for a lock, where the
    backend tells (PostgreSQL); elsewhere assume it after a moment
    (MariaDB's innodb_trx does not always list a waiting UPDATE)."""
    if sa.engine.make_url(url).get_backend_name() != 'postgresql':
        time.sleep(0.5)
        return True
    with db_session.get_engine().connect() as conn:
        return conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'").scalar() > 0


@pytest.mark.parametrize('call', ['instance_update',
                                  'instance_update_and_get_original'])
def test_a_call_that_waited_returns_the_metadata_written_meanwhile(
        db_all, call):
    """A writer holds the instance's row, changes it and its metadata;
    a call on the same instance waits for it. When the writer commits,
    the call must return the writer's metadata with the writer's row: a
    statement that started before the commit (PostgreSQL re-reads the
    locked row at its new version but evaluates the rest of the
    statement on its older snapshot) must not answer with the old
    metadata."""
    ctx = np_context.get_admin_context()
    instance = api.instance_create(ctx, {'host': 'h1',
                                         'metadata': {'k': 'old'}})
    uuid = instance['uuid']
    results = []
    engine = db_session.get_engine()
    with engine.connect() as writer:
        writer.execute(sa.update(models.Instance.__table__).where(
            models.Instance.uuid == uuid).values(progress=7))
        writer.execute(sa.update(models.InstanceMetadata.__table__).where(
            models.InstanceMetadata.instance_uuid == uuid,
            models.InstanceMetadata.key == 'k').values(value='new'))

        def waiting_call():
            results.append(getattr(api, call)(
                np_context.get_admin_context(), uuid, {'task_state': 'x'}))

        thread = threading.Thread(target=waiting_call)
        thread.start()
        deadline = time.monotonic() + 30
        while not _blocked_on_a_row_lock(db_all):
            assert time.monotonic() < deadline, (
                'the call never waited (returned: %s)' % results)
            time.sleep(0.05)
        writer.commit()
    thread.join(timeout=30)
    assert results, 'the call did not return'
    seen = results[0]
    if call == 'instance_update_and_get_original':
        original, seen = seen
        assert original['progress'] == 7
        assert original['metadata'] == {'k': 'new'}
    assert (seen['progress'], seen['task_state']) == (7, 'x')
    assert seen['metadata'] == {'k': 'new'}


def test_a_deadlock_in_a_nested_transaction_retries_the_outer_one(db_all):
    """Two writers lock two instances in opposite orders, the second lock
    of each taken in a transaction nested in the first (as an
    orchestration step's instance writes run inside its journal write).
    The deadlock the database breaks must retry each writer whole: a
    retry of the nested part alone would run after the database rolled
    back (MariaDB) or aborted (PostgreSQL) the outer transaction, and
    lose or refuse the first write."""
    if sa.engine.make_url(db_all).get_backend_name() == 'sqlite':
        pytest.skip('SQLite writers hold the database lock: no deadlock')
    ctx = np_context.get_admin_context()
    first, second = (api.instance_create(ctx, {'host': 'h', 'progress': 0})
                     ['uuid'] for _ in range(2))
    table = models.Instance.__table__
    barrier = threading.Barrier(2)

    def bump(connection, uuid):
        connection.execute(sa.update(table).where(table.c.uuid == uuid)
                           .values(progress=table.c.progress + 1))

    @db_session.core_writer
    def inner(context, uuid):
        bump(context.connection, uuid)

    @db_session.writer
    def outer(context, uuids, runs):
        runs.append(1)
        bump(context.session.connection(), uuids[0])
        if len(runs) == 1:
            barrier.wait(timeout=30)
        inner(context, uuids[1])

    runs = {0: [], 1: []}
    _run_threads(2, lambda i: outer(
        np_context.get_admin_context(),
        (first, second) if i == 0 else (second, first), runs[i]))
    assert sorted(len(r) for r in runs.values()) == [1, 2], runs
    for uuid in (first, second):
        assert api.instance_get_by_uuid(ctx, uuid)['progress'] == 2


def test_a_confined_destroy_cannot_race_with_a_host_change(
        db_all, monkeypatch):
    """The instance moves to h2 between instance_destroy's scope check
    and its soft delete: h1 must not delete h2's instance."""
    if db_session.get_engine().dialect.name == 'sqlite':
        pytest.skip('SQLite: the write lock serialises the two')
    admin = np_context.get_admin_context()
    uuid = api.instance_create(admin, {'host': 'h1'})['uuid']
    real = instances._one
    moved = []

    def read_then_move(*args, **kwargs):
        instance = real(*args, **kwargs)
        if not moved:
            moved.append(1)
            mover = threading.Thread(target=lambda: api.instance_update(
                admin, uuid, {'host': 'h2'}))
            mover.start()
            mover.join(30)
        return instance

    monkeypatch.setattr(instances, '_one', read_then_move)
    with pytest.raises(exception.HostScopeViolation):
        api.instance_destroy(admin, uuid, scope_host='h1')
    monkeypatch.setattr(instances, '_one', real)
    assert api.instance_get_by_uuid(admin, uuid)['host'] == 'h2'


@pytest.mark.parametrize('values', [{'task_state': 'x'},
                                    {'task_state': 'x',
                                     'metadata': {'k': 'v'}}])
def test_a_scope_ended_while_the_update_waited_is_ended(db_all, values):
    """h2 writes an instance migrating from h1 to h2 while the control
    plane, holding the row, ends the migration (a revert: the instance
    stays on h1). After the wait h2 is out of scope; PostgreSQL re-checks
    the row, but the UPDATE's migration subquery reads its snapshot from
    before the wait."""
    if db_session.get_engine().dialect.name != 'postgresql':
        pytest.skip('MariaDB reads the subquery with locks, SQLite '
                    'serialises: the waiting case is PostgreSQL\'s')
    admin = np_context.get_admin_context()
    uuid = api.instance_create(admin, {'host': 'h1'})['uuid']
    migration = api.migration_create(admin, {
        'instance_uuid': uuid, 'source_compute': 'h1',
        'dest_compute': 'h2', 'status': 'migrating'})
    results = []

    def write():
        try:
            results.append(api.instance_update(admin, uuid, values,
                                               scope_host='h2'))
        except Exception as e:
            results.append(e)

    engine = db_session.get_engine()
    with engine.connect() as control, engine.connect() as watch:
        control.execute(sa.update(models.Instance.__table__).where(
            models.Instance.uuid == uuid).values(host='h1', progress=1))
        control.execute(sa.update(models.Migration.__table__).where(
            models.Migration.id == migration['id']).values(
                status='reverted'))
        writer = threading.Thread(target=write)
        writer.start()
        deadline = time.monotonic() + 30
        while not watch.execute(sa.text(
                'SELECT count(*) FROM pg_locks WHERE NOT granted')).scalar():
            assert time.monotonic() < deadline, 'the write never waited'
            time.sleep(0.02)
        control.commit()
    writer.join(30)
    assert isinstance(results[0], exception.HostScopeViolation), results
    instance = api.instance_get_by_uuid(admin, uuid)
    assert (instance['task_state'], instance['metadata']) == (None, {})


def _record_racing(values, concurrent, monkeypatch, scope_host=None):
    """instance_update_and_record whose fault part runs, then another
    writer updates the instance, then the compare-and-swap runs. Returns
    what the record returned, whether the other writer was still waiting
    when the compare-and-swap ran, and the instance afterwards."""
    if db_session.get_engine().dialect.name == 'sqlite':
        pytest.skip('SQLite: the write lock serialises the two')
    admin = np_context.get_admin_context()
    uuid = api.instance_create(admin, {'host': 'h1',
                                       'metadata': {'k': 'old'}})['uuid']
    real = actions.create_fault
    others = []

    def fault_then_another_writer(connection, values, scope_host):
        result = real(connection, values, scope_host)
        other = threading.Thread(target=lambda: api.instance_update(
            admin, uuid, concurrent))
        other.start()
        other.join(1.0)
        others.append((other, other.is_alive()))
        return result

    monkeypatch.setattr(actions, 'create_fault',
                        fault_then_another_writer)
    got = api.instance_update_and_record(
        admin, uuid, values, fault={'instance_uuid': uuid, 'message': 'm'},
        scope_host=scope_host)
    other, waited = others[0]
    other.join(30)
    assert not other.is_alive()
    return got, waited, api.instance_get_by_uuid(admin, uuid)


def test_a_write_that_read_first_returns_the_metadata_of_its_row(
        db_all, monkeypatch):
    """On MariaDB a transaction's first read used to fix its snapshot
    (REPEATABLE READ): the metadata came back older than the row. The
    record's scope check locks the row now: the other writer waits, and
    the row and metadata returned are of one moment."""
    got, waited, after = _record_racing(
        {'task_state': 'x'}, {'progress': 7, 'metadata': {'k': 'new'}},
        monkeypatch)
    assert waited
    assert (got['progress'], got['task_state'], got['metadata']) == (
        None, 'x', {'k': 'old'})
    assert (after['progress'], after['task_state'], after['metadata']) == (
        7, 'x', {'k': 'new'})


def test_a_write_that_read_first_holds_its_row_until_it_commits(
        db_all, monkeypatch):
    """The compare-and-swap after a confined record sees the row the
    record's scope check locked: a change of another writer comes after
    it, not between."""
    got, waited, after = _record_racing(
        {'expected_task_state': None, 'task_state': 'x'},
        {'task_state': 'other'}, monkeypatch, scope_host='h1')
    assert waited
    assert got['task_state'] == 'x'
    assert after['task_state'] == 'other'
