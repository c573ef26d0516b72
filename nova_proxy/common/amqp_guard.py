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

**Empty wake-ups after every call.** The listener's poll loop shares its
timing with the notification listener, which queues acknowledgements for
the poll thread to send: after each message it waits 1 ms for the next,
then 2, 4, 8 ms and so on up to 5 s, running the queued work between two
waits. An RPC listener acknowledges in its consumer callback and queues
nothing, so these wake-ups do no work, but each costs a pass through the
driver's retry machinery and a socket timeout: 150 to 450 us of CPU on
the development machines, several per call at a few hundred calls per
second. ``install()`` starts the RPC listener's waits at
``POLL_FLOOR`` seconds instead (then doubling to 5 s as before). A message
still ends a wait the moment it arrives; what moves is how soon an idle
listener notices that it is being stopped, at most ``POLL_FLOOR`` after a
call instead of a few milliseconds (an idle listener already takes up to
5 s).

**The same wake-ups on the client's side.** A process that makes calls
(a compute node through the shim, a proxy calling computes) has a reply
thread (``ReplyWaiter``) with the same loop: after each reply 1, 2, 4 ms
and so on, with nothing to do (replies are acknowledged in the consumer
callback too). Its loop keeps its timeout in a local variable, so
``install()`` gives the reply connection's ``consume`` a floor of its own
instead: waits start at ``POLL_FLOOR`` after a message and double on
each empty one, up to the driver's maximum, as the loop would. A reply
still ends a wait the moment it arrives; a client's transport stopped
right after a reply waits up to ``POLL_FLOOR`` for its reply thread
instead of a few milliseconds (an idle one already takes up to 5 s).
"""

import functools
import threading

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

__all__ = ['install', 'POLL_FLOOR']

POLL_FLOOR = 0.25

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

        @functools.wraps(original)
        def call(self, message):
            shutdown = getattr(self, '_shutdown', None)
            if shutdown is not None and shutdown.is_set():
                LOG.debug('Listener stopping: call left unacknowledged for '
                          'another server')
                return
            return original(self, message)

        listener.__call__ = call
        _raise_poll_floor(listener)
        _floor_reply_waits(amqpdriver)


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
