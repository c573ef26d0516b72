"""The engine: drives accepted operations, takes back its own, takes over
those of dead proxies, leaves live proxies' alone."""

import datetime
import threading
import time

from oslo_db import exception as db_exc
import oslo_messaging as messaging
import pytest
import sqlalchemy as sa

from nova_proxy.common import rpc
from nova_proxy.common import states
from nova_proxy import exception
from nova_proxy.db import api as db_api
from nova_proxy.db import models
from nova_proxy.db import session as db_session
from nova_proxy.orchestration import engine as op_engine
from nova_proxy.orchestration import journal
from nova_proxy.orchestration import manager
from nova_proxy.orchestration import rpcapi
from nova_proxy.proxy import liveness
from tests.functional.procs import wait_for
from tests.unit.orchestration import conftest as oc


@pytest.fixture
def db(config, tmp_path_factory):
    """These tests run several threads writing at once: PostgreSQL, as in
    production (SQLite answers "database is locked" to some of them)."""
    from tests import conftest
    url = conftest._use_database('postgresql', tmp_path_factory)
    yield url
    db_session.dispose()


@pytest.fixture
def engine(orch, compute):
    liveness.heartbeat_once(orch, 'me', 'me')
    eng = op_engine.Engine('me', 'me', compute_api=compute)
    yield eng
    eng.stop()


def _age(ctx, member, seconds=3600):
    with db_session.get_engine().begin() as conn:
        conn.execute(sa.update(models.Proxy)
                     .where(models.Proxy.member == member)
                     .values(heartbeat_at=models.Proxy.heartbeat_at -
                             datetime.timedelta(seconds=seconds)))


def _migrate_op(ctx, owner):
    inst = oc.add_instance(ctx)
    endpoint = manager.ComputeTaskManager(
        op_engine.Engine(owner, owner, compute_api=None))
    return endpoint.migrate_server(ctx, instance_uuid=inst['uuid'])


def _done(ctx, op_id):
    record = journal.get(ctx, op_id)
    return record if record['status'] not in states.OP_ACTIVE_STATUSES \
        else None


def test_takes_over_dead_and_own_but_not_live(orch, engine, compute):
    liveness.heartbeat_once(orch, 'dead', 'dead')
    _age(orch, 'dead')
    liveness.heartbeat_once(orch, 'alive', 'alive')
    dead_op = _migrate_op(orch, 'dead')
    own_op = _migrate_op(orch, 'me')
    live_op = _migrate_op(orch, 'alive')
    engine.start()
    for op in (dead_op, own_op):
        record = wait_for(lambda: _done(orch, op['id']), timeout=30,
                          message='operation %s done' % op['id'])
        assert record['status'] == 'done'
        assert (record['owner'], record['epoch'], record['attempts']) == \
            ('me', 2, 2)
    record = journal.get(orch, live_op['id'])
    assert (record['owner'], record['status'], record['epoch']) == \
        ('alive', 'pending', 1)
    # Each step's effect once per operation.
    assert len(compute.effects) == len(set(compute.effects)) == 6


def test_rpc_accept_returns_at_once_and_engine_drives(orch, engine,
                                                      compute):
    # The resize is held at its copy until the second request has been
    # answered: on a slow machine the whole operation could otherwise end
    # first, and the second request meet an instance no longer migrating.
    copying, release = threading.Event(), threading.Event()
    compute.on_call['resize_instance'] = (
        lambda kwargs: (copying.set(), release.wait(30)))
    engine.start()
    target = messaging.Target(topic='compute_proxy', server='me')
    server = rpc.get_server(target, [manager.ComputeTaskManager(engine)])
    server.start()
    try:
        api = rpcapi.ComputeTaskAPI(timeout=30)
        inst = oc.add_instance(orch)
        op = api.migrate_server(orch, inst['uuid'], operation_id='rpc-1')
        assert op['id'] == 'rpc-1' and op['owner'] == 'me'
        assert op['status'] in ('pending', 'running')
        with pytest.raises(exception.OperationInProgress):
            api.migrate_server(orch, inst['uuid'])
        release.set()
        record = wait_for(lambda: _done(orch, 'rpc-1'), timeout=30,
                          message='rpc-1 done')
        assert record['status'] == 'done' and record['epoch'] == 1
        assert api.operation_get(orch, 'rpc-1')['status'] == 'done'
        assert [r['id'] for r in api.operation_list(
            orch, instance_uuid=inst['uuid'])] == ['rpc-1']
        with pytest.raises(exception.OperationNotFound):
            api.operation_get(orch, 'nope')
        assert copying.is_set()
    finally:
        release.set()
        server.stop()
        server.wait()


