"""An RPC server of ours (``rpc.get_server``, the proxy's executor) whose
calls with ``wait=True`` never end: ``python -m tests.functional.gated_server
EXCHANGE TOPIC THREADS``. It prints ``ready`` once serving, then one
``running <n>`` line per call it starts. A test kills it (SIGKILL) to
see what a crashed proxy loses (test_hand_over.py)."""

import sys
import threading


def main(exchange, topic, threads):
    from nova_proxy import cmd  # noqa: F401  (threading backend first)
    import oslo_messaging as messaging
    from oslo_messaging import conffixture

    from nova_proxy.common import rpc
    from nova_proxy import conf
    from tests.functional import procs

    CONF = conf.CONF
    rpc.set_defaults()  # the proxy's prefetch
    rpc.set_executor_threads_default(threads)
    CONF([], project='nova-compute-proxy', default_config_files=[])
    conffixture.ConfFixture(CONF).setUp()  # registers transport_url
    procs.use_broker(CONF, exchange, {'proxy': topic})
    # The test process calls unsigned, as the other tests on this broker.
    CONF.set_override('require_signed_context', False, group='proxy')
    rpc.init()
    lock = threading.Lock()
    started = []

    class Endpoint:
        target = messaging.Target(version='1.0')

        @rpc.remotable
        def where(self, context, wait: bool = False):
            with lock:
                started.append(1)
                print('running %d' % len(started), flush=True)
            if wait:
                threading.Event().wait()
            return len(started)

    server = rpc.get_server(messaging.Target(topic=topic, server='gated'),
                            [Endpoint()], executor='receiver-first')
    server.start()
    print('ready', flush=True)
    threading.Event().wait()


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
