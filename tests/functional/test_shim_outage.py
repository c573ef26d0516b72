"""The shim through a broker outage: a real proxy on RabbitMQ and
PostgreSQL, and the shim in this process reaching the broker through a
relay (``broker_cut``) that the test cuts and restores. The proxy keeps
its own connection: only the compute side loses the broker. The shim is
the 1.x one (``db_v1``) of the reference compute service; the 2.x shim's
calls go through the same ``rpc.call_retrying`` and ``call_within``.
"""

import threading
import time

import oslo_messaging as messaging
import pytest

from nova_proxy.common import context as np_context
from nova_proxy.common import rpc
from nova_proxy.compute import db_v1 as shim
from nova_proxy import conf
from nova_proxy.db import api as db
from tests.functional import broker_cut
from tests.functional import procs
from tests.functional.procs import wait_for

CONF = conf.CONF

RPC_TIMEOUT = 4
# What a call may take beyond [proxy_client] rpc_timeout.
DEADLINE_SLACK = 2
# How soon after the broker is back calls must be answered again.
RESUME_WITHIN = 4


@pytest.fixture
def relay():
    cut = broker_cut.BrokerCut(procs.RABBIT_URL).start()
    yield cut
    cut.stop()


@pytest.fixture
def shim_through(pg_cluster, relay):
    pg_cluster.start('proxy', 'proxy-a')
    CONF.set_override('transport_url', relay.url)
    CONF.set_override('rpc_timeout', RPC_TIMEOUT, group='proxy_client')
    CONF.set_override('retries', 0, group='proxy_client')
    rpc.cleanup()
    shim.reset()
    instance = db.instance_create(np_context.get_admin_context(), {
        'host': 'compute-1', 'node': 'compute-1', 'vm_state': 'active'})
    context = np_context.get_compute_context('compute-1')
    wait_for(lambda: shim.instance_get_by_uuid(context, instance['uuid']),
             timeout=60, message='the proxy to answer through the relay')
    yield context, instance['uuid']
    shim.reset()
    rpc.cleanup()


def _timed(fn, *args):
    """``(result or exception, seconds)`` of ``fn(*args)``, run in a
    thread given up on (``'still running'``) well past the deadline."""
    outcome = []

    def run():
        try:
            outcome.append(fn(*args))
        except Exception as e:
            outcome.append(e)

    start = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(RPC_TIMEOUT + DEADLINE_SLACK + 10)
    return (outcome[0] if outcome else 'still running',
            time.monotonic() - start)


def test_a_call_keeps_its_deadline_and_resumes_soon_after_an_outage(
        shim_through, relay):
    context, uuid = shim_through
    relay.cut()
    # Each call, on a connection closed under it or on a new one refused,
    # ends within its timeout; the outage lasts longer than the rabbit
    # driver's default reconnection intervals would take to come back.
    outcomes = []
    outage_start = time.monotonic()
    while time.monotonic() - outage_start < 5 * RPC_TIMEOUT:
        outcomes.append(_timed(shim.instance_get_by_uuid, context, uuid))
    for outcome, took in outcomes:
        assert isinstance(outcome, messaging.MessagingTimeout), outcome
        assert took <= RPC_TIMEOUT + DEADLINE_SLACK, outcomes

    relay.restore()
    back = time.monotonic()
    after = []
    while time.monotonic() - back < 60:
        outcome, took = _timed(shim.instance_get_by_uuid, context, uuid)
        after.append((outcome, took))
        if isinstance(outcome, dict):
            break
        assert took <= RPC_TIMEOUT + DEADLINE_SLACK, after
    assert after[-1][0]['uuid'] == uuid, after
    assert time.monotonic() - back <= RESUME_WITHIN, after
