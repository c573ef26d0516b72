"""A PostgreSQL failover under load: the primary dies, its synchronous
standby is promoted, and the proxies find it by themselves.

Two proxies and two computes run on a primary/standby pair of the test's
own (``pg_pair``), reaching it through libpq's multi-host URL with
``target_session_attrs=read-write``; nothing tells them about the
failover. While callers write through the shim (``fault_load``) and a
resize and builds are under way, the primary is killed (``kill -9``) and
the standby promoted. The test prints the counts and asserts the zeros:
no acknowledged write lost, none applied twice, every operation finished
or rolled back with each of its steps applied once, and the load going on
after the failover.

CI runs it short; ``NOVA_PROXY_FAULTS=full`` runs more callers for longer
(docs/operations.rst, "Faults and what they look like").
"""

import os
import time

import pytest
import sqlalchemy as sa

from nova_proxy.common import states
from nova_proxy import conf
from nova_proxy.db import migration
from nova_proxy.db import session as db_session
from tests.functional import fault_load
from tests.functional import orchestration_fixtures as of
from tests.functional import pg_pair

CONF = conf.CONF

FULL = os.environ.get('NOVA_PROXY_FAULTS') == 'full'
CALLERS = 8 if FULL else 3
# Seconds of load after the standby took over.
LOAD_AFTER = 60 if FULL else 4
BUILDS = 6 if FULL else 2

pytestmark = pytest.mark.skipif(
    not pg_pair.available(),
    reason='needs PostgreSQL server binaries and root (to run them as '
           'the postgres user)')


@pytest.fixture
def pair():
    pair = pg_pair.Pair().start()
    yield pair
    db_session.dispose()
    pair.stop()


@pytest.fixture
def orchestra(cluster, pair):
    url = pair.create_database('np_failover')
    engine = sa.create_engine(url)
    migration.db_sync(engine=engine)
    engine.dispose()
    CONF.set_override('connection', url, group='database')
    db_session.dispose()
    cluster.db_url = url
    orchestra = of.Orchestra(cluster, url)
    yield orchestra
    orchestra.kill_all()


def _values(n):
    return dict(display_name='failover-%d' % n,
                instance_type_name=of.FLAVOR['name'],
                memory_mb=of.FLAVOR['memory_mb'], vcpus=of.FLAVOR['vcpus'],
                root_gb=of.FLAVOR['root_gb'])


def test_standby_promoted_under_load(orchestra, pair):
    o = orchestra
    o.start_proxy('p1')
    o.start_proxy('p2')
    o.start_compute('cmp1')
    o.start_compute('cmp2')
    (moving,) = o.build(1, host='cmp1')

    load = fault_load.ShimLoad(callers=CALLERS).start()
    load.wait_successes(20)
    resize = o.api.migrate_server(o.ctx, moving, flavor=of.BIG,
                                  operation_id='failover-resize')
    builds = [o.api.build_instance(o.ctx, _values(n))['id']
              for n in range(BUILDS)]

    pair.primary.kill()
    pair.standby.promote()
    promoted = time.monotonic()

    # The load goes on against the new primary.
    load.wait_successes(20, timeout=180)
    while time.monotonic() - promoted < LOAD_AFTER:
        time.sleep(0.2)
    load.stop()

    counts = fault_load.Counts()
    for op_id in [resize['id']] + builds:
        try:
            record = o.wait_finished(op_id, timeout=180)
        except AssertionError:
            counts.unfinished_operations.append(o.op(op_id))
            continue
        assert record['status'] in states.OP_FINAL_STATUSES
        instance = o.instance(record['instance_uuid'])
        # Finished, or rolled back: never left half-way.
        assert instance['task_state'] is None, (record, instance)
    load.counts(counts)
    print('\nPostgreSQL failover: %s' % counts)
    counts.assert_nothing_lost()

    resized = o.op('failover-resize')
    if resized['status'] == states.OP_DONE:
        o.assert_migrated(resized, moving)
        o.assert_effects_once(['failover-resize'], of.MIGRATION_STEPS)
    # The proxies run on the promoted node, which no longer follows
    # anyone.
    assert pair.standby.sql('SELECT pg_is_in_recovery()')[0][0] is False
