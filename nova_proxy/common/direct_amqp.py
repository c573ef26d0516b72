"""The broker side of ``direct_rpc``: connections, queues and replies,
with py-amqp and oslo.messaging's own settings.

``direct_rpc`` serves calls that oslo.messaging clients send, so what it
declares and how it connects follow oslo.messaging's rabbit driver, read
from the same options:

* the broker's hosts, user, password and virtual host come from
  ``transport_url`` (every host of it, shuffled once per process as the
  driver does, then tried in turn);
* the heartbeat is ``heartbeat_timeout_threshold`` (sent
  ``heartbeat_rate`` times per timeout), the login method
  ``rabbit_login_method``, the reconnection intervals
  ``rabbit_retry_interval``, ``rabbit_retry_backoff`` and
  ``rabbit_interval_max``;
* the exchanges and queues of an RPC server are declared as the driver
  declares them (``declarations()``): the topic queue, the server's own
  queue and its fan-out queue, with the durability, auto-delete, HA,
  quorum and TTL arguments the driver's ``_get_queue_arguments`` gives,
  so that a queue one of oslo.messaging's servers declared first is the
  same queue, and the other way round (a rolling change of
  ``[proxy] rpc_server``);
* TLS is set up as the driver sets it up (``ssl``, ``ssl_ca_file``,
  ``ssl_cert_file``, ``ssl_key_file``, ``ssl_version``), and query
  parameters of ``transport_url`` override these options as for the
  driver.

What it cannot do yet is refused at start, in one line
(``unsupported()``): stream fan-out queues, oslo.messaging's queue
manager, compressed messages, oslo.messaging's tracing, a transport
other than RabbitMQ.
"""

import collections
import json
import os
import random
import sys
import threading
import time
import uuid

import amqp
from oslo_config import cfg
from oslo_log import log as logging
from oslo_serialization import jsonutils

from nova_proxy.common import amqp_guard

LOG = logging.getLogger(__name__)

__all__ = ['Broker', 'Declaration', 'declarations', 'unsupported',
           'ReplyPublisher', 'Undeliverable', 'RECOVERABLE']

# Errors after which a connection is dropped and made again: the broker
# went away, closed the connection or a channel, cancelled a consumer,
# or a heartbeat was missed.
RECOVERABLE = (OSError, amqp.exceptions.AMQPError, ConnectionError,
               EOFError, AttributeError, amqp.exceptions.MessageNacked)

ENVELOPE_VERSION = '2.0'

# The warning of a proxy started with no prefetch limit, and of the
# upgrade check that sees one coming.
UNLIMITED_PREFETCH = (
    '[oslo_messaging_rabbit] rabbit_qos_prefetch_count is 0 (no limit): '
    'a proxy on the direct RPC server holds every call the broker offers '
    'it, unacknowledged, however busy its threads are, and a paused or '
    'stuck proxy keeps its share of the queue (docs/operations.rst, '
    '"Prefetch"). Set it to a few calls per thread.')


class Undeliverable(Exception):
    """A reply the broker returned: its queue does not exist."""


def _options(conf):
    """``(TransportURL, [oslo_messaging_rabbit] options)`` as the rabbit
    driver reads them: query parameters of ``transport_url`` override
    the options of the same name."""
    import oslo_messaging as messaging
    from oslo_messaging._drivers import common as driver_common
    url = messaging.TransportURL.parse(conf, conf.transport_url)
    proxy = driver_common.ConfigOptsProxy(conf, url, 'oslo_messaging_rabbit')
    return url, proxy.oslo_messaging_rabbit


def unsupported_transport(conf):
    """Why ``direct_rpc`` cannot serve the transport of ``conf``, in one
    line, or None. Needs no driver loaded (``transport_url`` must be
    registered)."""
    # Unset, oslo.messaging's default driver is rabbit's.
    scheme = (conf.transport_url or 'rabbit:').split(':', 1)[0]
    if scheme not in ('rabbit', 'kombu+rabbit'):
        return ('[proxy] rpc_server = direct serves RabbitMQ only and '
                'transport_url is %s://: use rpc_server = oslo.messaging'
                % scheme)
    return None


def unsupported(conf):
    """Why ``direct_rpc`` cannot serve with ``conf``, in one line, or
    None. The rabbit driver's options must be registered (a transport
    of ``conf`` made) unless the transport is not RabbitMQ's."""
    problem = unsupported_transport(conf)
    if problem is not None:
        return problem
    _, rabbit = _options(conf)
    for option in ('rabbit_stream_fanout', 'use_queue_manager',
                   'kombu_compression'):
        if getattr(rabbit, option, None):
            return ('[proxy] rpc_server = direct does not support '
                    '[oslo_messaging_rabbit] %s yet: use rpc_server = '
                    'oslo.messaging' % option)
    if _tracing_enabled(conf):
        return ('[proxy] rpc_server = direct does not trace the calls it '
                'serves ([oslo_messaging_tracing] tracing_enabled): use '
                'rpc_server = oslo.messaging')
    return None


