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


# -- pause_serving / resume_serving, on the fake driver --------------------

class _Echo:
    target = service.make_target('t', version='1.0')

    @rpc.remotable
    def ping(self, context, arg: str):
        return arg


class _EchoService(service.RPCService):

    built = 0

    def _target(self):
        return service.make_target('pause-topic', server='pause-server')

    def _endpoints(self):
        type(self).built += 1
        return [_Echo()]


def _ping(arg, timeout=5):
    client = rpc.get_client(service.make_target('pause-topic',
                                                version='1.0'))
    return client.prepare(timeout=timeout).call({}, 'ping', arg=arg)


@pytest.fixture
def echo_service(config):
    _EchoService.built = 0
    svc = _EchoService('host-1')
    svc.start()
    yield svc
    svc.stop()


def test_a_paused_service_takes_no_calls_and_serves_again_on_resume(
        echo_service):
    import oslo_messaging as messaging
    assert _ping('before') == 'before'
    assert echo_service.pause_serving()
    assert echo_service.rpcserver is None
    with pytest.raises(messaging.MessagingTimeout):
        _ping('paused', timeout=0.5)
    assert echo_service.resume_serving()
    assert _ping('after') == 'after'
    # The same endpoints serve again: nothing they hold is built twice.
    assert _EchoService.built == 1


def test_pause_and_resume_say_whether_they_changed_anything(echo_service):
    assert not echo_service.resume_serving()
    assert echo_service.pause_serving()
    assert not echo_service.pause_serving()
    assert echo_service.resume_serving()


def test_a_stopped_service_is_not_resumed(echo_service):
    echo_service.pause_serving()
    echo_service.stop()
    assert not echo_service.resume_serving()
    assert echo_service.rpcserver is None
