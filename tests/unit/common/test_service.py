"""``RPCService``: a stop while the RPC server is still connecting; the
name each program logs under."""

import os
import subprocess
import sys
import threading
import time

import pytest

from nova_proxy.common import rpc
from nova_proxy.common import service


class _ConnectingForever:
    """An RPC server whose start waits for a broker that never answers;
    oslo.messaging's stop() would wait for that start."""

    def __init__(self):
        self.starting = threading.Event()
        self.stopped = False

    def start(self):
        self.starting.set()
        threading.Event().wait(60)

    def stop(self):
        self.stopped = True
        threading.Event().wait(60)

    def wait(self):
        pass


class _Service(service.RPCService):

    def _target(self):
        return service.make_target('t')

    def _endpoints(self):
        return []


def test_a_stop_during_start_does_not_wait_for_the_broker(monkeypatch):
    server = _ConnectingForever()
    monkeypatch.setattr(rpc, 'get_server', lambda target, endpoints: server)
    svc = _Service('host-1')
    threading.Thread(target=svc.start, daemon=True).start()
    assert server.starting.wait(10)
    started = time.monotonic()
    svc.stop()
    assert time.monotonic() - started < 5
    assert not server.stopped


# In a process of its own: the program parses the global CONF (already
# parsed in this one) and the compute blocks database access for good.
_SHOW_LOG_NAME = """
import sys
from oslo_log import log
def setup(conf, product_name, *args, **kwargs):
    print(product_name)
    raise SystemExit(0)
log.setup = setup
import importlib
importlib.import_module('nova_proxy.cmd.' + sys.argv[1]).main(sys.argv[1:])
"""


@pytest.mark.parametrize('module, program', [
    ('compute', 'nova-compute-proxy-compute'),
    ('manage', 'nova-compute-proxy-manage'),
    ('proxy', 'nova-compute-proxy'),
])
def test_each_program_logs_under_its_own_name(tmp_path, module, program):
    argv = ['db', 'version'] if module == 'manage' else []
    result = subprocess.run(
        [sys.executable, '-W', 'ignore', '-c', _SHOW_LOG_NAME, module,
         '--config-file', os.devnull] + argv,
        capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [program]
