"""The proof harness: nova's own objects, unchanged, on live proxies.

``nova`` (one run on PostgreSQL, one on MariaDB) starts two
``nova-compute-proxy`` processes on RabbitMQ and a fresh, migrated
database, with host keys and signed calls required, and gives the test a
``NovaProcess``: ``nova.run(scenario, **kwargs)`` runs ``scenario`` (a
module-level function of the test module, ``scenario(context, host,
**kwargs)``, ``host`` being the process's compute host)
in a new nova object process (``runner.py``): nova 34 configured from a
nova.conf with no ``[database]`` and no conductor indirection,
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

from nova_proxy.common import auth
from nova_proxy.common import context as np_context
from nova_proxy.common import key_cli
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


class NovaProcess:
    """Runs scenarios in nova object processes for one cluster, and makes
    the control plane's calls (seeding what a compute may not create)."""

    def __init__(self, cluster, keys, backend):
        self.cluster = cluster
        self.keys = keys
        self.backend = backend
        self._confs = {}

    def run(self, scenario, host=HOST, timeout=180, **kwargs):
        """Run ``scenario(context, host, **kwargs)`` in a nova object
        process of compute host ``host`` (``HOST`` or ``OTHER_HOST``, each
        signing with its own key); its return value, or a test failure
        with the process's output."""
        if host not in self._confs:
            self._confs[host] = _nova_conf(self.cluster, self.keys, host)
        target = '%s:%s' % (scenario.__module__, scenario.__name__)
        result = subprocess.run(
            [sys.executable, '-W', 'ignore', '-m',
             'tests.functional.nova.runner', self._confs[host], target,
             json.dumps(kwargs)],
            capture_output=True, text=True, timeout=timeout,
            cwd=self.cluster.directory, env=dict(
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


def _nova_conf(cluster, keys, host):
    """nova's configuration of an object process of ``host``: the
    broker, this host's key, the test's topic; nothing of a database."""
    return utils.write_config(
        os.path.join(cluster.directory, 'nova-%s.conf' % host), {
            'DEFAULT': {
                'host': host,
                'transport_url': procs.RABBIT_URL,
                'control_exchange': cluster.exchange,
                'state_path': os.path.join(cluster.directory,
                                           'nova-state-' + host),
                'debug': 'false',
            },
            'proxy': {'topic': cluster.topics['proxy']},
            'proxy_client': {
                'key_file': str(keys / (host + '.key')),
                'rpc_timeout': '30', 'retries': '1'},
            'oslo_concurrency': {
                'lock_path': os.path.join(cluster.directory,
                                          'nova-locks-' + host)},
            'oslo_messaging_rabbit': {'heartbeat_timeout_threshold': '0'},
        })


@pytest.fixture(params=BACKENDS)
def nova(request, cluster, tmp_path):
    url = databases.create_database(request.param, tmp_path)
    engine = sa.create_engine(url)
    migration.db_sync(engine=engine)
    engine.dispose()
    cluster.db_url = url
    keys = tmp_path / 'keys'
    for host in (HOST, OTHER_HOST):
        key_cli.create(host=host, directory=str(keys))
    key_cli.create(proxy=True, directory=str(keys))
    for name in PROXIES:
        cluster.start('proxy', name, extra={'proxy': {
            'host_keys_dir': str(keys), 'require_signed_context': 'true'}})
    # This process waits for them as an operator (the proxy key).
    CONF.set_override('host_keys_dir', str(keys), group='proxy')
    auth.reset()
    operator = rpcapi.ProxyAPI(timeout=10)
    procs.wait_for(
        lambda: operator.ping(np_context.get_admin_context(), 'up',
                              timeout=2) == 'up',
        timeout=90, message='a proxy to answer a signed ping')
    yield NovaProcess(cluster, keys, request.param)
    for proc in reversed(cluster.processes):
        proc.stop(timeout=10)
    databases.drop_database(url)
