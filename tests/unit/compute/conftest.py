"""Fixtures of the compute unit tests: a fake driver on a temporary
directory, and an in-process stack on the fake transport (a proxy serving
the SQLite ``db`` fixture, and a compute service whose shim calls it)."""

import threading

import oslo_messaging as messaging
import pytest

from nova_proxy.common import context as np_context
from nova_proxy.common import rpc
from nova_proxy.compute.db import _client as shim_client
from nova_proxy.compute import db_v1 as shim
from nova_proxy.compute import rpcapi
from nova_proxy.compute import service as compute_service
from nova_proxy.compute.virt import fake
from nova_proxy import conf
from nova_proxy.proxy import manager as proxy_manager

CONF = conf.CONF


@pytest.fixture
def driver(tmp_path, monkeypatch):
    monkeypatch.delenv('NOVA_PROXY_FAKE_FAIL_STEPS', raising=False)
    d = fake.FakeDriver('host1', str(tmp_path), vcpus=4, memory_mb=4096,
                        local_gb=40, copy_seconds=0.05)
    d.start()
    return d


class Stack:
    """A proxy and compute services in this process, on ``fake:/``."""

    def __init__(self):
        self.proxy = None
        self.computes = {}
        self.api = rpcapi.ComputeAPI(timeout=30)

    def start_proxy(self):
        # Only the database endpoints: the compute needs nothing else of a
        # proxy, and the unit tests stay independent of its other parts.
        self.proxy = rpc.get_server(
            messaging.Target(topic=CONF.proxy.topic, server='proxy1'),
            proxy_manager.endpoints())
        self.proxy.start()

    def start_compute(self, host):
        service = compute_service.ComputeService(host)
        service.start()
        self.computes[host] = service
        return service

    def stop(self):
        # Periodic tasks first, while the proxy still answers them; then
        # every server at once: stopping a server on the fake transport
        # takes about a second, wasted if done one after another.
        for service in self.computes.values():
            for task in service.tasks:
                task.stop()
        stops = [s.stop for s in self.computes.values()]
        if self.proxy is not None:
            stops.append(lambda: (self.proxy.stop(), self.proxy.wait()))
        threads = [threading.Thread(target=stop) for stop in stops]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        shim.reset()
        shim_client.reset()


@pytest.fixture
def pg_db(config, tmp_path_factory):
    """A migrated, empty PostgreSQL database.

    The stack runs the compute's periodic writers beside each operation's
    writes; on SQLite the DB layer's concurrent writers currently collide
    ("database is locked", a DB-layer issue outside this package), which
    would make these tests about SQLite rather than about the compute.
    """
    from nova_proxy.db import session as db_session
    from tests import conftest as top
    url = top._use_database('postgresql', tmp_path_factory)
    yield url
    db_session.dispose()


@pytest.fixture
def stack(pg_db, monkeypatch, tmp_path):
    """Both sides in one process, so the database guard is not engaged
    here (a subprocess test covers it)."""
    monkeypatch.delenv('NOVA_PROXY_FAKE_FAIL_STEPS', raising=False)
    monkeypatch.setattr(compute_service, 'block_database',
                        lambda: 'not blocked in unit tests')
    CONF.set_override('fake_copy_seconds', 0.1, group='compute')
    CONF.set_override('report_interval', 1, group='compute')
    CONF.set_override('resource_update_interval', 1, group='compute')
    CONF.set_override('sync_power_state_interval', 1, group='compute')
    shim.reset()
    shim_client.reset()
    s = Stack()
    s.start_proxy()
    yield s
    s.stop()


@pytest.fixture
def compute_context():
    return np_context.get_compute_context('host1')
