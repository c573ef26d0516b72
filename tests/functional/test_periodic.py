"""Periodic tasks shared among real proxy processes (RabbitMQ, PostgreSQL).

* three proxies whose clocks disagree by seconds: every service is handled
  exactly once per period, and the global task runs once per period;
* the fleet scales 1 -> 3 -> 2 with ``kill -9``: after the membership
  deadline no item is skipped, and no item is ever handled twice.
"""

import datetime
import signal

import pytest
import sqlalchemy as sa

from nova_proxy.db import api as db_api
from nova_proxy.db import models
from nova_proxy.db import session as db_session
from nova_proxy.periodic import claims
from nova_proxy.periodic import clock
from nova_proxy.periodic.tasks import mark_services_down
from nova_proxy.proxy import liveness
from tests.functional import periodic_fixtures as pf
from tests.functional.procs import wait_for

TASK = 'mark_services_down'
INTERVAL = 2
STALE = 5


@pytest.fixture
def pg(config, tmp_path):
    url = pf.postgresql(tmp_path)
    yield url
    pf.drop(url)


def _services(context, count):
    """``count`` services; the first STALE have not heartbeated for an
    hour. Returns the items, ``<host>/nova-compute``."""
    for n in range(count):
        service = db_api.service_create(
            context, {'host': 'cmp-%03d' % n, 'binary': 'nova-compute'})
        db_api.service_heartbeat(context, service['id'])
    with db_session.get_engine().begin() as conn:
        now = conn.execute(sa.select(db_session.db_utcnow())).scalar_one()
        conn.execute(sa.update(models.Service)
                     .where(models.Service.host < 'cmp-%03d' % STALE)
                     .values(last_seen_up=now - datetime.timedelta(hours=1)))
    return ['cmp-%03d/nova-compute' % n for n in range(count)]


def _why(context, period, items):
    """What the runs of ``period`` say, for an assertion message."""
    runs = claims.run_list(context, task=TASK, period=period)
    done = {i for r in runs for i in r['handled']}
    return 'period %d: missing %s; runs %s' % (
        period, sorted(set(items) - done),
        [(r['owner'], r['started_at'], r['items'], r['details'].get(
            'members')) for r in runs])


def _wait_periods(context, period, timeout=60):
    """Wait until ``period`` is over by the database's clock."""
    wait_for(lambda: pf.current_period(context, INTERVAL) > period,
             timeout=timeout, interval=0.2,
             message='period %d to end' % period)


def test_three_skewed_proxies_share_items_and_run_global_tasks_once(
        cluster, pg, admin_context):
    cluster.db_url = pg
    items = _services(admin_context, 30)
    # purge_deleted is the global task: every second, so that a proxy
    # numbering periods with its own clock would surely run it twice.
    options = pf.periodic_options(
        [TASK, 'purge_deleted'], INTERVAL, purge_deleted_interval=1,
        service_down_time=600, purge_deleted_age=60)
    skews = {'pa': -3.0, 'pb': 0.0, 'pc': 3.0}
    for name, skew in skews.items():
        cluster.start('proxy', name, extra=options,
                      env={clock.SKEW_ENV: str(skew)})
    wait_for(lambda: len(liveness.live_members(admin_context)) == 3,
             timeout=60, message='three live proxies')
    first = pf.current_period(admin_context, INTERVAL) + 1
    last = first + 4
    _wait_periods(admin_context, last)

    counts, owners = pf.handled_by_period(admin_context, TASK)
    for period in range(first, last + 1):
        assert sorted(counts[period]) == items, _why(admin_context, period,
                                                     items)
        assert set(counts[period].values()) == {1}, 'period %d' % period
        assert len(owners[period]) >= 2, 'one proxy did all of %d' % period
    assert not [p for p, c in counts.items() if max(c.values()) > 1]

    # The stale services are marked down (once), the others not.
    services = {s['host']: s for s in db_api.service_get_all(admin_context)}
    down = sorted(h for h, s in services.items() if s['disabled'])
    assert down == ['cmp-%03d' % n for n in range(STALE)]
    assert all(s['disabled_reason'].startswith(
        mark_services_down.DOWN_REASON_PREFIX)
        for h, s in services.items() if s['disabled'])

    # The global task: exactly one run per period, by some proxy, whose
    # clock really was skewed as asked.
    runs = claims.run_list(admin_context, task='purge_deleted')
    per_period = {}
    for run in runs:
        per_period.setdefault(run['period'], []).append(run['owner'])
    assert all(len(o) == 1 for o in per_period.values()), per_period
    span = range(min(per_period) + 1, max(per_period))
    assert len(span) >= 5
    missing = [p for p in span if p not in per_period]
    assert len(missing) <= len(span) // 4, missing
    assert len({o for (o,) in per_period.values()}) >= 2
    for run in runs:
        assert abs(run['details']['clock_offset'] -
                   skews[run['owner']]) < 1.5, run


