"""``RPCService``: a stop while the RPC server is still connecting."""

import threading
import time

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
