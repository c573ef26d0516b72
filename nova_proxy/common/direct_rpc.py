"""An RPC server of our own for the proxies (``[proxy] rpc_server =
direct``, the default): oslo.messaging's rabbit wire format, read and
answered with py-amqp, without oslo.messaging's server, listener and
driver objects in between.

Why: oslo.messaging's server side costs most of a proxy's CPU per call.
An oslo.messaging echo server spent 647 to 1,190 us of CPU per call on
the development machine; a py-amqp server doing what it does for a call
(decode the envelope and context, hand the call to a worker thread,
acknowledge it, publish the reply and wait for the broker's confirm) 320
to 330 us, in the same run (docs/benchmark.rst, step 39).

What a compute node sees does not change: the same queues, bindings and
message format, so the shim's oslo.messaging client calls either server,
and proxies of both kinds may serve one topic side by side. What the
proxy does with a call does not change either: the same screening
(``wire_guard.screen``), dispatcher (``wire_guard.QuietDispatcher``:
signatures, host scope, named errors), refusal logs and counters.

How it runs:

* one receiving thread owns the consuming connection: it reads every
  frame (deliveries, heartbeats, the broker's close), screens each call
  and queues it for the workers, unacknowledged. The broker delivers at
  most ``rabbit_qos_prefetch_count`` calls unacknowledged, so at most
  that many wait in the process's memory; the rest wait in the broker.
* ``[DEFAULT] executor_thread_pool_size`` worker threads take the calls,
  the one idle last first. A worker acknowledges a call as it takes it
  (so a call is acknowledged only once a thread runs it, and a process
  that dies gives back all but the calls it was running), dispatches it
  and publishes the reply on a connection of its own
  (``direct_amqp.ReplyPublisher``:
  one per worker, each reply waiting for the broker's confirm).
  A call delivered on a connection that has been lost since is not
  acknowledged: the broker delivers it again, here or elsewhere.
* a lost connection is made again (the hosts of ``transport_url`` in
  turn, at the driver's intervals), with its queues and consumers; calls
  already acknowledged still get their replies.
* ``stop()`` cancels the consumers; calls taken are answered, calls read
  but not taken go back to the broker when ``wait()`` closes the
  connection.

Replies follow the rules of ``amqp_guard`` for the driver's replies: a
reply queue that took a reply of this process before is retried for
``kombu_missing_consumer_retry_timeout`` (a client across a fail-over);
a reply to any other queue that does not exist is dropped at once, and a
refusal to a queue that never took a reply is answered within
``wire_guard.REFUSAL_REPLIES_PER_SECOND``.

Not done: stream fan-out, oslo.messaging's queue manager, compression
and oslo.messaging's tracing of calls (``[oslo_messaging_tracing]``) are
refused at start (``direct_amqp.unsupported``). As with any AMQP
consumer, an acknowledgement is never confirmed: a connection that dies
in the instant after one is written may still have its call delivered
again.
"""

import collections
import functools
import json
import socket
import sys
import threading
import time

import amqp
from oslo_log import log as logging
from oslo_messaging._drivers import common as rpc_common
from oslo_messaging import _utils as utils
from oslo_messaging.rpc import dispatcher as rpc_dispatcher

from nova_proxy.common import amqp_guard
from nova_proxy.common import direct_amqp
from nova_proxy.common import wire_guard
from nova_proxy import conf

CONF = conf.CONF
LOG = logging.getLogger(__name__)

__all__ = ['DirectRPCServer', 'DirectIncoming', 'THREAD_PREFIX']

# The names of the server's threads (its receiver and workers) start so:
# what runs in them is the calls' work (the bench's database floor counts
# the driver's work there, nova_proxy.bench.drivercpu).
THREAD_PREFIX = 'direct-rpc-'

# Seconds the receiving thread waits for a frame before it looks at its
# heartbeats and at a stop.
TICK = 0.25

# Message ids acknowledged here that a redelivery is told apart from.
SEEN_IDS = 4096


