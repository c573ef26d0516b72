"""nova's task log and volume usage calls of the DB API (wire 2.x), on
SQLite, PostgreSQL and MariaDB."""

import pytest

from nova_proxy.db import api
from nova_proxy import exception

BEGIN = '2026-11-01T00:00:00+00:00'
END = '2026-12-01T00:00:00+00:00'


def test_task_log_runs_once_per_host_and_period(db_all, admin_context):
    assert api.task_log_get(admin_context, 'audit', BEGIN, END, 'h1') is None
    api.task_log_begin_task(admin_context, 'audit', BEGIN, END, 'h1',
                            task_items=7, message='started')
    with pytest.raises(exception.TaskAlreadyRunning) as raised:
        api.task_log_begin_task(admin_context, 'audit', BEGIN, END, 'h1')
    assert raised.value.kwargs == {'task_name': 'audit', 'host': 'h1'}
    # Another host, another period: their own logs.
    api.task_log_begin_task(admin_context, 'audit', BEGIN, END, 'h2')
    api.task_log_begin_task(admin_context, 'audit', END,
                            '2027-01-01T00:00:00Z', 'h1')
    log = api.task_log_get(admin_context, 'audit', BEGIN, END, 'h1')
    assert (log['state'], log['task_items'], log['message'],
            log['errors']) == ('RUNNING', 7, 'started', 0)
    assert log['period_beginning'] == BEGIN
    api.task_log_end_task(admin_context, 'audit', BEGIN, END, 'h1', 2,
                          message='done')
    log = api.task_log_get(admin_context, 'audit', BEGIN, END, 'h1')
    assert (log['state'], log['errors'], log['message']) == (
        'DONE', 2, 'done')
    assert api.task_log_get(admin_context, 'audit', BEGIN, END, 'h1',
                            state='RUNNING') is None
    assert sorted(t['host'] for t in api.task_log_get_all(
        admin_context, 'audit', BEGIN, END)) == ['h1', 'h2']
    assert [t['host'] for t in api.task_log_get_all(
        admin_context, 'audit', BEGIN, END, state='RUNNING')] == ['h2']
    with pytest.raises(exception.TaskNotRunning):
        api.task_log_end_task(admin_context, 'audit', BEGIN, END, 'h3', 0)
    with pytest.raises(exception.Invalid):
        api.task_log_get(admin_context, 'audit', 'yesterday', END, 'h1')


def _instance(ctx, host='h1'):
    return api.instance_create(ctx, {'host': host, 'node': host + '-n'})


def _usage(ctx, instance, counters, totals=False, volume='vol-1',
           scope_host=None):
    return api.vol_usage_update(ctx, volume, *counters, instance['uuid'],
                                'p1', 'u1', 'az1', update_totals=totals,
                                scope_host=scope_host)


def test_volume_usage_current_then_totals(db_all, admin_context):
    inst = _instance(admin_context)
    row = _usage(admin_context, inst, (1, 10, 2, 20))
    assert (row['curr_reads'], row['curr_read_bytes'], row['curr_writes'],
            row['curr_write_bytes'], row['instance_uuid'],
            row['volume_id']) == (1, 10, 2, 20, inst['uuid'], 'vol-1')
    assert row['curr_last_refreshed'] and row['tot_last_refreshed'] is None
    row = _usage(admin_context, inst, (3, 30, 4, 40))
    assert (row['curr_reads'], row['tot_reads']) == (3, 0)
    # Lower than stored: the instance restarted, the stored counters go
    # to the totals first.
    row = _usage(admin_context, inst, (1, 5, 1, 5))
    assert (row['curr_reads'], row['tot_reads'], row['tot_read_bytes'],
            row['tot_writes'], row['tot_write_bytes']) == (1, 3, 30, 4, 40)
    # On detach: the given counters are added to the totals.
    row = _usage(admin_context, inst, (2, 6, 2, 6), totals=True)
    assert (row['curr_reads'], row['tot_reads'], row['tot_read_bytes']) == (
        0, 5, 36)
    assert row['tot_last_refreshed']


def test_volume_usage_first_record_on_detach_is_totals(
        db_all, admin_context):
    inst = _instance(admin_context)
    row = _usage(admin_context, inst, (5, 50, 6, 60), totals=True,
                 volume='vol-2')
    assert (row['tot_reads'], row['tot_write_bytes'], row['curr_reads']) == (
        5, 60, 0)


def test_volume_usage_is_confined(db_all, admin_context):
    mine, theirs = _instance(admin_context, 'h1'), _instance(admin_context,
                                                             'h2')
    _usage(admin_context, theirs, (1, 1, 1, 1), volume='vol-9')
    with pytest.raises(exception.HostScopeViolation):
        _usage(admin_context, theirs, (2, 2, 2, 2), scope_host='h1')
    # Naming its own instance does not take over another's volume record.
    with pytest.raises(exception.HostScopeViolation):
        _usage(admin_context, mine, (2, 2, 2, 2), volume='vol-9',
               scope_host='h1')
    assert _usage(admin_context, mine, (2, 2, 2, 2), volume='vol-8',
                  scope_host='h1')['curr_reads'] == 2
    with pytest.raises(exception.InvalidUpdate):
        _usage(admin_context, mine, (-1, 2, 2, 2), volume='vol-8')
