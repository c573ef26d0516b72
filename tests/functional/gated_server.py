"""An RPC server of ours (``rpc.get_server``, the proxy's executor) whose
calls with ``wait=True`` wait until the process gets SIGUSR1::

    python -m tests.functional.gated_server EXCHANGE TOPIC THREADS \
        [--heartbeat SECONDS] [--server oslo.messaging|direct]

``--heartbeat`` is the rabbit ``heartbeat_timeout_threshold``
(oslo.messaging's default if left out); ``--server`` the kind of RPC
server (``[proxy] rpc_server``; oslo.messaging's with the proxy's
``receiver-first`` executor if left out). It prints ``ready`` once
serving, then ``running <n>`` as it starts the n-th call. The tests of
test_hand_over.py kill it or hold its threads."""

import argparse
import signal
import threading


def main(exchange, topic, threads, heartbeat=None,
         server_kind='oslo.messaging'):
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
    if heartbeat is not None:
        CONF.set_override('heartbeat_timeout_threshold', heartbeat,
                          group='oslo_messaging_rabbit')
    # The test process calls unsigned, as the other tests on this broker.
    CONF.set_override('require_signed_context', False, group='proxy')
    rpc.init()
    lock = threading.Lock()
    gate = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *args: gate.set())
    started = []

    class Endpoint:
        target = messaging.Target(version='1.0')

        @rpc.remotable
        def where(self, context, wait: bool = False):
            with lock:
                started.append(1)
                count = len(started)
                print('running %d' % count, flush=True)
            if wait:
                gate.wait()
            return count

    server = rpc.get_server(messaging.Target(topic=topic, server='gated'),
                            [Endpoint()], executor='receiver-first',
                            server=server_kind)
    server.start()
    print('ready', flush=True)
    threading.Event().wait()


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('exchange')
    parser.add_argument('topic')
    parser.add_argument('threads', type=int)
    parser.add_argument('--heartbeat', type=int)
    parser.add_argument('--server', default='oslo.messaging')
    args = parser.parse_args()
    main(args.exchange, args.topic, args.threads, args.heartbeat,
         args.server)
