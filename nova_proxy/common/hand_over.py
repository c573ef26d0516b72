"""Calls acknowledged when a thread takes them, not when they are read.

oslo.messaging's rabbit RPC listener acknowledges a call when it reads
it, so a server that read faster than its threads served held the rest
in memory, acknowledged: a crash lost them all (measured: a server
killed with 2 calls running and 22 read lost all 24).
``ack_on_hand_over()`` makes a listener queue each call unacknowledged,
and ``acknowledge()`` acknowledges it when a thread takes it, on the
thread that polls; our executors (``nova_proxy.common.executor``) poll
again only once a thread is free. So at most the prefetch count of
calls (``rabbit_qos_prefetch_count``) waits in a server delivered and
unacknowledged, the rest wait in the broker's queue for any server, and
a server that dies gives back all but the calls it was running (which
stay at most once: acknowledged before they run). A call delivered on a
channel that closed since (a reconnection) is not acknowledged but left
to its redelivery; a message id counts as seen (a repeat is dropped)
once acknowledged, not when read.

While every thread is busy, the receiving thread reads nothing, and a
broker closes a connection that sends nothing for two heartbeat
intervals. So the waiting thread calls ``keep_alive()`` every second:
the driver's ``consume()`` (what it reads is queued, unacknowledged;
a connection lost is re-established there) and the heartbeat check,
which the driver itself runs only when a read times out. A call that
waited more than ``STALE_AFTER`` seconds is acknowledged only if its
connection's socket does not read as closed or reset: an
acknowledgement written to a connection the broker closed is lost
without an error, and the call, served here, would run again where the
broker redelivers it. ``tests/functional/test_hand_over.py`` holds a
server's only thread for four heartbeat intervals (it keeps its calls),
and has the broker drop its connections while calls wait (each call
served once afterwards).
"""

import select
import time

from oslo_log import log as logging

from nova_proxy.common import amqp_guard

LOG = logging.getLogger(__name__)

__all__ = ['ack_on_hand_over', 'acknowledge', 'keep_alive', 'stopping',
           'STALE_AFTER']

# Seconds after which a call not yet acknowledged is checked, before its
# acknowledgement, to come from a connection the broker has not closed:
# an acknowledgement written to a closed connection is lost without an
# error, and the call would run here and where the broker redelivers it.
# The broker closes a connection for missed heartbeats only after
# seconds without a read; a call taken sooner is not checked.
STALE_AFTER = 0.5


def ack_on_hand_over(listener):
    """Make ``listener`` (the rabbit driver's RPC listener of a server)
    leave each call unacknowledged when it reads it, for
    ``acknowledge()`` when a thread takes it (see the module's
    documentation). Call it before the listener's first
    poll. False (and nothing changed: the listener acknowledges at read)
    when this is not such a listener or the guard is not installed.
    """
    try:
        from oslo_messaging._drivers import amqpdriver
    except ImportError:
        return False
    if (not amqp_guard._installed or
            not isinstance(listener, amqpdriver.RpcAMQPListener) or
            not isinstance(getattr(listener, 'incoming', None), list) or
            not hasattr(getattr(listener, 'msg_id_cache', None), 'add') or
            amqp_guard._driver_connection(listener) is None):
        return False
    # The driver notes a message id as seen when it reads the message;
    # here when the message is acknowledged: a call given back to the
    # broker unacknowledged (its channel closed) and delivered again is
    # no repeat.
    listener.use_cache = False
    listener._np_ack_on_hand_over = True
    return True


def acknowledge(incoming):
    """Acknowledge ``incoming`` (a call polled from a listener of
    ``ack_on_hand_over``) as a thread takes it, on the thread that polls
    that listener (or one it waits for). True if the call may be served:
    acknowledged now, or at read as the driver does. False if not: it
    was delivered on a channel that is gone since (a reconnection), or,
    received more than ``STALE_AFTER`` seconds ago, on a connection the
    broker has closed since (it closes one that stopped reading, for
    missed heartbeats); the broker delivers it again, here or to another
    server."""
    message = getattr(incoming, '_np_unacknowledged', None)
    if message is None:
        return True
    listener = incoming.listener
    conn = amqp_guard._driver_connection(listener)
    raw = getattr(message, '_raw_message', None)
    if (raw is None or conn is None or
            getattr(raw, 'channel', None) is not conn.channel):
        LOG.debug('A call delivered on a channel closed since is left to '
                  'its redelivery')
        return False
    received = getattr(incoming, '_np_received', None)
    if (received is not None and
            time.monotonic() - received > STALE_AFTER and
            _closed_by_broker(conn)):
        # An acknowledgement written now would be lost without an error,
        # and the call, served here, served again where it is redelivered.
        LOG.info('The broker closed the connection of a call waiting for '
                 'a thread: left to its redelivery')
        return False
    try:
        message.acknowledge()
    except Exception as e:
        LOG.warning('Could not acknowledge a call; it is left to its '
                    'redelivery: %s', e)
        return False
    incoming._np_unacknowledged = None
    listener.msg_id_cache.add(incoming.unique_id)
    return True


def _closed_by_broker(conn):
    """True if the driver connection ``conn``'s socket is closed or reset
    by the broker, whatever it still holds unread. False when it is not,
    or when that cannot be told (a connection being re-established).
    One system call; never blocks."""
    amqp_conn = getattr(getattr(conn, 'connection', None), '_connection',
                        None)
    sock = getattr(getattr(amqp_conn, 'transport', None), 'sock', None)
    if sock is None:
        return False
    # The peer's end of the stream (Linux); a reset or a close of both
    # directions is reported whatever is asked for.
    hung_up = getattr(select, 'POLLRDHUP', 0)
    try:
        ended = select.poll()
        ended.register(sock.fileno(), hung_up)
        events = ended.poll(0)
    except (OSError, ValueError):
        return False
    return any(flags & (hung_up | select.POLLHUP | select.POLLERR)
               for _, flags in events)


def keep_alive(listener):
    """Let ``listener``'s connection read what has come and send its
    heartbeat, through the driver (which reconnects it if it must):
    what it reads is queued, not acknowledged. For the receiving thread
    while it waits for a free thread (``executor.submit_when_free``)."""
    conn = getattr(listener, 'conn', None)
    consume = getattr(conn, 'consume', None)
    if consume is None:
        return
    try:
        consume(timeout=0.01)
    except Exception as e:  # the driver's Timeout, mostly
        LOG.debug('Keep-alive of a waiting listener: %s', e)
    # The driver sends the heartbeat only when a read times out: here
    # the broker's own heartbeats end the reads, and nothing else is
    # sent while calls wait.
    driver_conn = amqp_guard._driver_connection(listener)
    try:
        if driver_conn._heartbeat_supported_and_enabled():
            driver_conn._heartbeat_check()
    except AttributeError:
        pass
    except Exception as e:  # the next consume() reconnects
        LOG.debug('Heartbeat of a waiting listener: %s', e)


def stopping(listener):
    """True once ``listener`` is being stopped (its server's ``stop()``)."""
    shutdown = getattr(listener, '_shutdown', None)
    return shutdown is not None and shutdown.is_set()