def test_an_operation_accepted_during_a_scan_is_not_taken_back(
        orch, engine, compute, config, monkeypatch):
    """The accept lands between the scanner reading which operations it
    drives and its query of candidates: the brand new operation is ours
    and driven, not "taken back" (an attempt lost, the manager's runner
    fenced off)."""
    config.set_override('poll_interval', 3600, group='orchestration')
    engine.start()  # one empty scan, then the scanner sleeps
    endpoint = manager.ComputeTaskManager(engine)
    inst = oc.add_instance(orch)
    real_candidates = journal.candidates

    def candidates(*args, **kwargs):
        endpoint.migrate_server(orch, instance_uuid=inst['uuid'],
                                operation_id='new')
        return real_candidates(*args, **kwargs)

    monkeypatch.setattr(journal, 'candidates', candidates)
    assert engine.takeover_once() == []
    monkeypatch.setattr(journal, 'candidates', real_candidates)
    record = wait_for(lambda: _done(orch, 'new'), timeout=30,
                      message='the new operation done')
    assert (record['status'], record['epoch'], record['attempts']) == \
        ('done', 1, 1)


def test_a_concurrent_retry_gets_the_same_operation(orch, monkeypatch):
    """A client retries while its first call is still in the accepting
    transaction: neither found the row, the retry's compare-and-swap of
    the instance waits for the first and misses. It answers with the
    operation, as any retry with the same id does."""
    from nova_proxy.orchestration.flows import migrate
    endpoint = manager.ComputeTaskManager(
        op_engine.Engine('me', 'me', compute_api=None))  # not started
    inst = oc.add_instance(orch)
    real = migrate.accept_migrate
    inside, release = threading.Event(), threading.Event()

    def accept_migrate(*args):
        prepare = real(*args)

        def held(context):
            out = prepare(context)
            if not inside.is_set():  # the first call only
                inside.set()
                release.wait(30)
            return out
        return held

    monkeypatch.setattr(migrate, 'accept_migrate', accept_migrate)
    results = {}

    def call(name):
        try:
            results[name] = endpoint.migrate_server(
                orch, instance_uuid=inst['uuid'], operation_id='op-1')
        except Exception as e:
            results[name] = e

    first = threading.Thread(target=call, args=('first',))
    first.start()
    assert inside.wait(30)
    retry = threading.Thread(target=call, args=('retry',))
    retry.start()
    # The retry waits for the first call's row lock on the instance.
    with db_session.get_engine().connect() as conn:
        wait_for(lambda: conn.execute(sa.text(
            'SELECT count(*) FROM pg_locks WHERE NOT granted')).scalar(),
            timeout=30, message='the retry to wait for the lock')
    release.set()
    first.join(30)
    retry.join(30)
    assert results['first']['id'] == 'op-1'
    assert results['retry'] == results['first']
    assert [r['id'] for r in journal.get_all(orch)] == ['op-1']


def test_builds_placed_at_the_same_moment_take_turns_on_a_host(
        orch, monkeypatch):
    """Two accepts choose a host together: the second waits for the
    first's lock on the host's compute node row, then counts its
    instance, and goes elsewhere. Without the lock both would count
    nothing and land on the best host."""
    from nova_proxy.orchestration import scheduler
    endpoint = manager.ComputeTaskManager(
        op_engine.Engine('me', 'me', compute_api=None))  # not started
    flavor = {'memory_mb': 8192, 'vcpus': 1, 'root_gb': 1}
    real_room, real_hosts = scheduler._room_now, scheduler.hosts_with_room
    second_choosing = threading.Event()
    held = []

    def room_then_hold(context, host, node, flavor):
        fits = real_room(context, host, node, flavor)
        if not held:  # the first accept, its node row locked
            held.append(host)
            assert second_choosing.wait(30)
            time.sleep(0.3)  # the second reaches the lock meanwhile
        return fits

    def hosts(context, flavor, exclude=()):
        if held:
            second_choosing.set()
        return real_hosts(context, flavor, exclude=exclude)

    monkeypatch.setattr(scheduler, '_room_now', room_then_hold)
    monkeypatch.setattr(scheduler, 'hosts_with_room', hosts)
    results = []

    def build():
        try:
            results.append(endpoint.build_instance(orch,
                                                   values=dict(flavor)))
        except Exception as e:
            results.append(e)

    threads = [threading.Thread(target=build) for _ in range(2)]
    threads[0].start()
    wait_for(lambda: held, timeout=30, message='the first to choose')
    threads[1].start()
    for t in threads:
        t.join(60)
    hosts_placed = sorted(
        db_api.instance_get_by_uuid(orch, r['instance_uuid'])['host']
        for r in results)
    assert hosts_placed == ['cmp1', 'cmp2']


@pytest.mark.parametrize('error, traceback', [
    (db_exc.DBConnectionError('server closed the connection'), False),
    (RuntimeError('a bug'), True),
])
def test_a_drive_lost_to_the_database_is_one_line(
        config, caplog, error, traceback):
    class Runner:
        def run(self, record):
            raise error

    eng = op_engine.Engine('me', 'me', compute_api=None)
    eng.runner = Runner()
    with caplog.at_level('WARNING'):
        eng._drive({'id': 'op-1'})
    (record,) = [r for r in caplog.records if 'op-1' in r.getMessage()]
    assert 'it will be taken back' in record.getMessage()
    assert (record.exc_info is not None) is traceback
    assert record.levelname == ('ERROR' if traceback else 'WARNING')
