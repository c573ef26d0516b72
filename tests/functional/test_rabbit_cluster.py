"""Proxies and computes on a three-node RabbitMQ cluster with quorum
queues, under load, through broker faults: ``kill -9`` of the node that
leads the proxies' queue, then a rolling restart (each node stopped and
started again in turn).

The cluster is the test's own (``rabbit_cluster``); the database is a
fresh PostgreSQL one. Two proxies and two computes run as real processes
with ``QUORUM_OPTIONS`` and a ``transport_url`` naming the three nodes;
this process is both the simulated compute hosts (shim calls) and the
caller of the orchestration API (builds, then resizes). Each fault prints
its counts (``cluster_load.Report``) and asserts the zeros: no
acknowledged write lost, no duplicated create, every operation finished
or rolled back.

``NOVA_PROXY_FAULTS=short`` (the default, CI's run: about 2 minutes on
two busy shared cores, nearly half of it forming the cluster) keeps the
load short and, for the rolling restart, stops one node (the leader by
then) and leaves it down; ``NOVA_PROXY_FAULTS=full`` runs a longer load
and stops and starts all three in turn (about 6 minutes; README.rst,
docs/operations.rst)::

    NOVA_PROXY_FAULTS=full PYTHONPATH=. .venv/bin/python -m pytest -s \\
        tests/functional/test_rabbit_cluster.py
"""

import os
import time

from oslo_messaging._drivers import impl_rabbit
import pytest

from nova_proxy.common import rpc
from nova_proxy.compute import db_v1 as shim
from nova_proxy import conf
from nova_proxy.orchestration import scheduler
from tests.functional import cluster_load
from tests.functional import orchestration_fixtures as of
from tests.functional import periodic_fixtures as pf
from tests.functional import procs
from tests.functional import rabbit_cluster

CONF = conf.CONF

MODE = os.environ.get('NOVA_PROXY_FAULTS', 'short')
FULL = MODE == 'full'
SIM_HOSTS = 6 if FULL else 3
# Seconds of load before a fault, while a node is down, and after.
BEFORE, DOWN, AFTER = (10, 15, 10) if FULL else (2, 3, 2)

# What the recommended topology sets (docs/operations.rst, "RabbitMQ
# cluster"): every queue oslo.messaging declares is a quorum queue
# (replicated on the three nodes), including the per-server and reply
# queues, and heartbeats find a dead node's connections.
QUORUM_OPTIONS = {
    'rabbit_quorum_queue': 'true',
    'rabbit_transient_quorum_queue': 'true',
    'heartbeat_timeout_threshold': '10',
    'kombu_failover_strategy': 'round-robin',
}

pytestmark = pytest.mark.skipif(not rabbit_cluster.available(),
                                reason='rabbitmq-server is not installed')


@pytest.fixture
def broker(tmp_path):
    cluster = rabbit_cluster.RabbitCluster(tmp_path / 'rabbit')
    try:
        started = time.monotonic()
        cluster.start()
        print('\ncluster of 3 started in %.1f s (booted in %.1f s)' % (
            time.monotonic() - started, cluster.boot_seconds))
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def orchestra(broker, tmp_path):
    """Two proxies and two computes on ``broker``; this process calls
    through it too."""
    exchange, _topics = procs.unique_names()
    url = pf.postgresql(tmp_path)
    cluster = procs.Cluster(tmp_path, exchange=exchange, db_url=url)
    CONF.register_opts(impl_rabbit.rabbit_opts, group='oslo_messaging_rabbit')
    CONF.set_override('transport_url', broker.url)
    CONF.set_override('control_exchange', exchange)
    for name, value in QUORUM_OPTIONS.items():
        CONF.set_override(name, value, group='oslo_messaging_rabbit')
    # Shim calls as a compute makes them: a short deadline, retried.
    CONF.set_override('rpc_timeout', 5, group='proxy_client')
    CONF.set_override('retries', 2, group='proxy_client')
    rpc.cleanup()
    shim.reset()
    o = of.Orchestra(cluster, url)
    messaging = {'DEFAULT': {'transport_url': broker.url},
                 'oslo_messaging_rabbit': QUORUM_OPTIONS}
    try:
        # Started together, then awaited: the slow part is each process's
        # import and first connection, not the others.
        for name in ('p1', 'p2'):
            o.start_proxy(name, extra=messaging, wait=False)
        for name in ('cmp1', 'cmp2'):
            # Room for every instance the load builds and resizes.
            o.start_compute(name, wait=False, extra=procs.merge_options(
                messaging, {'compute': {'vcpus': '4096',
                                        'memory_mb': '1048576'}}))
        for name in ('p1', 'p2'):
            o.wait_live(name)
        for name in ('cmp1', 'cmp2'):
            procs.wait_for(lambda: scheduler.compute_host_up(o.ctx, name),
                           timeout=60, message='compute %s up' % name)
        yield o
    finally:
        o.kill_all()
        shim.reset()
        rpc.cleanup()
        pf.drop(url)


