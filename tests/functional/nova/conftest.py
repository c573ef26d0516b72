"""The proof harness: nova's own objects, unchanged, on live proxies.

``nova`` (one run on PostgreSQL, one on MariaDB) gives the test two
``nova-compute-proxy`` processes on RabbitMQ and a migrated database,
with host keys and signed calls required, as a ``NovaProcess``. The
cluster (database, keys, proxies) lives once per backend for the test
session (``nova_cluster``; per xdist worker); before each test every
proxy answers a ping on its own queue (one that died or hangs is started
again) and the database's rows are deleted, but for the proxies' own
``KEPT_TABLES``: a test sees an empty database.

``nova.run(scenario, **kwargs)`` runs ``scenario`` (a module-level
function of the test module, ``scenario(context, host, **kwargs)``,
``host`` being the process's compute host) in a new nova object process
(``runner.py``): nova 34 configured from a nova.conf with no
``[database]`` and no conductor indirection,
``nova.objects.register_all()`` and ``nova_proxy.compute.db.nova.enable()``
done, signing with the key of compute host ``HOST`` (or ``host=OTHER_HOST``,
for rows of another host). The scenario asserts inside that process
(nova's exceptions are only there) and returns what the test checks beside
it (JSON). ``nova.control_plane(method, **kwargs)`` makes a 2.x call as the
proxies' control plane, for what a compute may not do (seeding a
migration, listing every host).

A test module per resource (``test_services.py``, ``test_instances.py``,
...); scenarios import nova inside their body: the test process has our
options on its CONF, which nova's would collide with.
"""

import json
import os
import subprocess
import sys

import oslo_messaging as messaging
import pytest
import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy.common import key_cli
from nova_proxy.common import keys as key_files
from nova_proxy.common import rpc
from nova_proxy.common import utils
from nova_proxy import conf
from nova_proxy.db import migration
from nova_proxy.proxy import rpcapi
from tests import databases
from tests.functional.nova import RESULT
from tests.functional import procs

# The runner is a module of this tree's tests package, wherever the
# test process was started from.
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))

CONF = conf.CONF

BACKENDS = ('postgresql', 'mysql')
PROXIES = ('proxy-a', 'proxy-b')
# The nova-compute host of the object process; OTHER_HOST has a key too.
HOST = 'nova-compute-1'
OTHER_HOST = 'nova-compute-2'
# Rows the proxies keep writing for themselves while they run (liveness,
# periodic task bookkeeping) and no scenario reads: kept between tests.
KEPT_TABLES = ('proxies', 'periodic_claims', 'periodic_runs')


class NovaProcess:
    """Runs scenarios in nova object processes for one cluster, and makes
    the control plane's calls (seeding what a compute may not create)."""

    def __init__(self, cluster, keys, backend, directory=None):
        """``directory``: where the nova object processes' configuration,
        state and locks go (the test's own; ``cluster.directory`` when
        not given)."""
        self.cluster = cluster
        self.keys = keys
        self.backend = backend
        self.directory = str(directory or cluster.directory)
        self._confs = {}

    def run(self, scenario, host=HOST, timeout=180, **kwargs):
        """Run ``scenario(context, host, **kwargs)`` in a nova object
        process of compute host ``host`` (``HOST`` or ``OTHER_HOST``, each
        signing with its own key); its return value, or a test failure
        with the process's output."""
        if host not in self._confs:
            self._confs[host] = _nova_conf(self.cluster, self.keys, host,
                                           self.directory)
        target = '%s:%s' % (scenario.__module__, scenario.__name__)
        result = subprocess.run(
            [sys.executable, '-W', 'ignore', '-m',
             'tests.functional.nova.runner', self._confs[host], target,
             json.dumps(kwargs)],
            capture_output=True, text=True, timeout=timeout,
            cwd=self.directory, env=dict(
                os.environ, PYTHONPATH=os.pathsep.join(
                    filter(None, [REPO, os.environ.get('PYTHONPATH')]))))
        output = result.stdout + result.stderr
        assert result.returncode == 0, '%s failed:\n%s' % (target, output)
        lines = [line for line in result.stdout.splitlines()
                 if line.startswith(RESULT)]
        assert lines, 'no result from %s:\n%s' % (target, output)
        return json.loads(lines[-1][len(RESULT):])

    def control_plane(self, method, **kwargs):
        """Call 2.x ``method`` as the control plane (signed with the
        proxies' key, so not confined to a host): JSON in, JSON out, the
        proxies' errors as ``nova_proxy.exception`` classes."""
        version = rpcapi.NOVA_METHODS[method][0]
        client = rpc.get_client(
            messaging.Target(topic=CONF.proxy.topic, version=version),
            timeout=30)
        return client.call(np_context.get_admin_context(), method,
                           **kwargs)


