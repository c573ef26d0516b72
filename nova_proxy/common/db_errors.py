"""Which database errors mean "the database is not there".

oslo.db wraps a connection lost in the middle of a statement as
``DBConnectionError``, but a connection refused when the pool opens a new
one (server down, database not accepting connections, wrong password)
reaches us as SQLAlchemy's plain ``OperationalError`` with no statement.
Both mean the same to a caller: the database is not there; try again
later (a repeat is only safe for calls safe to repeat: a connection lost
during a commit leaves its outcome unknown). The RPC boundary
(``nova_proxy.common.rpc.remotable``) turns them into
``DatabaseUnavailable``; background loops log them as one warning line
(``log_failure``).

This module imports no database code: it is safe in a compute process.
"""

import sys

from oslo_db import exception as db_exc
import sqlalchemy as sa

from nova_proxy.common import metrics

__all__ = ['is_database_unavailable', 'describe', 'log_failure']


def is_database_unavailable(error):
    """True when ``error`` says the database could not be reached."""
    if isinstance(error, db_exc.DBConnectionError):
        return True
    if isinstance(error, db_exc.DBError):
        error = error.inner_exception
    if isinstance(error, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        # A disconnect seen by the dialect, or a failure before any
        # statement was sent: opening the connection failed.
        return bool(error.connection_invalidated) or error.statement is None
    return False


def describe(error):
    """The first line of the driver's message, without SQL or URLs of
    SQLAlchemy's background notes."""
    if isinstance(error, db_exc.DBError) and error.inner_exception:
        error = error.inner_exception
    if isinstance(error, sa.exc.DBAPIError) and error.orig is not None:
        error = error.orig
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def log_failure(log, message, *args):
    """In an ``except`` block of a background loop: a database outage is
    one warning line (it repeats every iteration until the database is
    back, so no traceback); anything else is logged with its traceback."""
    error = sys.exc_info()[1]
    if error is not None and is_database_unavailable(error):
        metrics.db_unavailable('background')
        log.warning(message + ': database unavailable: %s',
                    *(args + (describe(error),)))
    else:
        log.exception(message, *args)
