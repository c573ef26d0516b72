"""Connections held between the transactions of the hot path.

The frequent one-statement writes (``session.hot_writer``) spent about a
sixth of their CPU taking a connection from SQLAlchemy's pool and giving
it back: the pool's lock and queue, a new ``Connection``, the pool's
``checkout`` and ``checkin`` events (measured in-process on PostgreSQL
for issue 16). A ``HeldConnections`` keeps up to ``size`` idle
``Connection`` objects checked out of the pool and hands them to the next
transaction instead; taking and giving back is a deque's pop and append,
atomic under the GIL.

What the pool would check at checkout is checked here instead:

* a connection is not used after the pool was invalidated (SQLAlchemy
  invalidates it when any connection turns out to be dead: a database
  restart kills them all), nor after ``recycle`` seconds held, nor
  in another process than the one that checked it out (after a fork,
  the parent's connections are left alone, never closed nor reused);
* a connection that was invalidated, closed or left in a transaction is
  closed instead of kept.

The hot reads hold connections of their own on PostgreSQL, in autocommit
and read only (``session._AUTOCOMMIT_READERS``); the two sets together
hold no more than the pool's size.

Everything that runs on a connection stays as it is: the engine's events
(oslo.db's error translation, our SQLite ``BEGIN IMMEDIATE``) fire as on
any connection, and a dead connection is found by the transaction's first
statement, as with the pool (``session._run_once_more_if_lost``).
"""

import collections
import os
import time

from oslo_log import log as logging
from sqlalchemy import pool as sa_pool

LOG = logging.getLogger(__name__)

__all__ = ['HeldConnections', 'holds']

# The connections of another process (a fork's parent), kept referenced so
# that the garbage collector never returns them to a pool: that would
# roll back on a socket the parent still uses.
_abandoned = []


def holds(engine):
    """Whether connections of ``engine``'s pool may be held: only a
    ``QueuePool``'s (a ``StaticPool`` shares one connection, a
    ``NullPool`` keeps none)."""
    return isinstance(engine.pool, sa_pool.QueuePool)


class HeldConnections:
    """Up to ``size`` idle connections of ``engine``, each held at most
    ``recycle`` seconds (None or negative: no limit). ``options``:
    SQLAlchemy execution options each connection is given when it is
    taken from the pool, one at a time in their order (psycopg2 makes a
    connection read only for the session only once it is in autocommit;
    SQLAlchemy sets them back when the connection returns there).
    ``share_size_with``: another ``HeldConnections`` of the engine whose
    idle connections count towards this one's ``size`` and the other way
    round, so that the two together hold no more than ``size``."""

    def __init__(self, engine, size, recycle=None, options=None,
                 share_size_with=None):
        self._engine = engine
        self._options = options
        self._group = [self]
        if share_size_with is not None:
            self._group = share_size_with._group
            self._group.append(self)
        self._pool = engine.pool
        self._size = max(size or 0, 0)
        self._recycle = recycle if recycle is not None and recycle >= 0 \
            else None
        self._pid = os.getpid()
        self._idle = collections.deque()
        self._cleared = False

    @property
    def driver(self):
        """The DB-API driver's name (``psycopg2``...) of the engine."""
        return self._engine.dialect.driver

    def take(self):
        """A connection: ``(connection, token)``, the token to give back
        with it."""
        if os.getpid() != self._pid:
            self._abandon()
        while True:
            try:
                connection, since = self._idle.pop()
            except IndexError:
                break
            if self._usable(connection, since):
                return connection, since
            self._close(connection)
        connection = self._engine.connect()
        for name, value in (self._options or {}).items():
            connection.execution_options(**{name: value})
        return connection, time.time()

    def give_back(self, connection, since):
        """Keep ``connection`` for the next ``take``, or close it (it
        goes back to the pool) when it may not be kept."""
        if not self._cleared and os.getpid() == self._pid and \
                self._held_count() < self._size and \
                not connection.in_transaction() and \
                self._usable(connection, since):
            self._idle.append((connection, since))
        else:
            self._close(connection)

    def _held_count(self):
        return sum(len(held._idle) for held in self._group)

    def clear(self):
        """Close every idle connection (they go back to the pool), and
        each one in use when it is given back. In a fork of the process
        that held them they are left alone."""
        self._cleared = True
        if os.getpid() != self._pid:
            self._abandon()
            return
        while True:
            try:
                connection, _since = self._idle.pop()
            except IndexError:
                return
            self._close(connection)

    def _usable(self, connection, since):
        if connection.closed or connection.invalidated:
            return False
        if self._engine.pool is not self._pool or \
                since <= self._pool._invalidate_time:
            return False
        return self._recycle is None or time.time() - since < self._recycle

    def _abandon(self):
        while True:
            try:
                _abandoned.append(self._idle.pop())
            except IndexError:
                break
        self._pid = os.getpid()

    @staticmethod
    def _close(connection):
        try:
            connection.close()
        except Exception:
            LOG.debug('Closing a held database connection failed',
                      exc_info=True)