def prefetch_count(conf):
    """``rabbit_qos_prefetch_count`` as the driver reads it (a query
    parameter of ``transport_url`` included)."""
    return _options(conf)[1].rabbit_qos_prefetch_count


def _tracing_enabled(conf):
    # oslo.messaging registers its tracing options when its RPC server
    # is imported, and on the global configuration only.
    try:
        return bool(conf.oslo_messaging_tracing.tracing_enabled)
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
        return False


def _ssl(rabbit, url):
    """py-amqp's ``ssl`` argument, as the driver's ``_fetch_ssl_params``
    gives it to kombu."""
    if not rabbit.ssl:
        return None
    import ssl

    from oslo_messaging._drivers import impl_rabbit
    params = {}
    if rabbit.ssl_version:
        params['ssl_version'] = impl_rabbit.Connection.validate_ssl_version(
            rabbit.ssl_version)
    if rabbit.ssl_key_file:
        params['keyfile'] = rabbit.ssl_key_file
    if rabbit.ssl_cert_file:
        params['certfile'] = rabbit.ssl_cert_file
    if rabbit.ssl_ca_file:
        params['ca_certs'] = rabbit.ssl_ca_file
        params['cert_reqs'] = ssl.CERT_REQUIRED
        params['server_hostname'] = (url.hosts[0].hostname
                                     if len(url.hosts) == 1 else None)
    return params or True


class Broker:
    """Where and how to connect: the hosts of ``transport_url`` with
    oslo.messaging's rabbit options."""

    def __init__(self, conf):
        url, rabbit = _options(conf)
        self.hosts = []
        for host in url.hosts or [None]:
            self.hosts.append({
                'host': '%s:%s' % ((host and host.hostname) or 'localhost',
                                   (host and host.port) or 5672),
                'userid': (host and host.username) or 'guest',
                'password': (host and host.password) or 'guest',
                'virtual_host': url.virtual_host or '/',
            })
        # As the driver: a fresh order of the hosts in each process, so
        # that the proxies spread over them.
        random.shuffle(self.hosts)
        self.ssl = _ssl(rabbit, url)
        self.heartbeat = max(0, rabbit.heartbeat_timeout_threshold)
        # Heartbeats sent per heartbeat timeout (py-amqp's ``rate``).
        self.heartbeat_rate = rabbit.heartbeat_rate
        self.login_method = rabbit.rabbit_login_method
        self.interval_start = max(rabbit.rabbit_retry_interval, 0.1)
        self.interval_step = rabbit.rabbit_retry_backoff
        self.interval_max = rabbit.rabbit_interval_max
        self.prefetch = rabbit.rabbit_qos_prefetch_count
        self.missing_reply_timeout = \
            rabbit.kombu_missing_consumer_retry_timeout
        # How long a publish waits for the broker's confirm before its
        # connection is taken for lost: the driver's socket timeout
        # around a publish.
        self.confirm_timeout = self.heartbeat or 60
        self.rabbit = rabbit
        self._next = 0
        self._lock = threading.Lock()

    def describe(self):
        return ', '.join(h['host'] for h in self.hosts)

    def connect(self, name):
        """One connection to the next host (round robin), connected,
        named as the driver names its own (``<program>:<pid>:<name>``,
        what ``rabbitmqctl list_connections`` shows).
        :raises: what py-amqp raises when it cannot."""
        with self._lock:
            host = self.hosts[self._next % len(self.hosts)]
            self._next += 1
        conn = amqp.Connection(
            connect_timeout=10, heartbeat=self.heartbeat, ssl=self.ssl,
            on_blocked=_on_blocked, on_unblocked=_on_unblocked,
            login_method=self.login_method,
            client_properties={'connection_name': '%s:%d:%s' % (
                                   os.path.basename(sys.argv[0]),
                                   os.getpid(), name),
                               'capabilities': {
                                   'authentication_failure_close': True,
                                   'connection.blocked': True,
                                   'consumer_cancel_notify': True}},
            **host)
        conn.connect()
        return conn

    def intervals(self):
        """Seconds to wait between two failed attempts: the driver's
        growing intervals, forever."""
        interval = self.interval_start
        while True:
            yield interval
            interval = min(interval + self.interval_step, self.interval_max)


def _on_blocked(reason):
    LOG.error('The broker has blocked the connection: %s', reason)


def _on_unblocked():
    LOG.info('The broker has unblocked the connection')


