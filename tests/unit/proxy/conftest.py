"""A proxy's endpoints behind a real RPC server on the fake driver."""

import oslo_messaging as messaging
import pytest

from nova_proxy.proxy import manager
from tests.unit import servers


@pytest.fixture
def server(db, config):
    target = messaging.Target(topic=config.proxy.topic, server='proxy-1')
    with servers.serving(target, manager.endpoints()) as srv:
        yield srv
