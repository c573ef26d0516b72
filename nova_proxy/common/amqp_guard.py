"""Mends to oslo.messaging's rabbit driver: its RPC listener, and the
thread that waits for the replies of a client's calls.

**Calls lost by a stopping server.**

oslo.messaging's RPC listener acknowledges a call the moment its consumer
callback sees it, then queues it for the poll loop. When the server stops,
``stop_consuming()`` only sets a flag: the consumer stays registered on
the broker, which keeps delivering (up to ``rabbit_qos_prefetch_count``)
while the in-flight calls drain; when the listener's connection then
closes, deleting its fanout queue reads those deliveries, the callback
acknowledges them, and nobody polls them any more. The caller waits its
whole timeout for a call the broker thinks served (measured: four of four
calls in flight to a proxy stopped with SIGTERM under a steady stream).

``install()`` makes the callback leave a call unacknowledged once the
listener is shutting down: the broker gives it to another server when the
connection closes. Nothing changes while the listener runs.

**Calls waiting for a thread.** ``nova_proxy.common.hand_over`` has an
RPC listener of our servers queue the calls it reads unacknowledged,
and acknowledges each when a thread takes it.

**Empty wake-ups after every call.** The listener's poll loop shares its
timing with the notification listener, which queues acknowledgements for
the poll thread to send: after each message it waits 1 ms for the next,
then 2, 4, 8 ms and so on up to 5 s, running the queued work between two
waits. An RPC listener acknowledges in its consumer callback and queues
nothing, so these wake-ups do no work, but each costs a pass through the
driver's retry machinery and a socket timeout: 150 to 450 us of CPU on
the development machines, several per call at a few hundred calls per
second. ``install()`` starts the RPC listener's waits at
``POLL_FLOOR`` seconds instead (then doubling, up to ``IDLE_WAIT_MAX``).
A message still ends a wait the moment it arrives; what moves is how soon
an idle listener notices that it is being stopped, at most ``POLL_FLOOR``
after a call instead of a few milliseconds.

**The same wake-ups on the client's side.** A process that makes calls
(a compute node through the shim, a proxy calling computes) has a reply
thread (``ReplyWaiter``) with the same loop: after each reply 1, 2, 4 ms
and so on, with nothing to do (replies are acknowledged in the consumer
callback too). Its loop keeps its timeout in a local variable, so
``install()`` gives the reply connection's ``consume`` a floor of its own
instead: waits start at ``POLL_FLOOR`` after a message and double on
each empty one, up to ``IDLE_WAIT_MAX``, as the loop would. A reply
still ends a wait the moment it arrives; a client's transport stopped
right after a reply waits up to ``POLL_FLOOR`` for its reply thread
instead of a few milliseconds.

**How long an idle service takes to stop.** Stopping an RPC server waits
for its listener's wait to end, and stopping a transport waits for its
reply thread's: the driver lets both grow to 5 s
(``ACK_REQUEUE_EVERY_SECONDS_MAX``) when nothing comes. A compute
service, whose listener and reply threads are idle most of the time,
took 6 to 16 s to exit after SIGTERM (four stops of an idle one,
``py-spy dump`` during each: waiting for the listener, then for the reply
thread of each of its two transports). ``install()`` makes the rabbit
connection's ``consume`` (which only those two loops call) return within
``IDLE_WAIT_MAX`` (1 s): the loop then finds its wait timed out, as
after any wait, and looks whether it is being stopped before it waits
again. An idle service has three such loops, each now waking once a
second instead of once every 5 s; a wake-up with nothing to do costs
the driver's retry machinery, 150 to 450 us of CPU: about a tenth of a
percent of a core per process. The driver's constant is left as it is:
oslo.messaging bounds ``kombu_reconnect_delay`` by it when it loads the
rabbit driver. No upstream bug is filed for the long waits at stop; a
driver that gave its loops a way to be woken at stop would make this
unneeded.

**Messages that would cost a server more than they are worth.** Below
the RPC server (``nova_proxy.common.wire_guard`` screens what reaches
it), ``install()`` makes the rabbit consumer of an RPC listener:

* drop a body above ``[proxy] max_request_bytes`` before decoding it;
* drop a body that is no oslo.messaging message (not JSON, unknown
  envelope version) with one rate-limited WARNING, where the driver logs
  a traceback for each;
* drop a second delivery of a message id it has seen, again as one
  rate-limited line instead of a traceback each.

And on the reply side: oslo.messaging retries a reply whose queue does
not exist for ``missing_destination_retry_timeout`` (60 s), holding an
executor thread throughout, so that a client's reply queue may come back
after a broker fail-over. Any caller can name a reply queue that does not
exist: 16 such calls took every thread of a proxy for a minute and a
stop waited for them. ``install()`` keeps that retry for the queues that
took a reply of this process before (a client across a fail-over) and
gives up at once, after one attempt, on any other: the reply is dropped,
counted and logged (rate-limited). A new client whose very first reply
meets a fail-over times out and calls again, as after any lost reply.
Even that one attempt is most of what a refused call costs: a refusal
(``wire_guard.is_refusal``) to a queue that never took a reply is
answered within ``wire_guard.REFUSAL_REPLIES_PER_SECOND`` only.
The retry oslo.messaging does inline is its design (see the note on
``ObsoleteReplyQueuesCache`` in ``amqpdriver``), not a bug to wait for.

**What receiving a message costs.** Two mends make the thread that
receives (the busiest thread of a proxy) do less per message, with no
change to what it receives or when:

* py-amqp's TCP transport reads each frame with three ``recv()`` calls
  (its header, its payload, its end octet), and a message is three
  frames; each frame read also sets the socket's timeout and sets it
  back (two more system calls). ``install()`` makes it read up to
  ``READ_AHEAD`` bytes at once into the buffer the transport already
  keeps for partial frames, and read a frame already whole in that
  buffer without touching the socket's timeout: one ``recv()`` for a
  message that arrived in one piece instead of nine, and no timeout
  calls for its second and third frames. Nothing else reads those
  sockets (oslo.messaging drains them through py-amqp; no ``select``).
* oslo.messaging's listener deep-copies every call's context (20-odd
  keys and a signature, about 20 us per call) from a dict that it has
  just decoded and that nothing else holds; ``install()`` makes that a
  shallow copy.

**What a call costs the listener.** Each poll of the driver's RPC
listener waits for a message through the connection's ``consume()``:
its retry machinery (``ensure()``, kombu's ``autoretry``, a decaying
timer and error callbacks built for the poll) around one
``drain_events()``, per message. While calls come, ``install()`` makes
the poll read the next one with that ``drain_events()`` alone, under the
same connection lock, waiting at most ``POLL_FLOOR``. Whatever else
happens (no message within ``POLL_FLOOR``, an error, a stop, consumers
to declare after a reconnection) is left to the driver's poll, which
meets the same state and deals with it as before: the heartbeat check of
an idle connection, reconnection, the decaying waits.

**What a reply costs.** The driver publishes each reply through the same
machinery (``ensure()``, ``autoretry``, a passive exchange, the socket's
timeout set and set back around it), then waits for the broker's
confirm. ``install()`` makes the reply's publish (``direct_send``) use
the connection's producer at once, with the driver's own message,
mandatory flag and confirm: a reply to a missing queue still raises
``MessageUndeliverable`` (and meets the rules above). Any other error
(a closed channel, a connection lost) sends the same reply through the
driver's machinery, which reconnects and publishes it: a reply whose
first publish failed after reaching the broker may then arrive twice, and
the caller's reply thread drops the second (it waits for a message id
once). Measured with an oslo.messaging echo server on RabbitMQ, one
caller: 1,087 to 855 us of server CPU per call (median of 3 interleaved
pairs, both changes); the proxy's ``proxy-1``, 2,427-3,088 to
1,877-2,117 us at 1 caller and 1,614-2,176 to 1,244-1,643 at 16 (3
interleaved pairs on a loaded machine).
"""

