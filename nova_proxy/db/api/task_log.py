"""nova's task log: which host ran a periodic audit for which period
(nova-compute's instance usage audit)."""

from oslo_db import exception as db_exc
import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session

_TASK_LOG = models.TaskLog.__table__


def _period(value, name):
    try:
        return _values.parse_time(value)
    except ValueError as e:
        raise exception.Invalid(reason='%s: %s' % (name, e)) from None


def _task_log_where(context, task_name, period_beginning, period_ending,
                    host=None, state=None):
    t = _TASK_LOG.c
    conditions = _values.read_deleted_filter(context, _TASK_LOG) + [
        t.task_name == task_name,
        t.period_beginning == _period(period_beginning, 'period_beginning'),
        t.period_ending == _period(period_ending, 'period_ending')]
    if host is not None:
        conditions.append(t.host == host)
    if state is not None:
        conditions.append(t.state == state)
    return conditions


@db_session.core_reader
def task_log_get(context, task_name, period_beginning, period_ending, host,
                 state=None):
    """:returns: the task's log row, or None."""
    found = _values.rows(context.connection, sa.select(_TASK_LOG).where(
        *_task_log_where(context, task_name, period_beginning,
                         period_ending, host, state)).order_by(
        _TASK_LOG.c.id).limit(1))
    return found[0] if found else None


@db_session.core_reader
def task_log_get_all(context, task_name, period_beginning, period_ending,
                     host=None, state=None):
    return _values.rows(context.connection, sa.select(_TASK_LOG).where(
        *_task_log_where(context, task_name, period_beginning,
                         period_ending, host, state)).order_by(
        _TASK_LOG.c.id))


@db_session.core_writer
def task_log_begin_task(context, task_name, period_beginning, period_ending,
                        host, task_items=None, message=None):
    """Mark a task RUNNING on ``host`` for the period.

    :raises: TaskAlreadyRunning (the host has a log of the task for the
        period, running or done, as in nova), InvalidUpdate
    """
    values = _values.check_nova_values(_TASK_LOG, {
        'task_name': task_name, 'host': host, 'state': 'RUNNING',
        'period_beginning': period_beginning,
        'period_ending': period_ending,
        # nova stores message and task_items only when given (truthy).
        'message': message or '', 'task_items': task_items or 0})
    now = db_session.utcnow()
    try:
        with context.connection.begin_nested():
            _dialect.insert_row(context.connection, _TASK_LOG, dict(
                values, created_at=now, updated_at=now, deleted=0,
                errors=0))
    except db_exc.DBDuplicateEntry:
        raise exception.TaskAlreadyRunning(task_name=task_name, host=host)


@db_session.core_writer
def task_log_end_task(context, task_name, period_beginning, period_ending,
                      host, errors, message=None):
    """Mark the task DONE with its error count.

    :raises: TaskNotRunning (no log of the task on ``host`` for the
        period), InvalidUpdate
    """
    values = {'state': 'DONE', 'errors': errors}
    if message:
        values['message'] = message
    values = _values.check_nova_values(_TASK_LOG, values)
    values['updated_at'] = db_session.utcnow()
    result = context.connection.execute(sa.update(_TASK_LOG).where(
        *_task_log_where(context, task_name, period_beginning,
                         period_ending, host)).values(**values))
    if result.rowcount == 0:
        raise exception.TaskNotRunning(task_name=task_name, host=host)
