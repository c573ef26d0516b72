"""The nonces of signed calls already served, shared by every proxy.

``nova_proxy.common.auth`` refuses a signed call whose nonce was seen
before. Kept in each process's memory, that record forgot a call when the
process restarted and never knew the calls another proxy had served, so a
captured call could be played again there. Here it is one table
(``signed_call_nonces``) in the database every proxy already uses: a call
is served only by the proxy whose INSERT of its nonce went in first.

Why the database and not a cache such as Redis: every proxy already needs
it (a call it cannot write a nonce for is a call it could not have served
anyway), so it adds no process to run, secure or monitor, and no second
thing to lose; it costs one small INSERT per signed call, committed by
itself or with the call's write (below; docs/security.rst).

On PostgreSQL with psycopg2, a call whose endpoint writes in one
statement that commits as it runs (``rpc.nonce_with_write``: the
heartbeat, the compute node's save) does not pay that INSERT's round
trip: its nonce rides with the call's write (``RidingNonce``), the two
statements sent as one query, which the server runs as one transaction.
A replay's INSERT fails on the key, and the write with it; a write that
fails for another reason takes the INSERT with it, and the nonce is
then recorded by itself before the call's error is answered, so a call
is never served twice. Wherever the nonce cannot ride (another
database, a transaction, a read first), it is recorded by itself before
the first write, as for any call.

Rows are purged, by whichever proxy gets there first, once they are past
their signature's window by one more window: the proxies' clocks may
disagree by up to that much (``[proxy] signature_max_age`` requires that
they agree within it), and a proxy with a fast clock must not forget a
nonce that a slow one would still accept. The table thus holds the signed
calls of about two windows.
"""

import secrets
import time

from oslo_log import log as logging
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from nova_proxy.db import _driver
from nova_proxy.db import models
from nova_proxy.db import session as db_session

LOG = logging.getLogger(__name__)

__all__ = ['add', 'count', 'purge', 'SharedNonces', 'RidingNonce']

_TABLE = models.SignedCallNonce.__table__

# A call's token in its nonce's row (``attempt``): 16 random bytes, hex.
_ATTEMPT_BYTES = 16

_ATTEMPT_OF = sa.select(_TABLE.c.attempt).where(
    _TABLE.c.digest == sa.bindparam('digest', type_=_TABLE.c.digest.type))


# dialect name -> its INSERT, built once: a statement built for each call
# was most of the Python a signed call added (cache key and all).
_INSERTS = {}


def _insert_unless_present(dialect):
    """One INSERT that does nothing when the digest is there: no error,
    so a replay leaves no unique-violation line in the database's log.
    Its parameters are ``digest``, ``expires_at`` and ``attempt``.

    On PostgreSQL it also turns ``synchronous_commit`` off for its own
    transaction (``set_config(..., true)`` is ``SET LOCAL``; in
    autocommit, the statement's own transaction), in the same statement:
    it returns before the commit's WAL flush, and costs one round trip
    less than a ``SET LOCAL`` of its own (a crash of the database may
    forget the nonces of the last moment, about 3x wal_writer_delay; the
    call's own transaction is flushed as usual). It returns the row it
    inserted, if any (RETURNING): an INSERT that returns nothing is not
    run by the driver path (``_driver``) but by SQLAlchemy's execution,
    which cost a fifth more CPU per nonce (measured in-process)."""
    statement = _INSERTS.get(dialect)
    if statement is not None:
        return statement
    digest = sa.bindparam('digest', type_=_TABLE.c.digest.type)
    expires_at = sa.bindparam('expires_at', type_=_TABLE.c.expires_at.type)
    attempt = sa.bindparam('attempt', type_=_TABLE.c.attempt.type)
    if dialect == 'postgresql':
        asynchronous = sa.func.set_config(
            'synchronous_commit', 'off', sa.true()).is_not(None)
        statement = postgresql.insert(_TABLE).from_select(
            ['digest', 'expires_at', 'attempt'],
            sa.select(digest, expires_at, attempt).where(
                asynchronous)).on_conflict_do_nothing(
            index_elements=['digest']).returning(_TABLE.c.expires_at)
    else:
        statement = sa.insert(_TABLE).values(
            digest=digest, expires_at=expires_at,
            attempt=attempt).prefix_with(
            'IGNORE' if dialect in ('mysql', 'mariadb') else 'OR IGNORE')
    _INSERTS[dialect] = statement
    return statement


def _params(digest, expires_at):
    """The row of ``digest``, with a new attempt token."""
    return {'digest': digest, 'expires_at': int(expires_at) + 1,
            'attempt': secrets.token_hex(_ATTEMPT_BYTES)}


