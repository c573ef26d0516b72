"""Functional fixtures: the real RabbitMQ and real processes.

``rabbit``: per-test names on the broker at 127.0.0.1:5672, and CONF
pointed at them: an exchange (``control_exchange``) AND topics
(``[proxy] topic``, ``[compute] topic``). The exchange alone does not
isolate: oslo.messaging's rabbit driver names a topic's queue after the
topic only, so two test runs on one broker with the same topic would share
one queue (and serve each other's calls from the wrong database). The
broker deletes the topics' queues once unused for 30 minutes
(``procs.TEST_QUEUE_POLICY``).
``cluster``: starts ``nova-compute-proxy`` and
``nova-compute-proxy-compute`` processes with generated config files and
stops them (SIGKILL if they do not stop) at the end.
``pg_cluster``: a ``cluster`` on a fresh PostgreSQL database that this
test process reads and writes too.
``signed_cluster``: a ``pg_cluster`` with one proxy requiring signed
calls, keys for compute-1, compute-2 and the proxies, and this process
an operator (the proxy key).
"""

import pytest

from nova_proxy.common import context as np_context
from nova_proxy.common import key_cli
from nova_proxy.common import keys as key_files
from nova_proxy import conf
from nova_proxy.proxy import rpcapi as proxy_rpcapi
from tests.functional import periodic_fixtures as pf
from tests.functional import procs

CONF = conf.CONF

RABBIT_URL = procs.RABBIT_URL


@pytest.fixture(scope='session', autouse=True)
def test_queues_expire():
    """The queues the tests declare are deleted by the broker once unused
    (``procs.TEST_QUEUE_POLICY``): whether the policy could be set."""
    return procs.expire_test_queues()


@pytest.fixture
def rabbit(config):
    exchange, topics = procs.unique_names()
    procs.use_broker(CONF, exchange, topics)
    yield exchange


@pytest.fixture
def cluster(rabbit, tmp_path):
    """A ``procs.Cluster`` on this test's exchange; ``db_url`` is set by
    the test (``cluster.db_url = ...``) before starting processes."""
    c = procs.Cluster(tmp_path, exchange=rabbit,
                      topics={'proxy': CONF.proxy.topic,
                              'compute': CONF.compute.topic})
    yield c
    c.stop_all()


@pytest.fixture
def pg_cluster(cluster, tmp_path):
    """``cluster`` on a fresh, migrated PostgreSQL database, this process
    pointed at it too; dropped at the end."""
    cluster.db_url = pf.postgresql(tmp_path)
    yield cluster
    # Last started first: a compute whose proxy is gone waits on its
    # calls; and nothing may hold the database when it is dropped.
    for proc in reversed(cluster.processes):
        proc.stop(timeout=10)
    pf.drop(cluster.db_url)


@pytest.fixture
def signed_cluster(pg_cluster, tmp_path):
    """``(pg_cluster, keys directory, proxy process, operator ProxyAPI)``."""
    keys = tmp_path / 'keys'
    for host in ('compute-1', 'compute-2'):
        key_cli.create(host=host, directory=str(keys))
    key_cli.create(proxy=True, directory=str(keys))
    proxy = pg_cluster.start('proxy', 'proxy-a', extra={'proxy': {
        'host_keys_dir': str(keys), 'require_signed_context': 'true'}})
    # This process is an operator until a test says otherwise.
    CONF.set_override('host_keys_dir', str(keys), group='proxy')
    CONF.set_override('retries', 0, group='proxy_client')
    key_files.reset()
    operator = proxy_rpcapi.ProxyAPI(timeout=10)
    admin = np_context.get_admin_context()
    procs.wait_for(lambda: operator.ping(admin, 'up', timeout=2) == 'up',
                   timeout=60, message='the proxy to answer a signed ping')
    yield pg_cluster, keys, proxy, operator
