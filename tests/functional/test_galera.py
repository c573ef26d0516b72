"""MariaDB Galera: three nodes of the test's own (``galera``).

``test_failover_to_another_node_under_load``: the proxies write through
one node at a time, as OpenStack deployments do, through a relay standing
in for the load balancer (``broker_cut.BrokerCut.switch``, HAProxy's
active/backup with ``shutdown-sessions``). While callers write through
the shim and a resize and builds run, the active node is killed and the
relay sent to the next one. Counts printed, zeros asserted.

``test_compare_and_swap_one_winner_across_nodes``: each proxy writes
through its own node, so writes to one row meet in Galera's certification
at commit, not in InnoDB's row locks: the loser's commit fails with a
deadlock error. The proxies retry such a transaction (``oslo.db``'s
``wrap_db_retry``, as for any deadlock), and the compare-and-swap, re-run,
sees the winner's write: one winner per round, every loser told
``UnexpectedTaskStateError``, no other error.

CI runs them short; ``NOVA_PROXY_FAULTS=full`` runs longer.
"""

import collections
import threading

import pytest

from nova_proxy.common import context as np_context
from nova_proxy.compute import db_v1 as shim
from nova_proxy.db import api as db
from nova_proxy.db import session as db_session
from nova_proxy import exception
from tests.functional import broker_cut
from tests.functional import fault_load
from tests.functional import galera

ROUNDS = 60 if fault_load.FULL else 8
RACERS = 6

pytestmark = pytest.mark.skipif(
    not galera.available(),
    reason='needs mariadbd, the Galera provider, rsync and root')


@pytest.fixture(scope='module')
def nodes():
    cluster = galera.Cluster().start()
    yield cluster
    db_session.dispose()
    cluster.stop()


@pytest.fixture
def relay(nodes):
    first = nodes.nodes[0]
    relay = broker_cut.BrokerCut('tcp://127.0.0.1:%d' % first.port).start()
    yield relay
    relay.stop()


def test_failover_to_another_node_under_load(nodes, relay, cluster):
    database = nodes.create_database('np_galera_failover')
    orchestra = fault_load.orchestra_on(
        cluster, galera.url(relay.port, database))
    active, backup = nodes.nodes[0], nodes.nodes[1]

    def failover():
        active.kill()
        relay.switch('127.0.0.1', backup.port)

    try:
        fault_load.under_load(orchestra, failover, 'Galera node failover')
        assert nodes.size(backup) == len(nodes.nodes) - 1
    finally:
        orchestra.kill_all()


def test_compare_and_swap_one_winner_across_nodes(nodes, cluster):
    live = nodes.live()[:2]
    assert len(live) == 2
    database = nodes.create_database('np_galera_cas')
    orchestra = fault_load.orchestra_on(
        cluster, galera.url(live[0].port, database))
    try:
        # Each proxy through its own node.
        for name, node in zip(('p1', 'p2'), live):
            orchestra.start_proxy(name, extra={'database': {
                'connection': galera.url(node.port, database)}})
        failures_before = sum(int(n.status('wsrep_local_cert_failures'))
                              for n in live)
        admin = np_context.get_admin_context()
        context = np_context.get_compute_context('racer')
        outcomes = collections.Counter()
        winners_per_round = []
        for n in range(ROUNDS):
            uuid = db.instance_create(admin, {
                'host': 'racer', 'node': 'racer',
                'vm_state': 'active'})['uuid']
            winners = []
            barrier = threading.Barrier(RACERS)

            def race(index):
                barrier.wait()
                try:
                    shim.instance_update(context, uuid, {
                        'task_state': 'racer-%d' % index,
                        'expected_task_state': None})
                    winners.append(index)
                    outcomes['won'] += 1
                except exception.UnexpectedTaskStateError:
                    outcomes['lost'] += 1
                except Exception as e:
                    outcomes[type(e).__name__] += 1

            threads = [threading.Thread(target=race, args=(i,))
                       for i in range(RACERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            stored = db.instance_get_by_uuid(admin, uuid)['task_state']
            assert winners and stored == 'racer-%d' % winners[0], (
                winners, stored, outcomes)
            winners_per_round.append(len(winners))
        failures = sum(int(n.status('wsrep_local_cert_failures'))
                       for n in live) - failures_before
        print('\nGalera compare-and-swap: %d rounds of %d racers through '
              '2 nodes: %s; certification failures %d'
              % (ROUNDS, RACERS, dict(outcomes), failures))
        assert set(winners_per_round) == {1}, winners_per_round
        assert set(outcomes) <= {'won', 'lost'}, outcomes
    finally:
        orchestra.kill_all()
