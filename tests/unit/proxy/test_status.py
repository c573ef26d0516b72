"""``nova_proxy.proxy.status``: what the status screen and the upgrade
check judge, on a SQLite database."""

import datetime

import sqlalchemy as sa

from nova_proxy.db import models
from nova_proxy.db import session as db_session
from nova_proxy.orchestration import journal
from nova_proxy.periodic import claims
from nova_proxy.periodic import clock
from nova_proxy.proxy import liveness
from nova_proxy.proxy import status

UUID = '11111111-2222-3333-4444-555555555555'


def _set(context, model, where, **values):
    @db_session.writer
    def write(context):
        context.session.execute(sa.update(model).where(where).values(
            **values))
    write(context)


def test_proxies_are_live_stopped_or_dead(db, admin_context, config):
    config.set_override('liveness_deadline', 30, group='proxy')
    for member in ('live', 'stopped', 'dead'):
        liveness.heartbeat_once(admin_context, member, 'h',
                                stopped=member == 'stopped')
    _set(admin_context, models.Proxy, models.Proxy.member == 'dead',
         heartbeat_at=db_session.utcnow() - datetime.timedelta(minutes=5))
    rows = {p['member']: p for p in status.gather(admin_context)['proxies']}
    assert {m: p['state'] for m, p in rows.items()} == {
        'live': 'live', 'stopped': 'stopped', 'dead': 'dead'}
    assert rows['dead']['heartbeat_age'] >= 300


def test_an_operation_is_stuck_past_the_sum_of_its_bounds(
        db, admin_context, config):
    config.set_override('compute_wait_deadline', 100, group='orchestration')
    config.set_override('rpc_timeout', 50, group='compute')
    config.set_override('liveness_deadline', 20, group='proxy')
    assert status.stuck_after() == 170
    journal.create(admin_context, 'quiet', 'migrate', UUID, 'p')
    journal.create(admin_context, 'stuck', 'build', UUID.replace('1', '2'),
                   'p')
    _set(admin_context, models.Operation, models.Operation.id == 'quiet',
         updated_at=db_session.utcnow() - datetime.timedelta(seconds=150))
    _set(admin_context, models.Operation, models.Operation.id == 'stuck',
         updated_at=db_session.utcnow() - datetime.timedelta(seconds=190))
    stuck = {op['id']: op['stuck']
             for op in status.gather(admin_context)['operations']}
    assert stuck == {'quiet': False, 'stuck': True}


def test_lag_counts_from_the_period_or_from_the_proxy_start(
        db, admin_context):
    interval = 3600
    now = clock.db_now(admin_context)
    period = clock.period_of(now, interval)
    start = clock.period_start(period, interval)
    liveness.heartbeat_once(admin_context, 'old', 'h')
    liveness.heartbeat_once(admin_context, 'new', 'h', starting=True)
    # "old" started before the period; "new" 10 s into it (if the period
    # is that old).
    _set(admin_context, models.Proxy, models.Proxy.member == 'old',
         started_at=start - datetime.timedelta(hours=2))
    _set(admin_context, models.Proxy, models.Proxy.member == 'new',
         started_at=start + datetime.timedelta(seconds=10))
    claims.record_run(admin_context, 'purge_deleted', period, 'old',
                      start + datetime.timedelta(seconds=30), [], 'ok')
    [purge] = [t for t in status.gather(admin_context)['periodic']
               if t['task'] == 'purge_deleted']
    assert (purge['owner'], purge['result'], purge['lag']) == (
        'old', 'ok', 30.0)
    claims.record_run(admin_context, 'purge_deleted', period, 'new',
                      start + datetime.timedelta(seconds=30), [], 'ok')
    [purge] = [t for t in status.gather(admin_context)['periodic']
               if t['task'] == 'purge_deleted']
    assert (purge['owner'], purge['lag']) == ('new', 20.0)
    assert purge['kind'] == 'global' and purge['interval'] == interval
