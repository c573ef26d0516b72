"""Which database errors the RPC boundary reports as DatabaseUnavailable."""

import logging

from oslo_db import exception as db_exc
import oslo_messaging as messaging
import pytest
import sqlalchemy as sa

from nova_proxy.common import db_errors
from nova_proxy.common import rpc
from nova_proxy import exception


def _operational(statement, message='server closed the connection',
                 invalidated=False):
    return sa.exc.OperationalError(statement, {}, Exception(message),
                                   connection_invalidated=invalidated)


@pytest.mark.parametrize('error', [
    db_exc.DBConnectionError(_operational('SELECT 1', invalidated=True)),
    # Refused when the pool opens a connection: no statement was sent.
    _operational(None, 'FATAL: database "x" is not currently accepting '
                       'connections\nmore detail'),
    _operational('UPDATE instances SET x=1', invalidated=True),
    sa.exc.InterfaceError(None, {}, Exception('connection already closed')),
])
def test_unavailable(error):
    assert db_errors.is_database_unavailable(error)


@pytest.mark.parametrize('error', [
    _operational('UPDATE instances SET x=1', 'lock wait timeout'),
    db_exc.DBDeadlock(_operational('UPDATE x', 'deadlock detected')),
    db_exc.DBDuplicateEntry(['uuid']),
    KeyError('x'),
    sa.exc.IntegrityError('INSERT', {}, Exception('dupe')),
])
def test_not_unavailable(error):
    assert not db_errors.is_database_unavailable(error)


def test_describe_keeps_the_driver_message_first_line():
    error = _operational(None, 'FATAL: database "x" is not currently '
                               'accepting connections\nsecond line')
    assert db_errors.describe(error) == (
        'FATAL: database "x" is not currently accepting connections')
    wrapped = db_exc.DBConnectionError(error)
    assert db_errors.describe(wrapped) == db_errors.describe(error)


class _Endpoint:

    @rpc.remotable
    def fails(self, context, error):
        raise error


def test_remotable_reports_database_unavailable_without_traceback(caplog):
    caplog.set_level(logging.DEBUG)
    cause = _operational(None, 'connection refused')
    with pytest.raises(messaging.ExpectedException) as e:
        _Endpoint().fails(None, error=cause)
    error = e.value.exc_info[1]
    assert type(error) is exception.DatabaseUnavailable
    assert error.kwargs == {'method': 'fails',
                            'reason': 'connection refused'}
    # One warning line naming the method, no traceback.
    assert not [r for r in caplog.records if r.exc_info]
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING]
    assert warnings == ['Database unavailable while serving fails: '
                        'connection refused']


def test_log_failure_outage_is_one_line_anything_else_a_traceback(caplog):
    log = logging.getLogger('test.db_errors')
    try:
        raise _operational(None, 'connection refused\ndetail')
    except Exception:
        db_errors.log_failure(log, 'Heartbeat of %s failed', 'p-1')
    try:
        raise KeyError('bug')
    except Exception:
        db_errors.log_failure(log, 'Heartbeat of %s failed', 'p-1')
    first, second = caplog.records
    assert first.levelno == logging.WARNING and not first.exc_info
    assert first.getMessage() == ('Heartbeat of p-1 failed: database '
                                  'unavailable: connection refused')
    assert second.levelno == logging.ERROR and second.exc_info
