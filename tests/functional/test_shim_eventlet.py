"""The shim in a threaded process and in an eventlet-monkey-patched one
(as nova-compute still is), against a real proxy on the real RabbitMQ.

Each mode runs ``shim_client.py`` in its own process: many concurrent
workers (greenthreads or threads) write their own instance, read a shared
one, and race for the shared one's task_state with a compare-and-swap.
"""

import json
import os
import subprocess
import sys

import pytest

from nova_proxy.common import context as np_context
from nova_proxy import conf
from nova_proxy.db import api as db
from tests.functional import test_compute_service as common

CONF = conf.CONF

WORKERS = 40
CALLS = 4
CLIENT = os.path.join(os.path.dirname(__file__), 'shim_client.py')


@pytest.mark.parametrize('mode', ['eventlet', 'threading'])
def test_shim_under_concurrency(pg_cluster, mode):
    ctx = np_context.get_admin_context()
    proxy = pg_cluster.start('proxy', 'proxy-a')
    common.wait_for_proxy()
    make = lambda: db.instance_create(ctx, {  # noqa: E731
        'host': 'shim-host', 'vm_state': 'active'})['uuid']
    shared = make()
    own = [make() for _ in range(WORKERS)]
    # The client's config: the cluster's broker, exchange and topics.
    config = pg_cluster.write_config(
        'shim-host', {'proxy_client': {'rpc_timeout': '30'}})
    spec = {'mode': mode, 'config': config, 'host': 'shim-host',
            'shared': shared, 'own': own, 'calls': CALLS}
    env = dict(os.environ)
    # The client must start as a compute would, not as pytest does.
    env.pop('PYTHONWARNINGS', None)
    result = subprocess.run(
        [sys.executable, '-W', 'ignore', CLIENT, json.dumps(spec)],
        capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report['errors'] == []
    assert report['calls'] == WORKERS * (1 + 2 * CALLS + 1)
    if mode == 'eventlet':
        assert report['monkey_patched'] is True
        # The shim left oslo.service's backend alone (nova-compute's
        # choice), unlike our own console scripts.
        assert report['backend'] == report['default_backend']
    else:
        assert report['monkey_patched'] is False
        assert report['backend'] == 'THREADING'
    # Calls really overlapped: the shim does not serialise its callers.
    assert report['max_in_flight'] > 1
    # Exactly one compare-and-swap won, and the database agrees.
    assert len(report['wins']) == 1
    assert report['losses'] == WORKERS - 1
    assert db.instance_get_by_uuid(ctx, shared)['task_state'] == \
        report['wins'][0]
    # No update was lost.
    for index, uuid in enumerate(own):
        assert db.instance_get_by_uuid(ctx, uuid)['display_name'] == \
            'w%d-%d' % (index, CALLS - 1)
    assert proxy.alive()
