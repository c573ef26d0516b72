"""The two floors: a raw AMQP echo and a plain oslo.messaging echo.

Both servers run as their own process (``python -m nova_proxy.bench.echo
amqp|oslo ...``) so that their CPU is read apart from the caller's.

* raw AMQP (py-amqp): the server consumes one queue and publishes each
  body back to the caller's ``reply_to``; callers use RabbitMQ's direct
  reply-to (``amq.rabbitmq.reply-to``), one connection per caller thread.
  Bodies are JSON decoded and encoded on both sides, which any RPC must do.
* oslo.messaging: an RPC server on the threading executor with every option
  at its default; the endpoint returns its argument.
"""

import argparse
import json
import sys
import threading
import uuid

__all__ = ['AmqpEchoClient', 'AmqpEchoClients', 'OsloEchoClient',
           'echo_payload', 'OSLO_ECHO_SERVER']

REPLY_TO = 'amq.rabbitmq.reply-to'
# The oslo.messaging echo server's server name: its queue is
# ``<topic>.<name>``.
OSLO_ECHO_SERVER = 'echo'


def echo_payload():
    """What an echo call carries: the arguments of a typical
    ``instance_update`` (an instance uuid and a few values)."""
    return {'instance_uuid': str(uuid.uuid4()),
            'values': {'progress': 42, 'task_state': 'spawning',
                       'expected_task_state': None}}


def _amqp_connection(host, userid, password):
    import amqp
    conn = amqp.Connection(host=host, userid=userid, password=password,
                           heartbeat=0)
    conn.connect()
    return conn


def serve_amqp(host, userid, password, queue, prefetch):
    import amqp
    conn = _amqp_connection(host, userid, password)
    channel = conn.channel()
    channel.queue_declare(queue, auto_delete=True)
    channel.basic_qos(0, prefetch, False)

    def on_message(message):
        body = json.dumps(json.loads(message.body))
        channel.basic_publish(
            amqp.Message(body, correlation_id=message.correlation_id,
                         content_type='application/json'),
            exchange='', routing_key=message.reply_to)
        channel.basic_ack(message.delivery_tag)

    channel.basic_consume(queue, callback=on_message)
    print('ready', flush=True)
    while True:
        conn.drain_events()


class AmqpEchoClient:
    """One caller's connection to the raw echo server (not thread-safe:
    one per thread)."""

    def __init__(self, host, userid, password, queue):
        import amqp
        self._amqp = amqp
        self.queue = queue
        self.conn = _amqp_connection(host, userid, password)
        self.channel = self.conn.channel()
        self._reply = None
        self.channel.basic_consume(REPLY_TO, callback=self._on_reply,
                                   no_ack=True)

    def _on_reply(self, message):
        self._reply = message

    def call(self, payload, timeout=30):
        correlation_id = uuid.uuid4().hex
        self._reply = None
        self.channel.basic_publish(
            self._amqp.Message(json.dumps(payload), reply_to=REPLY_TO,
                               correlation_id=correlation_id,
                               content_type='application/json'),
            exchange='', routing_key=self.queue)
        while self._reply is None or \
                self._reply.correlation_id != correlation_id:
            self.conn.drain_events(timeout=timeout)
        return json.loads(self._reply.body)

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


class AmqpEchoClients:
    """Calls of the raw echo server from any thread: each thread that
    calls gets its own ``AmqpEchoClient`` (connection) on its first
    call. ``close()`` closes them all."""

    def __init__(self, host, userid, password, queue):
        self._args = (host, userid, password, queue)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients = []

    def call(self, payload):
        client = getattr(self._local, 'client', None)
        if client is None:
            client = AmqpEchoClient(*self._args)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client.call(payload)

    def close(self):
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()


class _EchoEndpoint:

    def echo(self, context, arg):
        return arg


def serve_oslo(url, exchange, topic):
    from nova_proxy import cmd  # noqa: F401  (threading backend)
    from oslo_config import cfg
    import oslo_messaging as messaging

    conf = cfg.CONF
    conf([], project='nova-compute-proxy-bench', default_config_files=[])
    messaging.set_transport_defaults(control_exchange=exchange)
    transport = messaging.get_rpc_transport(conf, url=url)
    server = messaging.get_rpc_server(
        transport, messaging.Target(topic=topic, server=OSLO_ECHO_SERVER),
        [_EchoEndpoint()], executor='threading')
    server.start()
    print('ready', flush=True)
    try:
        server.wait()
    finally:
        transport.cleanup()


class OsloEchoClient:
    """An oslo.messaging client of the echo server (thread-safe)."""

    def __init__(self, transport, topic):
        import oslo_messaging as messaging
        self.client = messaging.get_rpc_client(
            transport, messaging.Target(topic=topic), timeout=60)

    def call(self, payload):
        return self.client.call({}, 'echo', arg=payload)

    def close(self):
        """Nothing of its own to close: the transport is its maker's."""


def main(argv=None):
    parser = argparse.ArgumentParser(prog='nova_proxy.bench.echo')
    sub = parser.add_subparsers(dest='kind', required=True)
    a = sub.add_parser('amqp')
    a.add_argument('--host', default='127.0.0.1:5672')
    a.add_argument('--userid', default='guest')
    a.add_argument('--password', default='guest')
    a.add_argument('--queue', required=True)
    a.add_argument('--prefetch', type=int, default=64)
    o = sub.add_parser('oslo')
    o.add_argument('--url', required=True)
    o.add_argument('--exchange', required=True)
    o.add_argument('--topic', required=True)
    args = parser.parse_args(argv)
    if args.kind == 'amqp':
        serve_amqp(args.host, args.userid, args.password, args.queue,
                   args.prefetch)
    else:
        serve_oslo(args.url, args.exchange, args.topic)


if __name__ == '__main__':
    sys.exit(main())