def add(context, digest, expires_at):
    """Record ``digest`` until ``expires_at`` (seconds since the epoch),
    in one statement: every signed call does it. On PostgreSQL with
    psycopg2 the statement commits as it runs: one round trip instead of
    three (BEGIN, INSERT, COMMIT).

    There the INSERT runs with as little as can be around it
    (``session.statement_in_autocommit``): it runs once, so a row it did
    not insert is another call's (a replay). Where it cannot run so, it
    runs through ``_add`` (``autocommit_writer``); where its connection
    was lost, ``_add`` is its one more run, with the same attempt token:
    an INSERT that had gone in before its answer was lost is told from a
    replay, which costs a second statement (the read of whose INSERT was
    there first).

    :returns: False when it was already recorded (a replay).
    """
    params = _params(digest, expires_at)
    if context is None:
        return _add_alone(params)
    return _add(context, **params)


def _add_alone(params):
    """``add``'s INSERT of ``params``, with as little as can be around
    it."""
    result = db_session.statement_in_autocommit(_insert_unless_present,
                                                params)
    if result is db_session.LOST:
        with db_session.ran_once():
            return _add(None, **params)
    if result is not None:
        return result.rowcount == 1
    return _add(None, **params)


@db_session.autocommit_writer
def _add(context, digest, expires_at, attempt):
    """The INSERT of ``add``, with ``attempt``: a token of this call,
    the same if the connection is lost and this runs again. When the
    digest is there already, its row says whose INSERT put it there: this
    call's own (committed before the connection was lost, so the call is
    served once all the same) or another's (a replay)."""
    connection = context.connection
    result = _driver.execute(
        connection, _insert_unless_present(connection.dialect.name),
        {'digest': digest, 'expires_at': expires_at, 'attempt': attempt})
    if result.rowcount == 1:
        return True
    recorded = _driver.execute(
        connection, _ATTEMPT_OF, {'digest': digest}).first()
    return recorded is not None and recorded[0] == attempt


@db_session.core_reader
def count(context, expiring_from=None):
    """How many nonces are recorded; with ``expiring_from`` (seconds since
    the epoch), only those kept until then or later, which no purge
    touches before then. The benchmark counts its fleet's signed calls
    with it."""
    query = sa.select(sa.func.count()).select_from(_TABLE)
    if expiring_from is not None:
        query = query.where(_TABLE.c.expires_at >= int(expiring_from))
    return context.connection.execute(query).scalar()


@db_session.core_writer
def purge(context, before):
    """Delete the rows that expired before ``before``. :returns: how many."""
    return context.connection.execute(
        sa.delete(_TABLE).where(_TABLE.c.expires_at < int(before))).rowcount


# The nonce INSERT that rides with a write, by dialect: plain, so that a
# replay fails the whole query on the key.
_RIDING_SQL = {}
_RIDING_NAMES = {'digest': 'np_nonce_digest',
                 'expires_at': 'np_nonce_expires_at',
                 'attempt': 'np_nonce_attempt'}


def _riding_sql(dialect):
    sql = _RIDING_SQL.get(dialect.name)
    if sql is None:
        statement = sa.insert(_TABLE).values(
            {column: sa.bindparam(name, type_=_TABLE.c[column].type)
             for column, name in _RIDING_NAMES.items()})
        sql = _RIDING_SQL[dialect.name] = str(statement.compile(
            dialect=dialect))
    return sql


def _rides(connection, arguments):
    """Whether a statement on ``connection`` can carry the nonce: the
    two sent as one query run as one transaction only where the driver
    sends them so (psycopg2's simple query), in autocommit, and the
    connection may write."""
    if connection.dialect.driver != 'psycopg2' or \
            not isinstance(arguments, dict):
        return False
    dbapi_connection = connection.connection.dbapi_connection
    return dbapi_connection.autocommit and \
        dbapi_connection.readonly is not True


def _closed(connection):
    try:
        return bool(connection.connection.dbapi_connection.closed)
    except Exception:
        return True


