"""Calls acknowledged when a thread takes them, not when they are read.

oslo.messaging's rabbit RPC listener acknowledges a call when it reads
it, so a server that read faster than its threads served held the rest
in memory, acknowledged: a crash lost them (measured: a server killed
with 2 calls running and 22 more sent lost 22 of the 24; the next server
answered the 2 it had not read yet).
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
it reads what has come (queued, unacknowledged), runs the heartbeat
check, which the driver itself runs only when a read times out, and
leaves a connection found broken to the driver's next poll, which
re-establishes it with its consumers.

Before each acknowledgement, the connection reads what has already come
to it, without waiting: a close from the broker may sit behind the
deliveries it sent before it, unread, on a socket the broker keeps open
for the reply. A connection found closed (or broken) acknowledges
nothing more: an acknowledgement written to it would be lost without an
error, and the call, served here, would run again where the broker
redelivers it. What is left is AMQP's own: an acknowledgement is never
confirmed, so a connection that dies in the instant after one is
written may still have its call redelivered.

``tests/functional/test_hand_over.py`` holds a server's only thread
for three and a half heartbeat intervals (it keeps its calls), and has
the broker close its connections while calls wait and a second server
take what it gives back (each call served once, by one of them).
"""


from oslo_log import log as logging

from nova_proxy.common import amqp_guard

LOG = logging.getLogger(__name__)

__all__ = ['ack_on_hand_over', 'acknowledge', 'keep_alive']

# Frames read at most before an acknowledgement: a prefetch's deliveries
# (three frames each) and the broker's heartbeats and close, many times
# over.
READ_AT_MOST = 1000


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
    that listener or one it waits for. True if the call may be served:
    acknowledged now, or at read as the driver does. False if not: it
    was delivered on a channel that is gone since (a reconnection), or
    on a connection found closed by the broker; the broker delivers it
    again, here or to another server."""
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
    if not _read_what_has_come(conn):
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


def _read_what_has_come(conn):
    """Have the driver connection ``conn`` read what has already come to
    it, without waiting: deliveries are queued (unacknowledged), and a
    close from the broker is seen. False if the connection is closed,
    broken or being re-established (nothing may be acknowledged on it;
    the driver's next poll re-establishes it)."""
    amqp_conn, transport, sock = amqp_guard._established(conn)
    try:
        if sock is None or not conn.connection.connected:
            return False
        amqp_guard.read_what_has_come(amqp_conn, transport, sock, conn,
                                      READ_AT_MOST)
    except Exception as e:
        LOG.info('The connection of calls waiting for a thread is '
                 'closed (%s): they are left to their redelivery', e)
        return False
    return True


def keep_alive(listener):
    """For the receiving thread while it waits for a free thread
    (``executor.submit_when_free``): the listener's connection reads
    what has come (queued, not acknowledged) and sends its heartbeat; a
    connection found broken is left to the driver's next poll."""
    conn = amqp_guard._driver_connection(listener)
    if conn is None or not _read_what_has_come(conn):
        return
    # The driver sends the heartbeat only when a read times out: here
    # the broker's own heartbeats end the reads, and nothing else is
    # sent while calls wait.
    try:
        if conn._heartbeat_supported_and_enabled():
            conn._heartbeat_check()
    except AttributeError:
        pass
    except Exception as e:  # the next poll re-establishes it
        LOG.debug('Heartbeat of a waiting listener: %s', e)
