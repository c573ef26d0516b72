"""What receiving a message costs: py-amqp's TCP transport reading ahead,
frames read from its buffer without touching the socket's timeout, and the
listener's shallow copy of a call's context (``amqp_guard``)."""

import socket
import struct

from amqp import connection as amqp_connection
from amqp import transport as amqp_transport
from oslo_messaging._drivers import amqp as rpc_amqp
import pytest

from nova_proxy.common import amqp_guard


def _frame(payload, frame_type=1, channel=1):
    return struct.pack('>BHI', frame_type, channel, len(payload)) + \
        payload + b'\xce'


class _Socket:
    """Gives ``chunks`` one per ``recv()``, at most what is asked for; a
    ``socket.timeout`` item is raised instead."""

    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.asked = []

    def recv(self, size):
        self.asked.append(size)
        chunk = self.chunks.pop(0)
        if isinstance(chunk, Exception):
            raise chunk
        if len(chunk) > size:
            self.chunks.insert(0, chunk[size:])
            chunk = chunk[:size]
        return chunk

    def sendall(self, data):
        pass


def _transport(chunks):
    transport = amqp_transport.TCPTransport('127.0.0.1:5672')
    transport.sock = _Socket(chunks)
    transport._setup_transport()
    return transport


def test_a_message_that_arrives_whole_is_read_with_one_recv(
        fresh_amqp_guard):
    amqp_guard.install()
    frames = [_frame(b'method'), _frame(b'header', 2), _frame(b'b' * 3000, 3)]
    transport = _transport([b''.join(frames)])

    assert [transport.read_frame() for _ in frames] == [
        (1, 1, b'method'), (2, 1, b'header'), (3, 1, b'b' * 3000)]
    # py-amqp's own asks for 7 bytes, the payload, then 1 byte: 9 calls.
    assert transport.sock.asked == [amqp_guard.READ_AHEAD]
    assert transport._read_buffer == b''


def test_frames_split_across_reads_and_larger_than_the_read_ahead(
        fresh_amqp_guard):
    amqp_guard.install()
    big = b'x' * (3 * amqp_guard.READ_AHEAD + 5)
    data = _frame(b'first') + _frame(big, 3) + _frame(b'last')
    # Cut at awkward places: inside a header, inside a payload.
    chunks = [data[:3], data[3:20], data[20:40000], data[40000:]]
    transport = _transport(chunks)

    assert transport.read_frame() == (1, 1, b'first')
    assert transport.read_frame() == (3, 1, big)
    assert transport.read_frame() == (1, 1, b'last')
    assert transport.sock.chunks == []
    # A frame larger than the read-ahead is asked for whole.
    assert max(transport.sock.asked) > amqp_guard.READ_AHEAD


def test_a_timeout_inside_a_frame_loses_nothing(fresh_amqp_guard):
    amqp_guard.install()
    data = _frame(b'payload') + _frame(b'next')
    transport = _transport([data[:9], socket.timeout(), data[9:]])

    with pytest.raises(socket.timeout):
        transport.read_frame()
    assert transport.read_frame() == (1, 1, b'payload')
    assert transport.read_frame() == (1, 1, b'next')


def test_a_closed_connection_is_an_error(fresh_amqp_guard):
    amqp_guard.install()
    transport = _transport([_frame(b'partial')[:5], b''])
    with pytest.raises(OSError, match='unexpectedly closed'):
        transport.read_frame()


class _Connection:
    """What ``Connection.blocking_read`` uses of a connection."""

    def __init__(self, transport):
        self.transport = transport
        self.frames = []

    def on_inbound_frame(self, frame):
        self.frames.append(frame)
        return True


def test_a_buffered_frame_is_read_without_the_socket_timeout(
        fresh_amqp_guard, monkeypatch):
    amqp_guard.install()
    transport = _transport([_frame(b'one') + _frame(b'two') + b'\x01\x00'])
    timeouts = []
    original = amqp_transport.TCPTransport.having_timeout

    def having_timeout(self, timeout):
        timeouts.append(timeout)
        return original(self, timeout)

    monkeypatch.setattr(amqp_transport.TCPTransport, 'having_timeout',
                        having_timeout)
    transport.sock.settimeout = transport.sock.gettimeout = (
        lambda *args: None)
    conn = _Connection(transport)
    read = amqp_connection.Connection.blocking_read

    read(conn, timeout=0.25)  # from the socket: with its timeout
    read(conn, timeout=0.25)  # whole in the buffer: none
    assert conn.frames == [(1, 1, b'one'), (1, 1, b'two')]
    assert timeouts == [0.25]
    # Two bytes of the next frame's header: the socket again.
    transport.sock.chunks.append(_frame(b'three')[2:])
    read(conn, timeout=0.25)
    assert conn.frames[-1] == (1, 1, b'three')
    assert timeouts == [0.25, 0.25]


def test_the_context_of_a_call_is_copied_shallowly(fresh_amqp_guard):
    amqp_guard.install()
    signature = {'key': 'host:compute-1', 'nonce': 'n1'}
    message = {'method': 'ping', '_context_user': 'u',
               '_context_signature': signature, '_msg_id': 'm1',
               '_reply_q': 'reply_q1', '_timeout': None}

    context = rpc_amqp.unpack_context(message)
    values = context.to_dict()

    assert values['user'] == 'u' and values['signature'] == signature
    assert message == {'method': 'ping'}
    # Nothing else holds what was decoded: not copied again.
    assert values['signature'] is signature
    # A copy all the same: the listener's dict is its own.
    values['user'] = 'changed'
    assert context.to_dict()['user'] == 'u'
