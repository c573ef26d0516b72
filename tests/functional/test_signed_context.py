"""Signed contexts on real processes: a proxy and a compute service on
RabbitMQ and PostgreSQL, both requiring signatures.

The test process plays, in turn: an operator (the proxy key), a compute
node holding compute-1's key, compute-2 holding its own key and trying to
act on compute-1, and a plain oslo.messaging client with no key at all.
"""

import oslo_messaging as messaging
import pytest

from nova_proxy.common import context as np_context
from nova_proxy.common import rpc
from nova_proxy.compute import rpcapi as compute_rpcapi
from nova_proxy.orchestration import rpcapi as orchestration_rpcapi
from nova_proxy import conf
from nova_proxy import exception
from nova_proxy.proxy import rpcapi as proxy_rpcapi
from tests.functional.procs import wait_for

CONF = conf.CONF


def admin():
    return np_context.get_admin_context()


def as_compute(keys, host):
    """A ProxyAPI of a compute node holding ``host``'s key."""
    CONF.set_override('key_file', str(keys / (host + '.key')),
                      group='proxy_client')
    CONF.set_override('host', host)
    api = proxy_rpcapi.ProxyAPI(timeout=10)
    assert isinstance(api.client, rpc._SigningClient)
    return api


def plain_client(topic, server=None):
    """No project code on the wire: no serializer, no signature, and no
    allowed exception modules (errors arrive as RemoteError)."""
    transport = messaging.get_rpc_transport(CONF)
    target = messaging.Target(topic=topic, server=server, version='1.0')
    return transport, messaging.get_rpc_client(transport, target, timeout=10)


def test_host_key_confines_the_caller_and_unsigned_is_refused(
        signed_cluster):
    cluster, keys, proxy, operator = signed_cluster
    mine = operator.instance_create(admin(), {
        'host': 'compute-1', 'node': 'compute-1', 'vm_state': 'active'})
    theirs = operator.instance_create(admin(), {
        'host': 'compute-2', 'node': 'compute-2', 'vm_state': 'active'})

    compute_1 = as_compute(keys, 'compute-1')
    own = np_context.get_compute_context('compute-1')
    assert compute_1.instance_update(own, mine['uuid'], {
        'display_name': 'mine'})['display_name'] == 'mine'
    # Omitting compute_host does not make compute-1 an operator.
    with pytest.raises(exception.HostScopeViolation):
        compute_1.instance_update(admin(), theirs['uuid'],
                                  {'display_name': 'stolen'})
    # Claiming compute-2 with compute-1's key is refused outright.
    with pytest.raises(exception.NotAuthenticated, match='cannot act as'):
        compute_1.instance_update(
            np_context.get_compute_context('compute-2'), theirs['uuid'],
            {'display_name': 'stolen'})
    # Nor can it have the control plane move that instance to itself: the
    # compute_task namespace serves no compute host.
    with pytest.raises(exception.Forbidden,
                       match='compute host compute-1 may not'):
        orchestration_rpcapi.ComputeTaskAPI(timeout=10).migrate_server(
            admin(), theirs['uuid'], dest_host='compute-1')

    transport, raw = plain_client(CONF.proxy.topic)
    try:
        with pytest.raises(messaging.RemoteError) as err:
            raw.call({'compute_host': 'compute-2'}, 'instance_update',
                     instance_uuid=theirs['uuid'],
                     values={'display_name': 'stolen'})
        assert err.value.exc_type == 'NotAuthenticated'
    finally:
        transport.cleanup()

    CONF.clear_override('key_file', group='proxy_client')
    assert operator.instance_get_by_uuid(
        admin(), theirs['uuid'])['display_name'] is None
    log = proxy.log()
    assert 'Refused instance_update from host:compute-1' in log
    assert 'Refused instance_update from an unsigned caller' in log
    # Refusals are logged as one line, never with a traceback.
    assert 'common/auth.py' not in log
    assert proxy.alive()


def test_compute_serves_only_proxies(signed_cluster):
    cluster, keys, proxy, operator = signed_cluster
    compute = cluster.start('compute', 'compute-1', extra={
        'proxy_client': {'key_file': str(keys / 'compute-1.key'),
                         'startup_ping_timeout': '60'},
        'compute': {'require_signed_context': 'true'}})
    # Its start-up calls (ping, service and compute node records) are
    # signed with its key and accepted by the proxy.
    wait_for(lambda: 'Compute service compute-1 started' in compute.log(),
             timeout=60, message='compute-1 to start')

    # A proxy (here: an operator with the keys dir) signs with compute-1's
    # key, addressed to compute-1.
    state = compute_rpcapi.ComputeAPI(timeout=10).get_driver_state(
        admin(), 'compute-1')
    assert 'instances' in state

    # The proxy's own engine builds on compute-1: an operator-signed call
    # in the compute_task namespace, then the proxy's signed calls to
    # compute-1 and compute-1's signed writes back through the proxy.
    op = orchestration_rpcapi.ComputeTaskAPI(timeout=30).build_instance(
        admin(), {'display_name': 'signed', 'memory_mb': 512, 'vcpus': 1,
                  'root_gb': 1}, host='compute-1')
    wait_for(lambda: operator.instance_get_by_uuid(
        admin(), op['instance_uuid'])['vm_state'] == 'active', timeout=60,
        interval=0.3, message='the build through signed calls')

    # compute-2, with its own key, calling compute-1's topic directly.
    CONF.set_override('key_file', str(keys / 'compute-2.key'),
                      group='proxy_client')
    CONF.set_override('host', 'compute-2')
    imposter = compute_rpcapi.ComputeAPI(timeout=10)
    with pytest.raises(exception.NotAuthenticated,
                       match='only a proxy may call compute host'):
        imposter.get_driver_state(admin(), 'compute-1')
    CONF.clear_override('key_file', group='proxy_client')

    transport, raw = plain_client(CONF.compute.topic, server='compute-1')
    try:
        with pytest.raises(messaging.RemoteError) as err:
            raw.call({}, 'terminate_instance',
                     instance_uuid='00000000-0000-4000-8000-000000000000')
        assert err.value.exc_type == 'NotAuthenticated'
    finally:
        transport.cleanup()
    log = compute.log()
    assert 'Refused get_driver_state from host:compute-2' in log
    assert 'Refused terminate_instance from an unsigned caller' in log
    assert 'common/auth.py' not in log
    assert compute.alive()