def _nova_conf(cluster, keys, host, directory, extra=None):
    """nova's configuration of an object process of ``host``: the
    broker, this host's key, the test's topic; nothing of a database.
    ``extra``: ``{group: {option: value}}`` added."""
    return utils.write_config(
        os.path.join(directory, 'nova-%s.conf' % host),
        procs.merge_options({
            'DEFAULT': {
                'host': host,
                'transport_url': procs.RABBIT_URL,
                'control_exchange': cluster.exchange,
                'state_path': os.path.join(directory,
                                           'nova-state-' + host),
                'debug': 'false',
            },
            'proxy': {'topic': cluster.topics['proxy']},
            'proxy_client': {
                'key_file': str(keys / (host + '.key')),
                'rpc_timeout': '30', 'retries': '1'},
            'oslo_concurrency': {
                'lock_path': os.path.join(directory,
                                          'nova-locks-' + host)},
            'oslo_messaging_rabbit': {'heartbeat_timeout_threshold': '0'},
        }, extra or {}))


class _Cluster:
    """The session's cluster of one backend: its database (``engine``),
    keys and the two proxies, revived when one died or stopped
    answering."""

    def __init__(self, backend, directory):
        self.backend = backend
        exchange, topics = procs.unique_names()
        self.cluster = procs.Cluster(directory, exchange=exchange,
                                     topics=topics)
        self.keys = directory / 'keys'
        self.engine = None
        self.proxies = {}
        # Proxies that answered once: a silence of theirs for
        # ``hang_timeout`` seconds is a hang.
        self.answered = set()
        self.hang_timeout = 30

    def start(self):
        self.cluster.db_url = databases.create_database(
            self.backend, self.cluster.directory)
        self.engine = sa.create_engine(self.cluster.db_url)
        migration.db_sync(engine=self.engine)
        for host in (HOST, OTHER_HOST):
            key_cli.create(host=host, directory=str(self.keys))
        key_cli.create(proxy=True, directory=str(self.keys))
        for name in PROXIES:
            self.start_proxy(name)

    def start_proxy(self, name, hung=False):
        old = self.proxies.get(name)
        if old is not None:
            if hung:
                # A hung (or stopped) proxy may not end on SIGTERM.
                old.kill()
            else:
                old.stop(timeout=10)
            self.cluster.processes.remove(old)
        self.answered.discard(name)
        self.proxies[name] = self.cluster.start('proxy', name, extra={
            'proxy': {'host_keys_dir': str(self.keys),
                      'require_signed_context': 'true'}})

    def stop(self):
        # Nothing may hold the database when it is dropped.
        for proc in reversed(self.cluster.processes):
            proc.stop(timeout=10)
        if self.engine is not None:
            self.engine.dispose()
        if self.cluster.db_url:
            databases.drop_database(self.cluster.db_url)

    def use(self):
        """Point this test's CONF (reset after each test) at the
        cluster: the broker, its exchange and topics, its keys."""
        procs.use_broker(CONF, self.cluster.exchange, self.cluster.topics)
        CONF.set_override('host_keys_dir', str(self.keys), group='proxy')
        key_files.reset()

    def ensure_proxies(self):
        """Every proxy answers a signed ping on its own queue; one that
        exited, or that answered before and is silent now, is started
        again (its log goes on in the same file)."""
        operator = rpcapi.ProxyAPI(timeout=10)
        for name in PROXIES:
            if not self.proxies[name].alive():
                self.start_proxy(name)
            try:
                self._wait_for(operator, name)
            except AssertionError:
                if name not in self.answered:
                    raise
                self.start_proxy(name, hung=True)
                self._wait_for(operator, name)
            self.answered.add(name)

    def _wait_for(self, operator, name):
        cctxt = operator.client.prepare(
            server=name, version=rpcapi.METHODS['ping'][0], timeout=2)
        try:
            procs.wait_for(
                lambda: cctxt.call(np_context.get_admin_context(), 'ping',
                                   arg='up') == 'up',
                timeout=self.hang_timeout if name in self.answered else 90,
                message='proxy %s to answer a signed ping' % name)
        except AssertionError as e:
            raise AssertionError('%s\n%s log (end):\n%s' % (
                e, name, self.proxies[name].log()[-4000:])) from None

    def wipe(self):
        databases.wipe(self.engine, keep=KEPT_TABLES)


@pytest.fixture(scope='session', params=BACKENDS)
def nova_cluster(request, tmp_path_factory):
    """One cluster per backend for the session (per xdist worker); it
    depends on no test's fixture (CONF is the test's, see ``use``)."""
    session = _Cluster(request.param,
                       tmp_path_factory.mktemp('nova-' + request.param))
    try:
        session.start()
        yield session
    finally:
        session.stop()


@pytest.fixture
def nova(nova_cluster, config, tmp_path):
    nova_cluster.use()
    nova_cluster.ensure_proxies()
    nova_cluster.wipe()
    # The test's own directory for nova's files: no state of an earlier
    # test's nova process.
    yield NovaProcess(nova_cluster.cluster, nova_cluster.keys,
                      nova_cluster.backend, directory=tmp_path)
