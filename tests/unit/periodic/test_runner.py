"""The runner's sharing rules, with several members in one process."""

import collections
import concurrent.futures
import datetime
import threading

from oslo_db import exception as db_exc
import pytest
import sqlalchemy as sa

from nova_proxy.db import models
from nova_proxy.db import session as db_session
from nova_proxy.periodic import claims
from nova_proxy.periodic import clock
from nova_proxy.periodic import ring as np_ring
from nova_proxy.periodic import runner
from nova_proxy.periodic.tasks import base
from nova_proxy.proxy import liveness
from tests.functional.procs import wait_for

ITEMS = ['item-%02d' % i for i in range(40)]


class CountingTask(base.ItemTask):
    name = 'mark_services_down'   # borrows its options

    def __init__(self, items=ITEMS, fail=()):
        self.items = list(items)
        self.fail = set(fail)
        self.handled = collections.Counter()
        self.lock = threading.Lock()

    def list_items(self, context, now):
        return list(self.items)

    def handle_item(self, context, item, now):
        with self.lock:
            self.handled[item] += 1
        if item in self.fail:
            raise RuntimeError('cannot handle %s' % item)
        return 'done'


class CountingGlobal(base.GlobalTask):
    name = 'purge_deleted'

    def __init__(self):
        self.runs = 0

    def run(self, context, now):
        self.runs += 1
        return ['x'], {'note': 'ran'}


def _loops(task, members, skew=0.0):
    stop = threading.Event()
    return {m: runner.TaskLoop(task, m, stop, skew) for m in members}


def _join(context, *members):
    for m in members:
        liveness.heartbeat_once(context, m, m)


def _kill(member):
    """Make ``member``'s heartbeat older than any deadline."""
    with db_session.get_engine().begin() as conn:
        now = conn.execute(sa.select(db_session.db_utcnow())).scalar_one()
        conn.execute(sa.update(models.Proxy)
                     .where(models.Proxy.member == member)
                     .values(heartbeat_at=now - datetime.timedelta(hours=1)))


def _sweep_all(loops, context, period):
    now = clock.db_now(context)
    members = liveness.live_members(context)
    return {m: loop.sweep(now, period, tuple(members))
            for m, loop in loops.items()}


def test_every_item_once_per_period_shared_by_the_ring(db_all,
                                                       admin_context):
    _join(admin_context, 'p1', 'p2', 'p3')
    task = CountingTask()
    loops = _loops(task, ['p1', 'p2', 'p3'])
    for period in (100, 101):
        handled = _sweep_all(loops, admin_context, period)
        assert sorted(sum(handled.values(), [])) == ITEMS
        assert all(handled.values()), 'every member got a share'
        # Sweeping again in the same period handles nothing.
        assert not any(_sweep_all(loops, admin_context, period).values())
    assert set(task.handled.values()) == {2}
    runs = claims.run_list(admin_context, task=task.name)
    assert {r['owner'] for r in runs} == {'p1', 'p2', 'p3'}
    assert sorted(sum((r['handled'] for r in runs if r['period'] == 100),
                      [])) == ITEMS
    assert all(r['result'] == 'ok' for r in runs)


def test_items_of_a_dead_member_are_taken_in_the_same_period(db_all,
                                                             admin_context):
    _join(admin_context, 'p1', 'p2', 'p3')
    task = CountingTask()
    loops = _loops(task, ['p1', 'p2', 'p3'])
    now = clock.db_now(admin_context)
    members = tuple(liveness.live_members(admin_context))
    mine = np_ring.Ring(members).mine('p2', ITEMS)
    assert len(mine) > 2
    # p2 claims and handles two of its items, then dies.
    for item in mine[:2]:
        assert claims.claim(admin_context, task.name, 5, item, 'p2')
        task.handle_item(admin_context, item, now)
    first = {m: loops[m].sweep(now, 5, members) for m in ('p1', 'p3')}
    assert not set(sum(first.values(), [])) & set(mine)
    _kill('p2')
    live = tuple(liveness.live_members(admin_context))
    assert live == ('p1', 'p3')
    taken = {m: loops[m].sweep(now, 5, live) for m in ('p1', 'p3')}
    assert sorted(sum(taken.values(), [])) == sorted(mine[2:])
    assert sorted(claims.claims_of_period(admin_context, task.name, 5)) == \
        ITEMS
    assert dict(task.handled) == {item: 1 for item in ITEMS}