class DirectIncoming:
    """A call as ``wire_guard`` and oslo.messaging's dispatcher read it
    (the attributes of the rabbit driver's incoming message)."""

    __slots__ = ('server', 'channel', 'delivery_tag', 'message', 'ctxt',
                 'msg_id', 'orig_msg_id', 'reply_q', 'client_timeout',
                 'unique_id')

    def __init__(self, server, channel, delivery_tag, message, ctxt,
                 msg_id, reply_q, client_timeout, unique_id):
        self.server = server
        self.channel = channel
        self.delivery_tag = delivery_tag
        self.message = message
        self.ctxt = ctxt
        self.msg_id = self.orig_msg_id = msg_id
        self.reply_q = reply_q
        self.client_timeout = client_timeout
        self.unique_id = unique_id

    def acknowledge(self):
        """Acknowledged when a worker takes it (``DirectRPCServer``)."""

    def requeue(self):
        """Left unacknowledged, it goes back when its connection closes."""

    def reply(self, reply=None, failure=None):
        self.server._reply(self, reply, failure)

    def heartbeat(self):
        """oslo.messaging's call monitoring: a reply that does not end
        the call."""
        self.server._reply(self, None, None, ending=False)


def _json_object(text):
    """The JSON object ``text`` holds. :raises: ValueError otherwise
    (nested too deep to decode included)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError('nested too deep')
    if not isinstance(value, dict):
        raise ValueError('not a JSON object')
    return value


def decode(body):
    """The call in ``body``: ``(message, ctxt, msg_id, reply_q, timeout,
    unique_id)``, as the rabbit driver's listener unpacks it (its
    ``deserialize_msg`` and ``unpack_context``).
    :raises: ValueError for what is no oslo.messaging message."""
    envelope = _json_object(body)
    if 'oslo.version' in envelope and 'oslo.message' in envelope:
        version = envelope['oslo.version']
        if not isinstance(version, str) or \
                not utils.version_is_compatible(
                    direct_amqp.ENVELOPE_VERSION, version):
            raise ValueError('envelope version %r' % (version,))
        inner = envelope['oslo.message']
        if not isinstance(inner, str):
            raise ValueError('no oslo.message')
        message = _json_object(inner)
    else:
        message = envelope
    ctxt = {}
    for key in [k for k in message if k.startswith('_context_')]:
        ctxt[key[9:]] = message.pop(key)
    msg_id = message.pop('_msg_id', None)
    reply_q = message.pop('_reply_q', None)
    timeout = message.pop('_timeout', None)
    unique_id = message.pop('_unique_id', None)
    if unique_id is not None and not isinstance(unique_id, str):
        raise ValueError('a _unique_id that is not a string')
    # As auth.install_reply_binding() puts them back for the driver's
    # listener: the address the reply goes to, which signatures bind.
    ctxt['msg_id'] = msg_id
    ctxt['reply_q'] = reply_q
    return message, ctxt, msg_id, reply_q, timeout, unique_id


class _Handoff:
    """Calls from the receiving thread to the workers: each goes to the
    worker that went idle last, whose thread and reply connection are
    warm (a ``queue.Queue`` wakes the one idle longest, so one call
    after another went to a different worker and out on a different
    reply connection); when every worker is busy, calls wait in order."""

    def __init__(self):
        self._lock = threading.Lock()
        self._waiting = collections.deque()
        self._idle = []

    def put(self, item):
        with self._lock:
            if self._idle:
                slot = self._idle.pop()
                slot.append(item)
                slot.event.set()
                return
            self._waiting.append(item)

    def get(self):
        with self._lock:
            if self._waiting:
                return self._waiting.popleft()
            slot = _Slot()
            self._idle.append(slot)
        slot.event.wait()
        return slot[0]


class _Slot(list):
    """Where an idle worker waits for its next call."""

    def __init__(self):
        super().__init__()
        self.event = threading.Event()


class DirectRPCServer:
    """``start()``, ``stop()``, ``wait()``: what ``service.RPCService``
    asks of an RPC server (see the module's documentation)."""

    def __init__(self, target, dispatcher, exchange, threads, conf=CONF):
        self.target = target
        self.dispatcher = dispatcher
        self.exchange = exchange
        self.threads = threads
        self.broker = direct_amqp.Broker(conf)
        self.declarations = direct_amqp.declarations(
            self.broker.rabbit, exchange, target.topic, target.server)
        self._name = 'direct-rpc:%s' % (target.server or target.topic)
        # Each thread that replies has its own (``_replies()``).
        self._publishers = []
        self._shared_replies = None
        self._publishers_lock = threading.Lock()
        self._local = threading.local()
        self._calls = _Handoff()
        self._stopping = threading.Event()
        # Guards the consuming connection's writes (acknowledgements,
        # rejections, heartbeats) and its replacement: workers write,
        # the receiving thread reads and writes (reentrant: a delivery
        # read while it subscribes may be rejected at once).
        self._write_lock = threading.RLock()
        self._conn = None
        self._channel = None
        self._seen = amqp_guard._RecentSet(SEEN_IDS)
        self._receiver = None
        self._workers = []
        self._started = False

    # -- lifecycle --

    def start(self):
        """Connect (trying until the broker answers or ``stop()``),
        declare and consume; start the threads."""
        if self._started:
            return
        self._started = True
        if not self.broker.prefetch:
            LOG.warning(direct_amqp.UNLIMITED_PREFETCH)
        intervals = None
        while not self._stopping.is_set():
            intervals = self._try_to_connect(intervals)
            if intervals is None:
                break
        self._receiver = threading.Thread(
            target=self._receive, name=THREAD_PREFIX + 'receiver',
            daemon=True)
        self._receiver.start()
        for n in range(self.threads):
            worker = threading.Thread(target=self._work, daemon=True,
                                      name=THREAD_PREFIX + 'worker-%d' % n)
            worker.start()
            self._workers.append(worker)

    def stop(self):
        """Take no more calls (see the module's documentation)."""
        self._stopping.set()

    def wait(self):
        """Once stopped: wait for the calls taken to be answered, then
        close the connections (what was read and not taken goes back to
        the broker)."""
        if self._receiver is not None:
            self._receiver.join()
        for _ in self._workers:
            self._calls.put(None)
        for worker in self._workers:
            worker.join()
        self._workers = []
        self._drop_connection(graceful=True)
        with self._publishers_lock:
            publishers, self._publishers = self._publishers, []
            self._shared_replies = None
        for publisher in publishers:
            publisher.close()

    def _replies(self):
        """This worker thread's ``ReplyPublisher`` (made at its first
        reply); for any other thread (oslo.messaging's call monitor), one
        they share."""
        publisher = getattr(self._local, 'replies', None)
        if publisher is not None:
            return publisher
        worker = getattr(self._local, 'worker', False)
        with self._publishers_lock:
            if not worker and self._shared_replies is not None:
                return self._shared_replies
            publisher = direct_amqp.ReplyPublisher(
                self.broker, '%s:replies-%d' % (self._name,
                                                len(self._publishers)))
            self._publishers.append(publisher)
            if worker:
                self._local.replies = publisher
            else:
                self._shared_replies = publisher
        return publisher

    def _tick_replies(self):
        with self._publishers_lock:
            publishers = list(self._publishers)
        for publisher in publishers:
            publisher.tick()

    # -- the consuming connection --

    def _connect(self):
        conn = self.broker.connect(self._name)

        def open_channel():
            channel = conn.channel()
            # py-amqp reopens a channel the broker closed, as the same
            # object: an acknowledgement of a delivery of the closed one
            # would go out on it, and be lost. It is forgotten instead
            # (the receiving thread then makes a new connection).
            channel._do_revive = functools.partial(self._forget, channel)
            channel.basic_qos(0, self.broker.prefetch, False)
            return channel

        def reopen(closed):
            # A refused declaration closed ``closed`` (no consumer on it
            # yet): its number is freed, and a new channel takes over.
            closed.collect()
            return open_channel()

        try:
            channel = open_channel()
            for declaration in self.declarations:
                channel = direct_amqp.declare(channel, declaration, reopen)
            with self._write_lock:
                # The channel is ours before the first consumer: calls
                # delivered while the next subscribes are on it.
                self._conn, self._channel = conn, channel
                for declaration in self.declarations:
                    channel.basic_consume(
                        declaration.queue, callback=self._on_delivery,
                        arguments=declaration.consumer_arguments)
        except BaseException:
            with self._write_lock:
                if self._conn is conn:
                    self._conn = self._channel = None
            direct_amqp._close_quietly(conn)
            raise
        LOG.info('Consuming %s on %s', ', '.join(
            d.queue for d in self.declarations), conn.host)

    def _try_to_connect(self, intervals):
        """One attempt at the consuming connection. Failed, it is logged
        and followed by the next wait of ``intervals`` (the driver's,
        from their start when None).
        :returns: None once connected, else the intervals to go on
            with."""
        try:
            self._connect()
            return None
        except direct_amqp.RECOVERABLE as e:
            intervals = intervals or self.broker.intervals()
            wait = next(intervals)
            self._connect_failed(e, wait)
            self._stopping.wait(wait)
            return intervals

    def _connect_failed(self, error, wait):
        if isinstance(error, amqp.exceptions.ChannelError):
            # The broker answers, but refuses a declaration or a consumer.
            LOG.error('The message broker (%s) refused the queues of this '
                      'server: %s; check the [oslo_messaging_rabbit] '
                      'options against the queues that exist. Trying '
                      'again in %.1fs', self.broker.describe(), error, wait)
        else:
            LOG.error('Cannot reach the message broker (%s): %s; trying '
                      'again in %.1fs', self.broker.describe(), error, wait)

    def _forget(self, channel):
        with self._write_lock:
            if self._channel is channel:
                self._channel = None

    def _drop_connection(self, graceful=False):
        """Forget the consuming connection; close it (``graceful``: with
        the AMQP handshake, else at once: it is broken)."""
        with self._write_lock:
            conn, self._conn, self._channel = self._conn, None, None
        if conn is None:
            return
        if graceful:
            direct_amqp._close_quietly(conn)
        else:
            direct_amqp._collect_quietly(conn)

    def _receive(self):
        intervals = None
        next_tick = 0
        while not self._stopping.is_set():
            conn = self._conn
            if conn is None:
                intervals = self._try_to_connect(intervals)
                continue
            try:
                try:
                    conn.drain_events(timeout=TICK)
                except socket.timeout:
                    pass
                now = time.monotonic()
                if now >= next_tick:
                    # Twice a heartbeat interval at least, as py-amqp
                    # asks; not after every message.
                    next_tick = now + TICK
                    with self._write_lock:
                        conn.heartbeat_tick(rate=self.broker.heartbeat_rate)
                    self._tick_replies()
            except direct_amqp.RECOVERABLE as e:
                LOG.warning('Lost the connection to the message broker '
                            '(%s); calls read and not yet taken go back to '
                            'it. Connecting again.', e)
                self._drop_connection()
                continue
            except Exception:
                # Not the connection's: ours (a bug). The receiving thread
                # goes on, on a new connection (what was read and not
                # taken goes back to the broker).
                LOG.exception('Receiving failed; connecting again')
                self._drop_connection()
                continue
        self._cancel_consumers()

    def _cancel_consumers(self):
        """The broker stops delivering here; what was delivered stays
        unacknowledged until the connection closes."""
        with self._write_lock:
            channel = self._channel
            if channel is None:
                return
            try:
                for tag in list(channel.callbacks):
                    channel.basic_cancel(tag)
            except direct_amqp.RECOVERABLE as e:
                LOG.debug('Consumers not cancelled: %s', e)

    # -- receiving --

    def _on_delivery(self, delivery):
        """A delivery, on the receiving thread: screened, then queued
        for a worker, unacknowledged. Whatever it holds, the receiving
        thread goes on."""
        try:
            self._receive_one(delivery)
        except Exception:
            LOG.exception('Dropped a delivery that could not be read')
            self._settle(getattr(delivery, 'channel', None),
                         delivery.delivery_tag, acknowledge=False)

    def _receive_one(self, delivery):
        tag = delivery.delivery_tag
        channel = delivery.channel
        body = delivery.body or b''
        queue_name = delivery.delivery_info.get('routing_key', '?')
        limit = CONF.proxy.max_request_bytes
        if len(body) > limit:
            self._settle(channel, tag, acknowledge=False)
            wire_guard.refused(
                'too_large', 'queue %s' % queue_name,
                'Dropped a message of %d bytes on %s: above [proxy] '
                'max_request_bytes (%d)', len(body), queue_name, limit)
            return
        if delivery.properties.get('content_encoding') not in (
                None, 'utf-8', 'binary') or \
                (delivery.headers or {}).get('compression'):
            self._settle(channel, tag, acknowledge=False)
            wire_guard.refused(
                'malformed', 'queue %s' % queue_name,
                'Dropped a message on %s that is no oslo.messaging '
                'message (its encoding)', queue_name)
            return
        try:
            message, ctxt, msg_id, reply_q, timeout, unique_id = \
                decode(body)
        except (ValueError, TypeError, AttributeError) as e:
            self._settle(channel, tag, acknowledge=False)
            wire_guard.refused(
                'malformed', 'queue %s' % queue_name,
                'Dropped a message on %s that is no oslo.messaging '
                'message (%s)', queue_name, type(e).__name__)
            return
        incoming = DirectIncoming(self, channel, tag, message,
                                  ctxt, msg_id, reply_q, timeout, unique_id)
        if unique_id is not None and unique_id in self._seen:
            self._settle(channel, tag)
            wire_guard.refused('duplicate', 'a repeated message id',
                               'Dropped a repeated delivery of message '
                               'id %s', wire_guard._clean(unique_id))
            return
        problem = wire_guard.screen(incoming)
        if problem is not None:
            self._settle(channel, tag)
            kind, reason = problem
            source = wire_guard.source_of(ctxt)
            wire_guard.refused(kind, source,
                               'Dropped a message (%s) from %s: %s',
                               wire_guard._describe(incoming), source,
                               reason)
            return
        if incoming.client_timeout is not None and \
                incoming.client_timeout < 2:
            # The dispatcher would warn about it on every call.
            incoming.client_timeout = None
        self._calls.put(incoming)

    def _settle(self, channel, tag, acknowledge=True):
        """Acknowledge (or reject, not to be delivered again) delivery
        ``tag`` of ``channel``; False if that channel is gone since (its
        calls go back to the broker)."""
        with self._write_lock:
            if channel is None or channel is not self._channel:
                return False
            try:
                if acknowledge:
                    channel.basic_ack(tag)
                else:
                    channel.basic_reject(tag, requeue=False)
            except direct_amqp.RECOVERABLE as e:
                LOG.info('Could not settle a delivery (%s): it is left to '
                         'the broker', e)
                return False
        return True

    # -- serving --

    def _work(self):
        self._local.worker = True
        while True:
            incoming = self._calls.get()
            if incoming is None:
                return
            if self._stopping.is_set():
                # Unacknowledged: back to the broker at close.
                continue
            if not self._settle(incoming.channel, incoming.delivery_tag):
                LOG.debug('A call delivered on a connection lost since is '
                          'left to its redelivery')
                continue
            if incoming.unique_id is not None:
                self._seen.add(incoming.unique_id)
            try:
                self._serve(incoming)
            except Exception:
                LOG.exception('Failed to serve a call')

    def _serve(self, incoming):
        """As oslo.messaging's ``RPCServer._process_incoming``."""
        failure = None
        try:
            result = self.dispatcher.dispatch(incoming)
        except rpc_dispatcher.ExpectedException as e:
            failure = e.exc_info
            LOG.debug('Expected exception during message handling (%s)', e)
        except Exception:
            failure = sys.exc_info()
            LOG.exception('Exception during message handling')
        try:
            if failure is None:
                incoming.reply(result)
            else:
                incoming.reply(failure=failure)
        finally:
            del failure

    # -- replying --

    def _reply(self, incoming, reply=None, failure=None, ending=True):
        if not incoming.msg_id:
            return
        reply_q = incoming.reply_q
        known = reply_q in amqp_guard._known_reply_queues
        if not known and amqp_guard.withheld_refusal(incoming.ctxt,
                                                     reply_q, failure):
            return
        if failure is not None:
            failure = rpc_common.serialize_remote_exception(failure)
        body = direct_amqp.reply_body(incoming.msg_id, reply, failure,
                                      ending)
        started = time.monotonic()
        deadline = started + self.broker.missing_reply_timeout
        while True:
            try:
                self._replies().publish(reply_q, body, deadline)
                amqp_guard._known_reply_queues.add(reply_q)
                return
            except direct_amqp.Undeliverable:
                if not known or time.monotonic() >= deadline:
                    break
                # A client across a fail-over makes its queue again.
                time.sleep(0.25)
            except direct_amqp.RECOVERABLE as e:
                LOG.error('Dropped a reply to %s: the message broker could '
                          'not be reached for %.0fs (%s)', reply_q,
                          time.monotonic() - started, e)
                return
        amqp_guard._known_reply_queues.discard(reply_q)
        source = wire_guard.source_of(incoming.ctxt)
        wire_guard.refused(
            'reply_undeliverable', source,
            'Dropped a reply to %s (from %s): no such queue%s', reply_q,
            source, ', and none of that name took a reply of this process '
            'before' if not known else '')
