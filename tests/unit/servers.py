"""RPC servers for unit tests, on the test transport (``fake:/``)."""

import contextlib
import threading

from nova_proxy.common import rpc


@contextlib.contextmanager
def serving(target, endpoints):
    """Serve ``endpoints`` on ``target`` for the block."""
    rpc.init()
    server = rpc.get_server(target, endpoints)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        # wait() only joins the executor's idle workers, which notice the
        # shutdown on a one-second poll: let them go without holding the
        # test.
        threading.Thread(target=server.wait, daemon=True).start()