def test_a_member_that_is_not_live_acts_on_nothing(db, admin_context):
    _join(admin_context, 'p1')
    task = CountingTask()
    loop = _loops(task, ['ghost'])['ghost']
    now = clock.db_now(admin_context)
    assert loop.sweep(now, 1, ('p1',)) == []
    assert not task.handled


def test_failed_items_are_recorded(db, admin_context):
    _join(admin_context, 'p1')
    task = CountingTask(items=['a', 'b'], fail=['b'])
    loop = _loops(task, ['p1'])['p1']
    assert loop.sweep(clock.db_now(admin_context), 1, ('p1',)) == \
        ['a', 'b']
    run, = claims.run_list(admin_context, task=task.name)
    assert run['result'] == 'partial'
    assert run['details']['outcomes'] == {'a': 'done'}
    assert 'cannot handle b' in run['details']['errors']['b']


def test_one_global_run_per_period_whatever_the_local_clocks(
        db_all, admin_context, config):
    config.set_override('purge_deleted_interval', 3600, group='periodic')
    task = CountingGlobal()
    loops = [runner.TaskLoop(task, 'p%d' % n, threading.Event(), skew)
             for n, skew in enumerate((-5.0, 0.0, 5.0))]
    waits = [loop.tick() for loop in loops for _ in range(2)]
    assert task.runs == 1
    assert all(0 < w <= 3600 + 1 for w in waits)
    run, = claims.run_list(admin_context, task=task.name)
    offset = run['details']['clock_offset']
    winner = [loop for loop in loops if loop.member == run['owner']][0]
    assert abs(offset - winner.skew) < 2
    assert run['handled'] == ['x'] and run['details']['note'] == 'ran'


def test_item_task_tick_sweeps_on_start_and_on_membership_change(
        db, admin_context, config):
    config.set_override('mark_services_down_interval', 3600,
                        group='periodic')
    _join(admin_context, 'p1', 'p2')
    task = CountingTask()
    loop = _loops(task, ['p1'])['p1']
    wait = loop.tick()
    assert 0 < wait <= config.proxy.heartbeat_interval
    first = sum(task.handled.values())
    assert 0 < first < len(ITEMS)
    loop.tick()
    assert sum(task.handled.values()) == first
    _kill('p2')
    loop.tick()
    assert sorted(task.handled) == ITEMS
    assert set(task.handled.values()) == {1}


def test_runner_starts_and_stops_threads(db, admin_context, config):
    config.set_override('mark_services_down_interval', 3600,
                        group='periodic')
    _join(admin_context, 'p1')
    task = CountingTask()
    r = runner.Runner('p1', tasks=[task])
    r.start()
    try:
        wait_for(lambda: sum(task.handled.values()) == len(ITEMS),
                 timeout=30, message='the first sweep')
    finally:
        r.stop()
    assert all(not loop._thread.is_alive() for loop in r.loops)


def test_a_failing_batch_is_recorded_and_the_sweep_goes_on(db, admin_context,
                                                           monkeypatch):
    _join(admin_context, 'p1')
    items = ['i%02d' % n for n in range(runner.CLAIM_BATCH + 5)]
    task = CountingTask(items=items)

    def handle_items(context, batch, now):
        if 'i00' in batch:
            raise RuntimeError('database gone')
        return {item: 'done' for item in batch}, {}
    monkeypatch.setattr(task, 'handle_items', handle_items)
    loop = _loops(task, ['p1'])['p1']
    assert loop.sweep(clock.db_now(admin_context), 1, ('p1',)) == items
    run, = claims.run_list(admin_context, task=task.name)
    assert run['result'] == 'partial'
    assert len(run['details']['errors']) == runner.CLAIM_BATCH
    assert len(run['details']['outcomes']) == 5


