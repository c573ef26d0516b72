"""A TCP relay on loopback between our processes and the broker, that a
test cuts and restores: a broker outage for the processes behind it only.
``switch()`` points it at another server, as a load balancer in front of
database nodes does when the active one fails.

The machine's RabbitMQ is shared by everyone's tests and is never stopped;
cutting the relay is what a stopped broker looks like from the client:
open connections are closed, new ones are refused, until ``restore()``.
"""

import logging
import socket
import threading
import urllib.parse

LOG = logging.getLogger(__name__)

__all__ = ['BrokerCut']


def _close(sockets):
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


class BrokerCut:

    def __init__(self, url, bind='127.0.0.1'):
        """:param url: the broker's ``rabbit://`` transport URL (or any
            ``scheme://host:port`` of a TCP server)
        :param bind: the address the relay listens on"""
        self.upstream_url = url
        self.bind = bind
        parts = urllib.parse.urlsplit(url)
        self._upstream = (parts.hostname, parts.port or 5672)
        self._lock = threading.Lock()
        self._sockets = set()
        self._listener = None
        self.port = None

    @property
    def url(self):
        """The transport URL through the relay."""
        parts = urllib.parse.urlsplit(self.upstream_url)
        netloc = '%s@%s:%d' % (parts.netloc.rsplit('@', 1)[0], self.bind,
                               self.port)
        return parts._replace(netloc=netloc).geturl()

    def start(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.bind, self.port or 0))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,),
                         name='broker-cut-accept', daemon=True).start()
        return self

    restore = start

    def cut(self):
        """Close every connection and refuse new ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            listener.close()
        _close(sockets)

    stop = cut

    def switch(self, host, port):
        """Send new connections to ``host:port`` and close the open ones,
        as a load balancer does when its active backend is marked down
        (HAProxy's ``on-marked-down shutdown-sessions``)."""
        with self._lock:
            self._upstream = (host, port)
            sockets, self._sockets = self._sockets, set()
        _close(sockets)

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                with self._lock:
                    address = self._upstream
                upstream = socket.create_connection(address, timeout=5)
                upstream.settimeout(None)
            except OSError as e:
                # The client sees a reset: say why, for the test's log (a
                # compute once died of such a reset at start, and nothing
                # told where it came from).
                LOG.warning('broker_cut: cannot reach %s:%s (%s); '
                            'closing the client connection', address[0],
                            address[1], e)
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst),
                                 name='broker-cut-pipe', daemon=True).start()

    def _pipe(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        # The other direction's thread then ends too, and closes dst.
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self._lock:
            self._sockets.discard(src)
        src.close()