import collections
import errno
import functools
import select
import socket
import threading

from oslo_log import log as logging

from nova_proxy.common import wire_guard
from nova_proxy import conf

CONF = conf.CONF
LOG = logging.getLogger(__name__)

__all__ = ['install', 'replaced_attributes', 'message_waiting', 'stopping',
           'read_what_has_come', 'withheld_refusal', 'IDLE_WAIT_MAX',
           'POLL_FLOOR', 'READ_AHEAD']

POLL_FLOOR = 0.25

# The longest wait of an idle RPC listener or reply thread, in seconds:
# how long a stop may wait for each (see "How long an idle service takes
# to stop" above; the driver's own is 5 s).
IDLE_WAIT_MAX = 1.0

# Bytes a TCP transport asks the socket for at once (more when a frame
# needs more): a message of a few kilobytes, or several, in one recv().
READ_AHEAD = 16384

_lock = threading.Lock()
_installed = False


def install():
    """Idempotent; a no-op when the driver no longer looks as expected."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
        try:
            from oslo_messaging._drivers import amqpdriver
            listener = amqpdriver.RpcAMQPListener
            original = listener.__call__
        except (ImportError, AttributeError):
            LOG.warning('oslo.messaging changed: the guard against calls '
                        'lost at server stop is not installed')
            return

        queue_only = amqpdriver.AMQPListener.__call__

        @functools.wraps(original)
        def call(self, message):
            if stopping(self):
                LOG.debug('Listener stopping: call left unacknowledged for '
                          'another server')
                return
            if _seen_before(self, message):
                return
            if getattr(self, '_np_ack_on_hand_over', False):
                return _queue_unacknowledged(self, message, queue_only)
            return original(self, message)

        listener.__call__ = call
        _shorten_idle_waits()
        _raise_poll_floor(listener)
        _floor_reply_waits(amqpdriver)
        _screen_bodies(amqpdriver)
        _give_up_on_unknown_reply_queues(amqpdriver)
        _copy_contexts_shallow(amqpdriver)
        _read_ahead()
        _drain_between_calls(listener)
        _publish_replies_plainly()


def replaced_attributes():
    """``(owner, name)`` of each attribute that ``install()`` replaces:
    classes of oslo.messaging's rabbit driver and of py-amqp, and one
    module function. For whoever needs the driver as it ships (tests of
    the driver alone). Imports the driver."""
    from amqp import connection as amqp_connection
    from amqp import transport as amqp_transport
    from oslo_messaging._drivers import amqpdriver
    from oslo_messaging._drivers import impl_rabbit
    return (
        (amqpdriver.RpcAMQPListener, '__call__'),
        (amqpdriver.RpcAMQPListener, 'poll'),
        (amqpdriver.ReplyWaiter, '__init__'),
        (amqpdriver.AMQPIncomingMessage, 'reply'),
        (amqpdriver.rpc_amqp, 'unpack_context'),
        (impl_rabbit.Consumer, '_callback'),
        (impl_rabbit.Connection, 'consume'),
        (impl_rabbit.Connection, 'direct_send'),
        (amqp_transport.TCPTransport, '_read'),
        (amqp_connection.Connection, 'blocking_read'))


def _queue_unacknowledged(listener, message, queue_only):
    """What the RPC listener does with a call it reads, without its
    acknowledgement: the call, queued for the poll, is marked for
    ``hand_over.acknowledge()``. One the driver does not queue (a repeat) is
    acknowledged now, so that it holds no prefetch slot."""
    before = len(listener.incoming)
    queue_only(listener, message)
    if len(listener.incoming) > before:
        listener.incoming[-1]._np_unacknowledged = message
    else:
        try:
            message.acknowledge()
        except Exception:  # as the driver: a lost ack is a redelivery
            pass


def stopping(listener):
    """True once ``listener`` is being stopped (its server's ``stop()``)."""
    shutdown = getattr(listener, '_shutdown', None)
    return shutdown is not None and shutdown.is_set()


def _shorten_idle_waits():
    """Wrap the rabbit ``Connection.consume`` so that each call returns
    within ``IDLE_WAIT_MAX``: the driver's listener and reply thread,
    its only callers, take a return with nothing as a wait that timed
    out, and wait again unless they are being stopped."""
    try:
        from oslo_messaging._drivers import impl_rabbit
        connection = impl_rabbit.Connection
        original = connection.consume
    except (ImportError, AttributeError):
        LOG.warning('oslo.messaging changed: an idle service may take '
                    'several seconds to stop')
        return

    @functools.wraps(original)
    def consume(self, *args, timeout=None, **kwargs):
        if timeout is not None and timeout > IDLE_WAIT_MAX:
            timeout = IDLE_WAIT_MAX
        return original(self, *args, timeout=timeout, **kwargs)

    connection.consume = consume


def _raise_poll_floor(listener):
    """Wrap ``listener.poll`` so that each call starts waiting at
    ``POLL_FLOOR`` (the loop inside still doubles it on each timeout). A
    listener without the attribute (a changed driver) is left as is."""
    original = listener.poll

    @functools.wraps(original)
    def poll(self, *args, **kwargs):
        current = getattr(self, '_current_timeout', None)
        if current is not None and current < POLL_FLOOR:
            self._current_timeout = POLL_FLOOR
        return original(self, *args, **kwargs)

    listener.poll = poll


def _floor_reply_waits(amqpdriver):
    """Wrap ``ReplyWaiter.__init__`` so that its connection's ``consume``
    waits at least ``POLL_FLOOR``, doubling after each empty wait. Left
    as is when the driver no longer has what this needs."""
    waiter = getattr(amqpdriver, 'ReplyWaiter', None)
    timeout_error = getattr(getattr(amqpdriver, 'rpc_common', None),
                            'Timeout', None)
    longest = getattr(amqpdriver, 'ACK_REQUEUE_EVERY_SECONDS_MAX', None)
    if waiter is None or timeout_error is None or longest is None:
        LOG.warning('oslo.messaging changed: reply threads keep waking up '
                    'every few milliseconds after a reply')
        return
    original = waiter.__init__
    # As the rabbit connection's consume returns within it.
    longest = min(longest, IDLE_WAIT_MAX)

    @functools.wraps(original)
    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        conn = getattr(self, 'conn', None)
        consume = getattr(conn, 'consume', None)
        if consume is None:
            return
        # Used by the reply thread alone: no lock.
        wait = [POLL_FLOOR]

        @functools.wraps(consume)
        def floored(*args, timeout=None, **kwargs):
            if timeout is None:
                return consume(*args, **kwargs)
            this = max(timeout, wait[0])
            try:
                result = consume(*args, timeout=this, **kwargs)
            except timeout_error:
                wait[0] = min(this * 2, longest)
                raise
            wait[0] = POLL_FLOOR
            return result

        conn.consume = floored

    waiter.__init__ = init


def _seen_before(listener, message):
    """True (the message acknowledged and counted) if ``message`` repeats
    a message id this listener has seen: the driver would log a
    traceback for it."""
    cache = getattr(getattr(listener, 'msg_id_cache', None), 'prev_msgids',
                    None)
    if cache is None or not isinstance(message, dict):
        return False
    unique_id = message.get('_unique_id')
    if unique_id is None or unique_id not in cache:
        return False
    try:
        message.acknowledge()
    except Exception:  # as the driver: a lost ack is a lost delivery
        pass
    wire_guard.refused('duplicate', 'a repeated message id',
                       'Dropped a repeated delivery of message id %s',
                       wire_guard._clean(unique_id))
    return True


def _screen_bodies(amqpdriver):
    """Wrap the rabbit ``Consumer._callback`` of RPC listeners: bodies
    above ``[proxy] max_request_bytes`` and bodies that do not decode are
    dropped (rejected) as one rate-limited line. Others go on as the
    driver sends them. Left as is when the driver changed, and for
    stream fan-out consumers (whose offsets the driver tracks there)."""
    try:
        from oslo_messaging._drivers import impl_rabbit
        consumer = impl_rabbit.Consumer
        original = consumer._callback
        rabbit_message = impl_rabbit.RabbitMessage
    except (ImportError, AttributeError):
        LOG.warning('oslo.messaging changed: oversized and undecodable '
                    'messages are not screened')
        return
    rpc_listener = amqpdriver.RpcAMQPListener

    @functools.wraps(original)
    def callback(self, message):
        if (not isinstance(getattr(self, 'callback', None), rpc_listener)
                or getattr(self, 'rabbit_stream_fanout', False)):
            return original(self, message)
        m2p = getattr(self.queue.channel, 'message_to_python', None)
        if m2p:
            message = m2p(message)
        queue = getattr(self, 'queue_name', '?')
        size = len(message.body or b'')
        limit = CONF.proxy.max_request_bytes
        if size > limit:
            wire_guard.refused(
                'too_large', 'queue %s' % queue,
                'Dropped a message of %d bytes on %s: above [proxy] '
                'max_request_bytes (%d)', size, queue, limit)
            message.reject()
            return
        try:
            decoded = rabbit_message(message)
        except Exception as e:
            wire_guard.refused(
                'malformed', 'queue %s' % queue,
                'Dropped a message on %s that is no oslo.messaging '
                'message (%s)', queue, type(e).__name__)
            message.reject()
            return
        try:
            self.callback(decoded)
        except Exception:
            # As the driver's own callback does.
            LOG.exception('Failed to process message ... skipping it.')
            message.reject()

    consumer._callback = callback


class _RecentSet:
    """The last ``size`` distinct items added."""

    def __init__(self, size):
        self.size = size
        self._items = collections.OrderedDict()
        self._lock = threading.Lock()

    def add(self, item):
        with self._lock:
            self._items[item] = True
            self._items.move_to_end(item)
            if len(self._items) > self.size:
                self._items.popitem(last=False)

    def discard(self, item):
        with self._lock:
            self._items.pop(item, None)

    def __contains__(self, item):
        with self._lock:
            return item in self._items


# Reply queues that took a reply of this process: a client's reply queue
# lives as long as its transport, so this holds every live client of a
# large cloud many times over.
KNOWN_REPLY_QUEUES = 20000
_known_reply_queues = _RecentSet(KNOWN_REPLY_QUEUES)


def _give_up_on_unknown_reply_queues(amqpdriver):
    """Wrap ``AMQPIncomingMessage.reply`` (see the module docstring).
    Left as is when the driver no longer has what this needs."""
    incoming = getattr(amqpdriver, 'AMQPIncomingMessage', None)
    rpc_amqp = getattr(amqpdriver, 'rpc_amqp', None)
    rpc_common = getattr(amqpdriver, 'rpc_common', None)
    missing_queue = getattr(amqpdriver.oslo_messaging,
                            'MessageUndeliverable', None)
    if (incoming is None or rpc_amqp is None or rpc_common is None or
            missing_queue is None or
            not hasattr(amqpdriver.ObsoleteReplyQueuesCache, 'SIZE')):
        LOG.warning('oslo.messaging changed: a reply to a missing queue '
                    'holds an executor thread for a minute')
        return
    undeliverable = (missing_queue, rpc_amqp.AMQPDestinationNotFound)
    original = incoming.reply

    @functools.wraps(original)
    def reply(self, reply=None, failure=None):
        if not self.orig_msg_id:
            return
        obsolete = self._obsolete_reply_queues
        gone = getattr(obsolete, '_cache', None)
        if gone is None:
            return original(self, reply, failure)
        if self.reply_q in gone:
            # The driver would log a warning for each.
            source = _source(self)
            wire_guard.refused(
                'reply_undeliverable', source,
                'Dropped a reply to %s (from %s): the queue is gone',
                self.reply_q, source)
            return
        if self.reply_q in _known_reply_queues:
            original(self, reply, failure)
            if self.reply_q in gone:
                _known_reply_queues.discard(self.reply_q)
            return
        if withheld_refusal(getattr(self, 'ctxt', None), self.reply_q,
                            failure):
            return
        try:
            with self.listener.driver._get_connection(
                    rpc_common.PURPOSE_SEND) as conn:
                self._send_reply(conn, reply, failure)
            delivered = True
        except undeliverable:
            delivered = False
        if delivered:
            _known_reply_queues.add(self.reply_q)
            return
        with obsolete._lock:
            gone[self.reply_q] = self.msg_id
        source = _source(self)
        wire_guard.refused(
            'reply_undeliverable', source,
            'Dropped a reply to %s (from %s): no such queue, and none of '
            'that name took a reply of this process before', self.reply_q,
            source)

    incoming.reply = reply


def withheld_refusal(ctxt, reply_q, failure):
    """True (counted and logged) if the reply ``failure`` to queue
    ``reply_q``, which never took a reply of this process, is a refusal
    past ``wire_guard.REFUSAL_REPLIES_PER_SECOND``: it is not sent.
    ``ctxt`` is the call's context, for the log."""
    if (failure is None or not wire_guard.is_refusal(failure[1]) or
            wire_guard.may_answer_refusal()):
        return False
    source = wire_guard.source_of(ctxt)
    wire_guard.refused(
        'reply_withheld', source,
        'Withheld the refusal of a call from %s to %s: more than %d '
        'refusals a second to new reply queues', source, reply_q,
        wire_guard.REFUSAL_REPLIES_PER_SECOND)
    return True


def _source(incoming):
    """Who sent ``incoming``, for a refusal's log line (worked out only
    for a reply refused, not for each reply)."""
    return wire_guard.source_of(getattr(incoming, 'ctxt', None))


def _copy_contexts_shallow(amqpdriver):
    """Wrap ``rpc_amqp.unpack_context`` (its only caller is the RPC
    listener, which then takes ``to_dict()`` of what it returns) so that
    the context it returns copies its values shallowly: they were decoded
    from the message just now and nothing else holds them."""
    rpc_amqp = getattr(amqpdriver, 'rpc_amqp', None)
    original = getattr(rpc_amqp, 'unpack_context', None)
    if original is None:
        LOG.warning('oslo.messaging changed: contexts are deep-copied')
        return

    @functools.wraps(original)
    def unpack_context(msg):
        context = original(msg)
        values = getattr(context, 'values', None)
        if isinstance(values, dict):
            # At call time: a wrapper may add values meanwhile (auth's).
            context.to_dict = functools.partial(dict, values)
        return context

    rpc_amqp.unpack_context = unpack_context


def _frame_buffered(transport):
    """True if the read buffer of ``transport`` holds a whole frame:
    a 7-octet header (type, channel, payload size), the payload and the
    end octet."""
    buffered = getattr(transport, '_read_buffer', None)
    return (buffered is not None and len(buffered) >= 8 and
            len(buffered) >= 8 + int.from_bytes(buffered[3:7], 'big'))


def _read_ahead():
    """Replace py-amqp's ``TCPTransport._read`` and wrap
    ``Connection.blocking_read`` (see the module docstring). Left as is
    when py-amqp no longer has what this needs; TLS transports are left
    as they are."""
    try:
        from amqp import connection as amqp_connection
        from amqp import transport as amqp_transport
        tcp = amqp_transport.TCPTransport
        tcp._read
        original_blocking_read = amqp_connection.Connection.blocking_read
    except (ImportError, AttributeError):
        LOG.warning('py-amqp changed: each frame is read with three '
                    'recv() calls')
        return

    def _read(self, n, initial=False, _errnos=(errno.EAGAIN, errno.EINTR)):
        """Exactly ``n`` bytes, from the buffer and then the socket,
        asking it for ``READ_AHEAD`` bytes or more; what comes beyond
        ``n`` stays in the buffer. As py-amqp's own: on any error what was
        read stays buffered."""
        rbuf = self._read_buffer
        if len(rbuf) < n:
            recv = self._quick_recv
            try:
                while len(rbuf) < n:
                    try:
                        s = recv(max(n - len(rbuf), READ_AHEAD))
                    except OSError as exc:
                        if exc.errno in _errnos:
                            if initial and self.raise_on_initial_eintr:
                                raise socket.timeout()
                            continue
                        raise
                    if not s:
                        raise OSError('Server unexpectedly closed connection')
                    rbuf += s
            except BaseException:
                self._read_buffer = rbuf
                raise
        self._read_buffer = rbuf[n:]
        return rbuf[:n]

    @functools.wraps(original_blocking_read)
    def blocking_read(self, timeout=None):
        transport = self.transport
        if _frame_buffered(transport):
            # Read from memory: the socket's timeout does not matter.
            return self.on_inbound_frame(transport.read_frame())
        return original_blocking_read(self, timeout)

    tcp._read = _read
    amqp_connection.Connection.blocking_read = blocking_read


def _drain_between_calls(listener):
    """Wrap ``listener.poll`` (see "What a call costs the listener" in the
    module docstring): while calls come, read the next one with one
    ``drain_events()``; anything else (an idle wait, an error, a
    reconnection, consumers to declare, a stop) goes to the driver's own
    poll as before."""
    original = listener.poll

    @functools.wraps(original)
    def poll(self, timeout=None, **kwargs):
        incoming = getattr(self, 'incoming', None)
        if kwargs.get('batch_size', 1) == 1 and incoming is not None:
            if not incoming:
                _drain_once(self)
            if incoming and not self._shutdown.is_set():
                return [incoming.pop(0)]
        return original(self, timeout=timeout, **kwargs)

    listener.poll = poll


def _driver_connection(listener):
    """The rabbit driver's ``Connection`` of an RPC listener (which holds
    it in a ``ConnectionContext``), or None."""
    return getattr(getattr(listener, 'conn', None), 'connection', None)


def message_waiting(listener):
    """True if a message may be waiting to be received by ``listener``:
    received and not yet polled, or bytes already read or readable on its
    socket (a heartbeat's too). False when nothing is; None when it
    cannot be told (another driver; a connection being re-established).
    Polls the socket without blocking: one system call. Called by the
    thread that receives for ``listener``."""
    if getattr(listener, 'incoming', None):
        return True
    _, transport, sock = _established(_driver_connection(listener))
    if sock is None:
        return None
    if getattr(transport, '_read_buffer', None):
        return True
    decrypted = getattr(sock, 'pending', None)  # TLS
    if decrypted is not None and decrypted():
        return True
    try:
        return _readable_now(listener, sock)
    except (OSError, ValueError):
        return None


def _established(conn):
    """``(py-amqp connection, its transport, its socket)`` of the driver
    connection ``conn``, each None where there is none: kombu's
    established connection only (its ``connection`` property would
    connect)."""
    amqp_conn = getattr(getattr(conn, 'connection', None), '_connection',
                        None)
    transport = getattr(amqp_conn, 'transport', None)
    return amqp_conn, transport, getattr(transport, 'sock', None)


def _readable_now(owner, sock):
    """True if ``sock`` has something to read, without waiting: one
    system call, through a poll object kept on ``owner`` (used by the
    one thread that receives at a time)."""
    fd = sock.fileno()
    cached = getattr(owner, '_np_readable', None)
    if cached is None or cached[0] != fd:
        readable = select.poll()
        readable.register(fd, select.POLLIN)
        owner._np_readable = cached = (fd, readable)
    return bool(cached[1].poll(0))


def read_what_has_come(amqp_conn, transport, sock, owner, at_most):
    """Have the py-amqp connection ``amqp_conn`` (its ``transport`` and
    ``sock``) handle the frames that have already come, without waiting:
    only a frame whole in the buffer or a socket readable now is read (a
    read of a part of a frame could wait, spinning, for the rest), at
    most ``at_most`` times. ``owner`` keeps the poll object
    (``_readable_now``). Raises what the connection raises."""
    for _ in range(at_most):
        if not (_frame_buffered(transport) or _readable_now(owner, sock)):
            return
        try:
            amqp_conn.drain_events(timeout=0)
        except socket.timeout:
            return


def _drain_once(listener):
    """Let the listener's connection read what has arrived, waiting at
    most ``POLL_FLOOR``; quietly nothing when the driver's own poll has
    more to do than that (its consume loop then sees the same state)."""
    # What this reads of the driver's connection is the driver's own
    # state: where a newer driver has none of it, its poll does
    # everything, as before.
    conn = _driver_connection(listener)
    kombu_connection = getattr(conn, 'connection', None)
    # A connection found broken (a failed write marks it so) is the
    # driver's to re-establish, consumers and all: kombu's drain_events
    # would reconnect it alone, with no consumer, and this listener
    # would wait on it for good.
    if (kombu_connection is None or stopping(listener) or
            getattr(conn, '_consume_loop_stopped', True) or
            getattr(conn, '_new_tags', True) or
            not hasattr(conn, '_connection_lock') or
            not getattr(kombu_connection, 'connected', False)):
        return
    try:
        with conn._connection_lock:
            kombu_connection.drain_events(timeout=POLL_FLOOR)
    except Exception as e:  # a timeout, or for the driver's poll to handle
        if not isinstance(e, socket.timeout):
            LOG.debug('Left to the driver: %s', e)


def _publish_replies_plainly():
    """Wrap the rabbit ``Connection.direct_send`` (replies' only
    publish): publish with the connection's producer at once, as the
    driver's retry machinery would on a connection that works, and leave
    to that machinery only what fails (see "What a reply costs" in the
    module docstring)."""
    try:
        from oslo_messaging._drivers import impl_rabbit
        import oslo_messaging
        connection = impl_rabbit.Connection
        original = connection.direct_send
        undeliverable = oslo_messaging.MessageUndeliverable
    except (ImportError, AttributeError):
        LOG.warning('oslo.messaging changed: replies go through its '
                    'retry machinery')
        return

    @functools.wraps(original)
    def direct_send(self, msg_id, msg):
        producer = getattr(self, '_producer', None)
        if producer is not None and self.channel is not None:
            try:
                with self._connection_lock:
                    producer.publish(
                        msg, exchange='', routing_key=msg_id,
                        mandatory=self.direct_mandatory_flag,
                        compression=self.kombu_compression)
                return
            except undeliverable:
                raise
            except Exception as e:
                LOG.debug('Reply to %s left to the driver: %s', msg_id, e)
        return original(self, msg_id, msg)

    connection.direct_send = direct_send