def _proxy_queue(o):
    return CONF.proxy.topic


def _operator_lines(o, sizes):
    """The WARNING and ERROR lines, and the reconnections, that the
    proxies and computes logged since ``sizes``."""
    lines = []
    for proc in o.cluster.processes:
        with open(proc.log_path) as f:
            f.seek(sizes[proc.name])
            lines += ['%s: %s' % (proc.name, line.rstrip()[:200])
                      for line in f if ' WARNING ' in line
                      or ' ERROR ' in line or 'Reconnected' in line]
    return lines


def _run_fault(o, broker, fault, name):
    sizes = {p.name: os.path.getsize(p.log_path)
             for p in o.cluster.processes}
    shim_load = cluster_load.ShimLoad(SIM_HOSTS).start()
    op_load = cluster_load.OperationLoad(o).start()
    since = time.monotonic()
    try:
        time.sleep(BEFORE)
        fault()
        time.sleep(AFTER)
    finally:
        shim_load.stop()
        op_load.stop()
    until = time.monotonic()
    report = cluster_load.Report(name, shim_load, op_load, since, until)
    report.print()
    print('load ran %.1f s, the report took %.1f s'
          % (until - since, time.monotonic() - until))
    lines = _operator_lines(o, sizes)
    print('proxy and compute WARNING/ERROR/Reconnected lines: %d:'
          % len(lines))
    print('\n'.join(lines[:40]))
    for proc in o.cluster.processes:
        assert proc.alive(), proc.log()[-3000:]
    assert report.calls > 0 and shim_load.successes
    report.assert_zeros()
    return report


def test_leader_kill_and_rolling_restart_lose_nothing_acknowledged(
        orchestra, broker):
    o = orchestra
    queue = _proxy_queue(o)
    queues = broker.queues()
    # The proxies' and computes' queues are replicated quorum queues.
    assert queues[queue] == 'quorum', queues
    assert queues[CONF.compute.topic] == 'quorum', queues

    def kill_leader():
        leader = broker.leader(queue)
        print('\nkill -9 %s, leader of %s' % (broker.nodes[leader].name,
                                              queue))
        broker.kill(leader)
        time.sleep(DOWN)
        assert broker.leader(queue) != leader
        started = time.monotonic()
        broker.start_node(leader)
        broker.wait_running()
        print('node back in %.1f s' % (time.monotonic() - started))

    _run_fault(o, broker, kill_leader, 'kill -9 of the queue leader')

    def rolling_restart():
        # The short run stops one node (the new leader) and leaves it
        # down: the cluster serves on two; starting a node again and its
        # rejoining were just exercised after the kill.
        order = range(len(broker.nodes)) if FULL else [broker.leader(queue)]
        for index in order:
            print('\nstop %s' % broker.nodes[index].name)
            started = time.monotonic()
            broker.stop_node(index)
            print('stopped in %.1f s' % (time.monotonic() - started))
            time.sleep(DOWN)
            if not FULL:
                break
            started = time.monotonic()
            broker.start_node(index)
            broker.wait_running()
            print('node back in %.1f s' % (time.monotonic() - started))

    _run_fault(o, broker, rolling_restart,
               'rolling restart' if FULL else 'clean stop of the new leader')
