"""Compare-and-swap under load: many concurrent clients, two proxy
processes, RabbitMQ and PostgreSQL (issue 2 item 5, last rule).

Each client thread has its own ``RPCClient``; the calls land on either
proxy, and each proxy runs them on its own thread pool and database
connections, so the races are real races in PostgreSQL.
"""

import threading

from nova_proxy import exception
from tests.functional import two_proxies

CLIENTS = 16
ROUNDS = 4
INCREMENTS = 3
CONTEXT = {'request_id': 'req-cas'}


cluster = two_proxies.module_cluster('cas')
transport = two_proxies.transport


def _in_threads(target):
    """Run ``target(index, barrier)`` in CLIENTS threads; re-raise the
    first error of any thread."""
    barrier = threading.Barrier(CLIENTS)
    errors = []

    def run(index):
        try:
            target(index, barrier)
        except BaseException as e:   # re-raised below
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,))
               for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not any(t.is_alive() for t in threads), 'a client hung'
    if errors:
        raise errors[0]


def test_exactly_one_winner_per_expected_state(cluster, transport):
    client = two_proxies.plain_client(transport, cluster)
    uuid = client.call(CONTEXT, 'instance_create', values={
        'host': 'cmp-1', 'vm_state': 'active'})['uuid']
    before = two_proxies.served(cluster, 'instance_update')
    winners = [[] for _ in range(ROUNDS)]
    conflicts = [[] for _ in range(ROUNDS)]

    def race(index, barrier):
        mine = two_proxies.plain_client(transport, cluster)
        for rnd in range(ROUNDS):
            barrier.wait(timeout=120)
            expected = None if rnd == 0 else 'round-%d' % rnd
            try:
                mine.call(CONTEXT, 'instance_update', instance_uuid=uuid,
                          values={'task_state': 'round-%d' % (rnd + 1),
                                  'display_name': 'client-%d' % index,
                                  'expected_task_state': expected,
                                  'expected_vm_state': 'active'})
            except exception.UnexpectedTaskStateError as e:
                assert e.kwargs['expected'] == expected
                assert e.kwargs['actual'] != expected
                conflicts[rnd].append(index)
            else:
                winners[rnd].append(index)

    _in_threads(race)
    for rnd in range(ROUNDS):
        assert len(winners[rnd]) == 1, (rnd, winners[rnd])
        assert len(conflicts[rnd]) == CLIENTS - 1
    final = client.call(CONTEXT, 'instance_get_by_uuid', instance_uuid=uuid)
    assert final['task_state'] == 'round-%d' % ROUNDS
    assert final['display_name'] == 'client-%d' % winners[-1][0]
    # Both proxies took part in the race.
    after = two_proxies.served(cluster, 'instance_update')
    assert all(after[name] > before[name] for name in after), (before,
                                                               after)


def test_no_lost_update(cluster, transport):
    """Read, compare-and-swap, retry on conflict: the counter must end at
    exactly the number of updates that succeeded."""
    client = two_proxies.plain_client(transport, cluster)
    uuid = client.call(CONTEXT, 'instance_create', values={
        'host': 'cmp-1', 'progress': 0, 'task_state': 'count-0'})['uuid']
    successes = []
    conflicts = []

    def increment(index, barrier):
        mine = two_proxies.plain_client(transport, cluster)
        barrier.wait(timeout=120)
        for _ in range(INCREMENTS):
            while True:
                count = mine.call(CONTEXT, 'instance_get_by_uuid',
                                  instance_uuid=uuid)['progress']
                try:
                    old, new = mine.call(
                        CONTEXT, 'instance_update_and_get_original',
                        instance_uuid=uuid, values={
                            'progress': count + 1,
                            'task_state': 'count-%d' % (count + 1),
                            'expected_task_state': 'count-%d' % count})
                except exception.UnexpectedTaskStateError:
                    conflicts.append(index)
                    continue
                assert (old['progress'], new['progress']) == (count,
                                                              count + 1)
                successes.append(count + 1)
                break

    _in_threads(increment)
    final = client.call(CONTEXT, 'instance_get_by_uuid', instance_uuid=uuid)
    assert len(successes) == CLIENTS * INCREMENTS
    assert final['progress'] == len(successes)
    assert final['task_state'] == 'count-%d' % len(successes)
    assert sorted(successes) == list(range(1, len(successes) + 1))
    # Contention really happened, and both proxies served the updates.
    assert conflicts
    served = two_proxies.served(cluster, 'instance_update_and_get_original')
    assert all(count > 0 for count in served.values()), served