Declaration = collections.namedtuple('Declaration', [
    'exchange', 'exchange_type', 'exchange_durable', 'exchange_auto_delete',
    'queue', 'queue_durable', 'queue_auto_delete', 'queue_arguments',
    'routing_key', 'consumer_arguments'])


def declarations(rabbit, exchange, topic, server):
    """What an oslo.messaging RPC server of ``topic`` and ``server``
    declares on ``exchange``, with the driver's options ``rabbit``
    (``Broker.rabbit``): its ``Consumer`` objects' values, built by the
    driver's own code (``impl_rabbit.Consumer``), not declared."""
    from oslo_messaging._drivers import impl_rabbit
    quorum = impl_rabbit.QuorumMemConfig(
        rabbit.rabbit_quorum_delivery_limit,
        rabbit.rabbit_quorum_max_memory_length,
        rabbit.rabbit_quorum_max_memory_bytes)
    durable = rabbit.amqp_durable_queues or rabbit.rabbit_quorum_queue
    common = dict(rabbit_ha_queues=rabbit.rabbit_ha_queues,
                  enable_cancel_on_failover=rabbit.enable_cancel_on_failover,
                  rabbit_quorum_queue_config=quorum, callback=None)
    consumers = [
        impl_rabbit.Consumer(
            exchange_name=exchange, queue_name=name, routing_key=name,
            type='topic', durable=durable,
            exchange_auto_delete=rabbit.amqp_auto_delete,
            queue_auto_delete=rabbit.amqp_auto_delete,
            rabbit_quorum_queue=rabbit.rabbit_quorum_queue, **common)
        for name in (topic, '%s.%s' % (topic, server))]
    transient = rabbit.rabbit_transient_quorum_queue
    consumers.append(impl_rabbit.Consumer(
        exchange_name='%s_fanout' % topic,
        queue_name='%s_fanout_%s' % (topic, _unique()),
        routing_key=topic, type='fanout', durable=transient,
        exchange_auto_delete=True, queue_auto_delete=False,
        rabbit_queue_ttl=rabbit.rabbit_transient_queues_ttl,
        rabbit_quorum_queue=transient, **common))
    result = []
    for consumer in consumers:
        result.append(Declaration(
            exchange=consumer.exchange_name, exchange_type=consumer.type,
            exchange_durable=consumer.exchange.durable,
            exchange_auto_delete=consumer.exchange.auto_delete,
            queue=consumer.queue_name, queue_durable=consumer.durable,
            queue_auto_delete=consumer.queue_auto_delete,
            queue_arguments=consumer.queue_arguments,
            routing_key=consumer.routing_key,
            consumer_arguments=({'x-cancel-on-ha-failover': True}
                                if consumer.enable_cancel_on_failover
                                else None)))
    return result


def _unique():
    return uuid.uuid4().hex


def declare(channel, declaration, reopen):
    """Declare the exchange and queue of ``declaration`` on ``channel``
    and bind them, with the driver's two fall-backs (``impl_rabbit.
    Consumer.declare``) when the broker refuses:

    * ``PRECONDITION_FAILED - inequivalent arg 'durable'``: another
      service declared the (control) exchange or the queue with the other
      durability first; declared again non-durable, as the driver does;
    * ``NOT_FOUND`` (a non-durable queue whose node is down or
      unresponsive, or an exchange deleted under the bind): the queue is
      deleted and declared again, so that it moves to a live node. As
      with the driver, calls still in a queue deleted so are lost (on
      a node that does not answer, they were out of reach already).

    The broker closes a channel that it refused something on:
    ``reopen(closed)`` gives a new one.

    :returns: the channel the queue is now declared on.
    """
    try:
        _declare(channel, declaration)
        return channel
    except amqp.exceptions.PreconditionFailed as e:
        if "inequivalent arg 'durable'" not in str(e):
            raise
        LOG.warning('Queue %s could not be declared as configured, '
                    'probably because another service declared it or its '
                    'exchange %s otherwise (%s): declaring both '
                    'non-durable, as oslo.messaging does; make '
                    '[oslo_messaging_rabbit] amqp_durable_queues the same '
                    'on every service of the exchange',
                    declaration.queue, declaration.exchange, e)
        declaration = declaration._replace(
            exchange_durable=False,
            exchange_auto_delete=declaration.queue_auto_delete,
            queue_durable=False)
    except amqp.exceptions.NotFound as e:
        LOG.warning('Queue %s could not be declared (%s): it may be stuck '
                    'on a node that does not answer. Deleting it and '
                    'declaring it again.', declaration.queue, e)
        channel = reopen(channel)
        try:
            channel.queue_delete(declaration.queue)
        except amqp.exceptions.ChannelError as e:
            LOG.warning('Could not delete queue %s (%s); declaring it '
                        'again all the same', declaration.queue, e)
            channel = reopen(channel)
        _declare(channel, declaration)
        return channel
    channel = reopen(channel)
    _declare(channel, declaration)
    return channel


