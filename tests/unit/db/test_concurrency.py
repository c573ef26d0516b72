"""The compare-and-swap under real concurrency, on every backend.

Threads each with their own context (and so their own session and
connection) race on one instance row.
"""

import threading

from nova_proxy.common import context as np_context
from nova_proxy.db import api
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
