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

import pytest

from nova_proxy.db import session as db_session
from tests.functional import fault_load
from tests.functional import pg_pair

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
    orchestra = fault_load.orchestra_on(
        cluster, pair.create_database('np_failover'))
    yield orchestra
    orchestra.kill_all()


def test_standby_promoted_under_load(orchestra, pair):
    def failover():
        pair.primary.kill()
        pair.standby.promote()

    fault_load.under_load(orchestra, failover, 'PostgreSQL failover')
    # The proxies ran on the promoted node, which follows no one now.
    assert pair.standby.sql('SELECT pg_is_in_recovery()')[0][0] is False
