"""The journal's fencing and takeover compare-and-swap, on every backend."""

import threading

import pytest

from nova_proxy.common import context as np_context
from nova_proxy import exception
from nova_proxy.db import api as db_api
from nova_proxy.orchestration import journal
from nova_proxy.proxy import liveness

UUID = '11111111-2222-3333-4444-555555555555'


def _new(ctx, op_id='op-1', owner='proxy-a', kind='migrate'):
    record, created = journal.create(ctx, op_id, kind, UUID, owner,
                                     params={'flavor': None})
    return record, created


def test_create_is_idempotent_and_conflicts_are_named(db_all,
                                                      admin_context):
    record, created = _new(admin_context)
    assert created
    assert (record['status'], record['epoch'], record['attempts'],
            record['owner'], record['step'], record['progress']) == \
        ('pending', 1, 1, 'proxy-a', None, 0)
    for key in ('id', 'kind', 'instance_uuid', 'error', 'created_at',
                'updated_at'):
        assert key in record
    again, created = _new(admin_context, owner='proxy-b')
    assert not created and again == record
    with pytest.raises(exception.OperationConflict):
        _new(admin_context, kind='build')


def test_failed_prepare_writes_nothing(db_all, admin_context):
    def prepare(context):
        db_api.instance_create(context, {'uuid': UUID})
        raise exception.NoValidHost(reason='test')
    with pytest.raises(exception.NoValidHost):
        journal.create(admin_context, 'op-1', 'build', UUID, 'proxy-a',
                       prepare=prepare)
    assert journal.get_all(admin_context) == []
    with pytest.raises(exception.InstanceNotFound):
        db_api.instance_get_by_uuid(admin_context, UUID)


def test_fenced_write_after_takeover_changes_nothing(db_all, admin_context):
    record, _ = _new(admin_context)
    journal.fenced_write(admin_context, record,
                         {'status': 'running', 'step': 'prep_resize'})
    taken = journal.take(admin_context, record['id'], 'proxy-a', 1,
                         'proxy-b')
    assert (taken['owner'], taken['epoch'], taken['attempts']) == \
        ('proxy-b', 2, 2)
    assert taken['step'] == 'prep_resize'
    db_api.instance_create(admin_context, {'uuid': UUID,
                                           'vm_state': 'active'})

    def instance_write(context):
        db_api.instance_update(context, UUID, {'vm_state': 'error'})

    with pytest.raises(exception.StaleEpoch):
        journal.fenced_write(admin_context, record,
                             {'step': 'finish_resize', 'status': 'failed'},
                             then=instance_write)
    after = journal.get(admin_context, record['id'])
    assert (after['step'], after['status'], after['epoch']) == \
        ('prep_resize', 'running', 2)
    assert db_api.instance_get_by_uuid(admin_context, UUID)['vm_state'] == \
        'active'
    # The new owner's writes go through, with their instance writes.
    journal.fenced_write(admin_context, taken, {'step': 'resize_instance'},
                         then=instance_write)
    assert journal.get(admin_context, record['id'])['step'] == \
        'resize_instance'
    assert db_api.instance_get_by_uuid(admin_context, UUID)['vm_state'] == \
        'error'


def test_failing_then_rolls_back_the_journal_write(db_all, admin_context):
    record, _ = _new(admin_context)

    def then(context):
        raise exception.UnexpectedTaskStateError(
            instance_uuid=UUID, expected=None, actual='x')
    with pytest.raises(exception.UnexpectedTaskStateError):
        journal.fenced_write(admin_context, record, {'step': 'x'},
                             then=then)
    assert journal.get(admin_context, record['id'])['step'] is None


def test_take_needs_the_seen_owner_and_epoch(db_all, admin_context):
    record, _ = _new(admin_context)
    assert journal.take(admin_context, record['id'], 'proxy-a', 0,
                        'proxy-b') is None
    assert journal.take(admin_context, record['id'], 'proxy-x', 1,
                        'proxy-b') is None
    assert journal.take(admin_context, record['id'], 'proxy-a', 1,
                        'proxy-b')['epoch'] == 2
    journal.fenced_write(admin_context,
                         journal.get(admin_context, record['id']),
                         {'status': 'done'})
    # Finished operations are never taken.
    assert journal.take(admin_context, record['id'], 'proxy-b', 2,
                        'proxy-c') is None


def test_concurrent_takeover_has_one_winner(db_all, admin_context):
    record, _ = _new(admin_context)
    takers = 6
    barrier = threading.Barrier(takers)
    results = []

    def take(name):
        ctx = np_context.get_admin_context()
        barrier.wait()
        results.append(journal.take(ctx, record['id'], 'proxy-a', 1, name))
    threads = [threading.Thread(target=take, args=('p%d' % i,))
               for i in range(takers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    winners = [r for r in results if r is not None]
    assert len(results) == takers and len(winners) == 1
    final = journal.get(admin_context, record['id'])
    assert (final['owner'], final['epoch'], final['attempts']) == \
        (winners[0]['owner'], 2, 2)


def test_candidates_are_own_and_dead_owners(db_all, admin_context):
    for op_id, owner in (('own', 'me'), ('dead', 'gone'),
                         ('live', 'other'), ('orphan', None)):
        journal.create(admin_context, op_id, 'migrate', UUID, owner)
    done, _ = journal.create(admin_context, 'finished', 'migrate', UUID,
                             'gone')
    journal.fenced_write(admin_context, done, {'status': 'done'})
    liveness.heartbeat_once(admin_context, 'other', 'other')
    live = liveness.live_members(admin_context, deadline=60)
    ids = sorted(c[0] for c in journal.candidates(admin_context, 'me', live))
    assert ids == ['dead', 'orphan', 'own']
    ids = [c[0] for c in journal.candidates(admin_context, 'me', live,
                                            exclude=['own'])]
    assert sorted(ids) == ['dead', 'orphan']


def test_take_gives_up_on_a_row_locked_by_a_paused_owner(db_all,
                                                         admin_context):
    """An owner paused inside a journal transaction holds the row lock;
    a takeover waits a bounded time, then leaves it for a later scan."""
    import sqlalchemy as sa
    from nova_proxy.db import models
    from nova_proxy.db import session as db_session
    if db_session.get_engine().dialect.name == 'sqlite':
        pytest.skip('SQLite locks the whole database, not a row')
    record, _ = _new(admin_context)
    takes = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith('UPDATE OPERATIONS'):
            takes.append(statement)

    engine = db_session.get_engine()
    with engine.connect() as paused:
        paused.begin()
        paused.execute(sa.update(models.Operation)
                       .where(models.Operation.id == record['id'])
                       .values(step='paused-inside'))
        sa.event.listen(engine, 'before_cursor_execute', count)
        try:
            assert journal.take(admin_context, record['id'], 'proxy-a', 1,
                                'proxy-b') is None
        finally:
            sa.event.remove(engine, 'before_cursor_execute', count)
        paused.rollback()
    # One wait for the lock, not one per deadlock retry (MariaDB reports
    # its lock wait timeout as a deadlock).
    assert len(takes) == 1
    # Once the lock is gone the takeover works, and the session's own
    # lock wait setting is back to normal for whatever comes next.
    assert journal.take(admin_context, record['id'], 'proxy-a', 1,
                        'proxy-b')['epoch'] == 2