def test_scale_one_three_two_with_kill_nothing_skipped_nothing_twice(
        cluster, pg, admin_context):
    cluster.db_url = pg
    items = _services(admin_context, 24)
    options = pf.periodic_options([TASK], INTERVAL, service_down_time=600)
    deadline = 5   # [proxy] liveness_deadline of procs.Cluster
    cluster.start('proxy', 'p1', extra=options)
    wait_for(lambda: liveness.live_members(admin_context) == ['p1'],
             timeout=60, message='p1 live')
    alone = pf.current_period(admin_context, INTERVAL) + 1
    _wait_periods(admin_context, alone)

    cluster.start('proxy', 'p2', extra=options)
    p3 = cluster.start('proxy', 'p3', extra=options)
    wait_for(lambda: len(liveness.live_members(admin_context)) == 3,
             timeout=60, message='three live proxies')
    three = pf.current_period(admin_context, INTERVAL) + 1
    _wait_periods(admin_context, three)
    # Kill p3 in the middle of a period, after it claimed its share.
    wait_for(lambda: claims.run_list(
        admin_context, task=TASK, owner='p3',
        period=pf.current_period(admin_context, INTERVAL)),
        timeout=30, interval=0.05, message='p3 to handle its share')
    p3.signal(signal.SIGKILL)
    p3.popen.wait(timeout=10)
    killed_at = clock.db_now(admin_context)
    wait_for(lambda: liveness.live_members(admin_context) == ['p1', 'p2'],
             timeout=30, interval=0.05, message='p3 to drop out')
    dropped_at = clock.db_now(admin_context)
    after = clock.period_of(
        killed_at + datetime.timedelta(seconds=deadline + 1), INTERVAL) + 1
    _wait_periods(admin_context, after + 2)

    counts, owners = pf.handled_by_period(admin_context, TASK)
    end = after + 2
    # Never twice, in any period of the whole test.
    assert not [(p, i) for p, c in counts.items() for i, n in c.items()
                if n > 1]
    assert not [p for p in counts if not set(claims.claims_of_period(
        admin_context, TASK, p)) >= set(counts[p])]
    # Complete while one proxy ran, while three ran, and after the deadline.
    assert owners[alone] == {'p1'} and sorted(counts[alone]) == items
    assert owners[three] == {'p1', 'p2', 'p3'}
    killed = clock.period_of(killed_at, INTERVAL)
    for period in list(range(alone, killed)) + list(range(after, end + 1)):
        assert sorted(counts[period]) == items, _why(admin_context, period,
                                                     items)
    for period in range(after, end + 1):
        assert 'p3' not in owners[period]
    # The period in which p3 dropped out: if enough of it was left for a
    # resweep (every half second), p1 and p2 took p3's unclaimed items in
    # it, not only from the next period on.
    dropped = clock.period_of(dropped_at, INTERVAL)
    left = (clock.period_start(dropped + 1, INTERVAL) -
            dropped_at).total_seconds()
    if left > 1.0:
        assert sorted(counts[dropped]) == items, _why(admin_context,
                                                      dropped, items)
