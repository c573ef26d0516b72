"""A proxy's endpoints behind a real RPC server on the fake driver."""

import oslo_messaging as messaging
import pytest

from nova_proxy.common import rpc
from nova_proxy.proxy import manager
from nova_proxy.proxy import rpcapi
from tests.unit import servers


@pytest.fixture
def server(db, config):
    target = messaging.Target(topic=config.proxy.topic, server='proxy-1')
    with servers.serving(target, manager.endpoints()) as srv:
        yield srv


@pytest.fixture
def nova(server, config):
    """A bare client of the 2.x methods, as any oslo.messaging program."""
    target = messaging.Target(topic=config.proxy.topic,
                              version=rpcapi.NOVA_API_VERSION)
    return messaging.get_rpc_client(
        rpc.get_transport(), target, timeout=10,
        serializer=rpc.RequestContextSerializer())
