"""Network partitions, with real processes in network namespaces
(``netns``): a proxy cut off from the database, a proxy cut off from the
broker, each while it owns a resize, and a compute cut off from the
broker in the middle of one. Each cut is silent (packets dropped, as in a
real partition) and healed after longer than the liveness deadline.

What must hold, counted and asserted:

* every operation ends finished or rolled back, with each compute step
  applied once (the fake driver's effects log);
* no stale owner writes after a takeover: once the partitioned owner is
  back it finds itself fenced and changes nothing (the journal's epoch);
* the other proxy keeps serving the shim's calls throughout (the load of
  ``fault_load``, nothing acknowledged lost).
"""

import time
import urllib.parse

import pytest

from tests.functional import fault_load
from tests.functional import netns
from tests.functional import orchestration_fixtures as of
from tests.functional import periodic_fixtures as pf
from tests.functional import procs
from tests.functional.procs import wait_for

orchestra = of.orchestra    # the fixture of this module's tests

# The partition lasts this long past the liveness deadline.
HEAL_AFTER = 2 * of.LIVENESS_DEADLINE + 4
PERIODIC_TASK = 'mark_services_down'
PERIOD = 2

pytestmark = pytest.mark.skipif(
    not netns.available(), reason='needs root and iproute2 (ip netns)')


@pytest.fixture
def host(orchestra):
    """A network namespace whose links lead to the test's RabbitMQ and
    PostgreSQL."""
    broker = procs.RABBIT_URL
    database = orchestra.cluster.db_url
    upstreams = {'broker': _host_port(broker, 5672),
                 'database': _host_port(database, 5432)}
    host = netns.Host('part').start(upstreams)
    host.options = {
        'DEFAULT': {'transport_url': host.url('broker', broker)},
        'database': {'connection': host.url('database', database)}}
    yield host
    fault_load.stop_all()
    orchestra.kill_all()
    host.stop()


def _host_port(url, default):
    parts = urllib.parse.urlsplit(url)
    return parts.hostname, parts.port or default


def _assert_ended(o, record, uuid):
    """Finished on the destination, or rolled back to a clean source."""
    if record['status'] == 'done':
        o.assert_migrated(record, uuid)
    else:
        assert record['status'] == 'rolled_back', record
        o.assert_on_source_clean(record, uuid)


def _assert_each_effect_once(o):
    """No compute applied any step twice (rolled back operations never
    ran their later steps; their undo steps count too)."""
    effects = o.effects()
    assert effects, 'no effect logged'
    repeated = {k: v for k, v in effects.items() if v != 1}
    assert not repeated, repeated


def _assert_periodic_items_once(o):
    """No item of the shared periodic task was handled twice in a period,
    across the cut and the takeover; the last whole period handled every
    compute service."""
    counts, owners = pf.handled_by_period(o.ctx, PERIODIC_TASK)
    twice = {period: {i: n for i, n in items.items() if n > 1}
             for period, items in counts.items()}
    assert not any(twice.values()), twice
    last = pf.current_period(o.ctx, PERIOD) - 1
    wait_for(lambda: set(pf.handled_by_period(o.ctx, PERIODIC_TASK)[0]
                         .get(last, {})) >= {'cmp1/nova-compute',
                                             'cmp2/nova-compute'},
             timeout=30, message='period %d handled' % last)
    print('periodic %s: %d periods, handled by %s' % (
        PERIODIC_TASK, len(counts),
        sorted({o for period in owners.values() for o in period})))


def _partitioned_owner(o, host, service, extra=None):
    """``p1`` in the namespace owns a resize of an instance of cmp1, at
    its copy step, when its link to ``service`` is cut; ``p2`` outside.
    Returns ``(operation, instance uuid)``."""
    # Both share a periodic task whose items are the compute services.
    periodic = pf.periodic_options(
        enabled=(PERIODIC_TASK,), interval=PERIOD,
        service_down_time=of.SERVICE_DOWN_TIME)
    o.start_proxy('p1', prefix=host.prefix, liveness_deadline=60,
                  extra=procs.merge_options(host.options, periodic,
                                            extra or {}))
    o.start_proxy('p2', extra=periodic)
    o.start_compute('cmp1')
    o.start_compute('cmp2')
    (uuid,) = o.build(1, host='cmp1', proxy='p2')
    op = o.call('p1', 'migrate_server', instance_uuid=uuid,
                dest_host='cmp2', flavor=None,
                operation_id='cut-%s' % service)
    assert op['owner'] == 'p1'
    o.wait_step(op['id'], 'resize_instance', progress=True)
    host.cut(service)
    return op, uuid