def _declare(channel, d):
    channel.exchange_declare(d.exchange, d.exchange_type,
                             durable=d.exchange_durable,
                             auto_delete=d.exchange_auto_delete)
    channel.queue_declare(d.queue, durable=d.queue_durable,
                          auto_delete=d.queue_auto_delete,
                          arguments=d.queue_arguments or None)
    channel.queue_bind(d.queue, d.exchange, routing_key=d.routing_key)


def reply_body(msg_id, result=None, failure=None, ending=True):
    """The body of a reply as oslo.messaging's rabbit driver sends it:
    the 2.0 envelope around ``result``, ``failure`` (already serialized,
    as ``serialize_remote_exception`` gives it) and ``ending``."""
    inner = jsonutils.dumps({'result': result, 'failure': failure,
                             'ending': ending, '_msg_id': msg_id,
                             '_unique_id': uuid.uuid4().hex})
    return json.dumps({'oslo.version': ENVELOPE_VERSION,
                       'oslo.message': inner}).encode('utf-8')


class ReplyPublisher:
    """Publishes replies on a connection of its own, each confirmed by
    the broker (mandatory: a reply to a queue that does not exist raises
    ``Undeliverable``). One per worker thread of a server (a confirm is a
    round trip: one publisher for all would serve one reply per round
    trip); a lock guards it from ``tick()``, which keeps the idle
    connection alive.

    A publish that fails on a broken connection is made again on a new
    one, at the driver's intervals, until the deadline the caller gives,
    as the driver's retry would (a reply that reached the broker before
    the failure may then arrive twice: the caller drops the second)."""

    def __init__(self, broker, name):
        self.broker = broker
        self.name = name
        self._lock = threading.Lock()
        self._conn = None
        self._channel = None
        self._returned = None

    def _open(self):
        conn = self.broker.connect(self.name)
        try:
            channel = conn.channel()
            channel.confirm_select()
            channel.events['basic_return'].add(self._on_return)
        except BaseException:
            _close_quietly(conn)
            raise
        self._conn, self._channel = conn, channel

    def _on_return(self, error, exchange, routing_key, message):
        self._returned = (error, routing_key)

    def _drop(self):
        """Under the lock: forget a broken connection."""
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            _collect_quietly(conn)

    def publish(self, reply_q, body, deadline):
        """Publish ``body`` to queue ``reply_q``, trying until
        ``deadline`` (monotonic) while the broker cannot be reached.
        :raises: Undeliverable; the last connection error past the
            deadline."""
        message = amqp.Message(body, content_type='application/json',
                               content_encoding='utf-8')
        intervals = self.broker.intervals()
        while True:
            with self._lock:
                try:
                    if self._conn is None:
                        self._open()
                    self._returned = None
                    # A broker that takes the message but never confirms
                    # it (wedged, or blocked by an alarm) times out: the
                    # connection is then taken for lost.
                    self._channel.basic_publish_confirm(
                        message, exchange='', routing_key=reply_q,
                        mandatory=True,
                        confirm_timeout=self.broker.confirm_timeout)
                    returned = self._returned
                    if returned is None:
                        return
                except RECOVERABLE as e:
                    error = e
                    self._drop()
                else:
                    raise Undeliverable('%s: %s' % returned)
            if time.monotonic() >= deadline:
                raise error
            LOG.debug('Reply to %s not published yet: %s', reply_q, error)
            time.sleep(min(next(intervals),
                           max(deadline - time.monotonic(), 0)))

    def tick(self):
        """Keep the connection alive while idle: read what came (a
        heartbeat) and send one when due. Never waits for the lock."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            if self._conn is None:
                return
            try:
                _read_what_came(self._conn)
                self._conn.heartbeat_tick(rate=self.broker.heartbeat_rate)
            except RECOVERABLE as e:
                LOG.debug('Reply connection dropped: %s', e)
                self._drop()
        finally:
            self._lock.release()

    def close(self):
        with self._lock:
            conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            _close_quietly(conn)


def _read_what_came(conn, at_most=1000):
    """Let ``conn`` handle the frames that have arrived, without
    waiting (``amqp_guard.read_what_has_come``)."""
    transport = conn.transport
    sock = getattr(transport, 'sock', None)
    if sock is None:
        raise ConnectionError('the connection is closed')
    amqp_guard.read_what_has_come(conn, transport, sock, conn, at_most)


def _close_quietly(conn):
    try:
        conn.close()
    except Exception:
        try:
            conn.collect()
        except Exception:
            pass


def _collect_quietly(conn):
    """Close a broken connection's socket, with no AMQP handshake (which
    could wait on a connection that no longer answers)."""
    try:
        conn.collect()
    except Exception:
        pass