def test_a_claim_failure_records_what_was_done(db, admin_context,
                                               monkeypatch):
    _join(admin_context, 'p1')
    items = ['i%02d' % n for n in range(runner.CLAIM_BATCH + 5)]
    task = CountingTask(items=items)
    real = claims.claim_many
    calls = []

    def claim_many(*args):
        calls.append(args)
        if len(calls) > 1:
            raise RuntimeError('database gone')
        return real(*args)
    monkeypatch.setattr(claims, 'claim_many', claim_many)
    loop = _loops(task, ['p1'])['p1']
    handled = loop.sweep(clock.db_now(admin_context), 1, ('p1',))
    assert len(handled) == runner.CLAIM_BATCH
    run, = claims.run_list(admin_context, task=task.name)
    assert run['result'] == 'partial'
    assert 'database gone' in run['details']['error']
    assert run['items'] == runner.CLAIM_BATCH


def _failing_once(monkeypatch, module, name, at=1):
    """``module.name`` raising a database error at its ``at``-th call."""
    real = getattr(module, name)
    calls = []

    def once(*args, **kwargs):
        calls.append(args)
        if len(calls) == at:
            raise db_exc.DBConnectionError('database restarting')
        return real(*args, **kwargs)
    monkeypatch.setattr(module, name, once)
    return calls


def test_a_global_claim_the_database_failed_is_tried_again(
        db, admin_context, monkeypatch):
    """Not given up for the period (an hour, a day): every proxy wakes
    at the same boundary, so one database blip would skip the run."""
    task = CountingGlobal()
    calls = _failing_once(monkeypatch, claims, 'claim')
    loop = runner.TaskLoop(task, 'p1', threading.Event())
    with pytest.raises(db_exc.DBConnectionError):
        loop.tick()
    loop.tick()
    assert (len(calls), task.runs) == (2, 1)
    loop.tick()
    assert (len(calls), task.runs) == (2, 1)


def _sole_sweeper(context, config):
    """Member p1 alone, with more items than one claim batch, an hour
    per period: ``(items, task, loop)``."""
    config.set_override('mark_services_down_interval', 3600,
                        group='periodic')
    _join(context, 'p1')
    items = ['i%02d' % n for n in range(runner.CLAIM_BATCH + 5)]
    task = CountingTask(items=items)
    return items, task, _loops(task, ['p1'])['p1']


def test_a_sweep_the_database_failed_is_tried_again_at_once(
        db, admin_context, config, monkeypatch):
    items, task, loop = _sole_sweeper(admin_context, config)
    _failing_once(monkeypatch, claims, 'claimed_items')
    with pytest.raises(db_exc.DBConnectionError):
        loop.tick()
    assert not task.handled
    loop.tick()
    assert sorted(task.handled) == items


def test_the_rest_of_a_sweep_a_claim_failure_stopped_is_swept_at_once(
        db, admin_context, config, monkeypatch):
    """Not half a period later."""
    items, task, loop = _sole_sweeper(admin_context, config)
    _failing_once(monkeypatch, claims, 'claim_many', at=2)
    loop.tick()
    assert len(task.handled) == runner.CLAIM_BATCH
    loop.tick()
    assert sorted(task.handled) == items
    assert set(task.handled.values()) == {1}


def test_members_that_disagree_on_the_ring_never_both_act(db_all,
                                                          admin_context):
    _join(admin_context, 'p1', 'p2')
    task = CountingTask()
    loops = _loops(task, ['p1', 'p2'])
    now = clock.db_now(admin_context)
    # p1 read the table before p2 joined: it believes every item is its.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(loops['p1'].sweep, now, 9, ('p1',))
        second = pool.submit(loops['p2'].sweep, now, 9, ('p1', 'p2'))
        handled = first.result() + second.result()
    assert sorted(handled) == ITEMS
    assert set(task.handled.values()) == {1}