class RidingNonce:
    """A signed call's nonce, to ride with the call's first write
    (``_driver.ride_ahead``; see the module's documentation).

    :param refuse: raises the replay's error (``auth``'s refusal).
    """

    # Not sent yet; sent, its outcome unknown (the connection was lost);
    # recorded.
    PENDING, UNKNOWN, DONE = 'pending', 'unknown', 'done'

    def __init__(self, digest, expires_at, refuse):
        self.params = _params(digest, expires_at)
        self.refuse = refuse
        self.state = self.PENDING

    def board(self, connection, sql, arguments, write):
        """The SQL and arguments of ``sql`` with this nonce's INSERT
        first, or None where it cannot ride there."""
        if self.state != self.PENDING or not write or \
                not _rides(connection, arguments):
            return None
        arguments = dict(arguments)
        for column, name in _RIDING_NAMES.items():
            arguments[name] = self.params[column]
        self.state = self.UNKNOWN
        return '%s; %s' % (_riding_sql(connection.dialect), sql), arguments

    def sent(self):
        self.state = self.DONE

    def failed(self, error, connection):
        """The query it rode in on ``connection`` failed. With the
        server's error on a connection still open, both statements were
        rolled back: it rides again, unless its own INSERT failed on the
        key (a replay: returns True, and the caller refuses the call,
        ``refuse``). Otherwise (the connection lost, closed, or its
        server shutting down) the query may have committed: its outcome
        is unknown until it is recorded by itself (``settle``)."""
        _driver.ride_ahead(self)
        code = getattr(error, 'pgcode', None)
        diag = getattr(error, 'diag', None)
        if code is None or diag is None or code[:2] in _OUTCOME_UNKNOWN or \
                _closed(connection):
            return False
        if code == _UNIQUE_VIOLATION and diag.table_name == _TABLE.name:
            _driver.ride_ahead(None)
            self.state = self.DONE
            return True
        self.state = self.PENDING
        return False

    def finish(self):
        """At the end of its call: recorded (``settle``), and no longer
        ahead of this thread's statements, whatever happens."""
        try:
            if _driver.riding() is self:
                _driver.ride_ahead(None)
            self.settle()
        finally:
            if _driver.riding() is self:
                _driver.ride_ahead(None)

    def settle(self):
        """Record it by itself, where it has not ridden: before a write
        that cannot carry it, or at the end of a call that wrote
        nothing. After a query whose outcome is unknown, its attempt
        token tells its own row from a replay's.

        :raises: the refusal of a replay; the database's errors."""
        if self.state == self.DONE:
            return
        try:
            if self.state == self.UNKNOWN:
                with db_session.ran_once():
                    recorded = _add(None, **self.params)
            else:
                recorded = _add_alone(self.params)
        except BaseException:
            # It may have gone in; and the call's transaction, which
            # started this, may run again: ahead of it still, to be
            # settled by its token before its write.
            self.state = self.UNKNOWN
            _driver.ride_ahead(self)
            raise
        self.state = self.DONE
        if not recorded:
            self.refuse()


# PostgreSQL's SQLSTATE of a unique violation, and the classes of those
# after which a query may have committed all the same: connection
# exceptions, operator intervention (a server shutting down, a backend
# terminated), internal errors.
_UNIQUE_VIOLATION = '23505'
_OUTCOME_UNKNOWN = frozenset(['08', '57', 'XX'])


class SharedNonces:
    """The nonce record ``auth.Verifier`` uses on the proxies.

    :param window: the signature window in seconds (rows are kept for
        twice as long).
    :param purge_every: seconds between two purges by this process.
    """

    def __init__(self, window, purge_every=60):
        self.window = window
        self.purge_every = purge_every
        self._next_purge = 0

    def _purge_when_due(self, now):
        if time.monotonic() >= self._next_purge:
            # Not locked: two threads purging at once do no harm.
            self._next_purge = time.monotonic() + self.purge_every
            gone = purge(None, now - self.window)
            if gone:
                LOG.debug('Purged %d expired nonces', gone)

    def check_and_add(self, nonce, expires, now):
        """:param nonce: a digest (text) unique to one signed call.
        :returns: False if ``nonce`` was already seen (a replay).
        :raises: the database's errors (the caller gets
            DatabaseUnavailable when it is down)."""
        self._purge_when_due(now)
        return add(None, nonce, expires)

    def ride(self, nonce, expires, now, refuse):
        """Have ``nonce`` ride with this thread's next write
        (``RidingNonce``): returns it, installed; its ``finish()`` must
        follow the call. None where no statement could carry it (not
        PostgreSQL with psycopg2): then ``check_and_add``."""
        if not db_session.statements_can_ride():
            return None
        left = _driver.riding()
        if left is not None:
            # A call before on this thread did not finish its nonce: a
            # bug, but never one that lets that call's nonce ride with
            # this call's write.
            LOG.error('A signed call\'s nonce was left riding on this '
                      'thread: recorded now')
            _driver.settle_riding()
        self._purge_when_due(now)
        nonce = RidingNonce(nonce, expires, refuse)
        _driver.ride_ahead(nonce)
        return nonce


def settle_before_a_write(conn, cursor, statement, parameters, context,
                          executemany):
    """The engine's ``before_cursor_execute`` listener: a write that is
    about to run while a nonce rides (and did not take it on board, which
    the driver path does before calling its listeners) has the nonce
    recorded by itself first, whatever path it came by."""
    if _driver.riding() is None:
        return
    if context is not None and (context.isinsert or context.isupdate or
                                context.isdelete):
        _driver.settle_riding()
    elif statement.lstrip()[:6].upper() in _WRITES:
        _driver.settle_riding()


_WRITES = frozenset(['INSERT', 'UPDATE', 'DELETE', 'MERGE ', 'WITH '])