# p1's database timeouts, shorter than the defaults (5 and 10 s) so that
# it notices the cut well inside the partition.
DB_TIMEOUTS = {'connect_timeout': '2', 'dead_connection_timeout': '4'}
# Its log line once it stopped taking calls.
PAUSED = 'Proxy p1 cannot reach its database: it stopped taking calls'
RESUMED = 'Proxy p1 reaches its database again: taking calls again'


def test_owner_cut_off_from_the_database(orchestra, host):
    o = orchestra
    options = {'database': dict(host.options['database'], **DB_TIMEOUTS)}
    op, uuid = _partitioned_owner(o, host, 'database', extra=options)
    cut = time.monotonic()
    load = fault_load.ShimLoad(callers=2, prefix='db-cut').start()
    # p1's heartbeat fails within its dead_connection_timeout and
    # connect_timeout: it stops taking calls, and p2 serves them all.
    # The calls p1 had taken before may fail (DatabaseUnavailable).
    log = o.procs['p1'].log
    wait_for(lambda: PAUSED in log(), timeout=60, message='p1 to pause')
    paused = time.monotonic()
    # Past the deadline p2 takes over and ends the resize: finished, or
    # rolled back when a compute's calls failed on p1 before it paused.
    record = o.wait_finished(op['id'], timeout=120)
    _assert_ended(o, record, uuid)
    assert (record['owner'], record['epoch']) == ('p2', 2), record
    instance = o.instance(uuid)
    while time.monotonic() - max(cut + HEAL_AFTER, paused + 5) < 0:
        time.sleep(0.2)
    host.heal('database')

    # Back, p1 heartbeats again, takes calls again, and has written
    # nothing: the step it was driving failed on the lost connection (a
    # fenced write would have matched nothing: "is no longer ours").
    o.wait_live('p1')
    wait_for(lambda: RESUMED in log(), timeout=60, message='p1 to resume')
    time.sleep(2)
    assert o.op(op['id']) == record
    assert o.instance(uuid) == instance
    _assert_each_effect_once(o)
    load.stop()
    counts = load.counts()
    late = load.failed_since(paused)
    print('\nowner cut off from the database: operation %s; p1 paused '
          '%.1fs after the cut; load: %s; failed after the pause: %s'
          % (record['status'], paused - cut, counts, late))
    counts.assert_nothing_lost()
    assert late == []
    assert o.procs['p1'].alive()
    _assert_periodic_items_once(o)


def test_owner_cut_off_from_the_broker(orchestra, host):
    o = orchestra
    op, uuid = _partitioned_owner(o, host, 'broker')
    cut = time.monotonic()
    load = fault_load.ShimLoad(callers=2, prefix='broker-cut').start()
    while time.monotonic() - cut < HEAL_AFTER:
        time.sleep(0.2)
    host.heal('broker')

    counts = fault_load.Counts()
    fault_load.finish_operations(o, [op['id']], counts)
    record = o.op(op['id'])
    print('\nowner cut off from the broker: operation %s by %s at epoch '
          '%s' % (record['status'], record['owner'], record['epoch']))
    _assert_ended(o, record, uuid)
    _assert_each_effect_once(o)
    load.stop()
    load.counts(counts)
    print('load: %s' % counts)
    counts.assert_nothing_lost()


def test_compute_cut_off_from_the_broker_mid_resize(orchestra, host):
    o = orchestra
    o.start_proxy('p1')
    o.start_proxy('p2')
    o.start_compute('cmp1', prefix=host.prefix, extra=host.options)
    o.start_compute('cmp2')
    (uuid,) = o.build(1, host='cmp1')
    op = o.api.migrate_server(o.ctx, uuid, dest_host='cmp2',
                              operation_id='compute-cut')
    o.wait_step(op['id'], 'resize_instance', progress=True)
    host.cut('broker')
    cut = time.monotonic()
    while time.monotonic() - cut < HEAL_AFTER:
        time.sleep(0.2)
    host.heal('broker')

    counts = fault_load.Counts()
    fault_load.finish_operations(o, [op['id']], counts)
    counts.assert_nothing_lost()
    record = o.op(op['id'])
    print('\ncompute cut off from the broker: operation %s (%s)'
          % (record['status'], record.get('error')))
    _assert_ended(o, record, uuid)
    _assert_each_effect_once(o)
