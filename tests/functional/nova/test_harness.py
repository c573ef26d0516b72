"""The shared cluster of the ``nova`` fixture: each test starts on an
empty database with both proxies answering, whatever an earlier test
did to them."""

import signal

import sqlalchemy as sa

from nova_proxy.db import models
from tests.functional.nova import conftest


def _counts(engine):
    with engine.connect() as conn:
        return {table.name: conn.execute(
            sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in models.Base.metadata.sorted_tables}


def _rows_left(engine):
    """``{table: rows}`` of the tables a wipe empties that are not."""
    return {name: count for name, count in _counts(engine).items()
            if name not in conftest.KEPT_TABLES and count}


def test_a_test_starts_on_an_empty_database_but_the_proxies_rows(
        nova, nova_cluster):
    assert _rows_left(nova_cluster.engine) == {}
    nova.control_plane('service_create', values={
        'host': conftest.HOST, 'binary': 'nova-compute',
        'topic': 'compute', 'report_count': 0})
    # The service, and the nonce of the signed call that made it.
    assert _rows_left(nova_cluster.engine) == {'services': 1,
                                               'signed_call_nonces': 1}
    nova_cluster.wipe()
    assert _rows_left(nova_cluster.engine) == {}
    # The proxies' own liveness rows stay.
    assert _counts(nova_cluster.engine)['proxies'] == len(conftest.PROXIES)


def test_a_dead_or_hung_proxy_is_started_again(nova, nova_cluster,
                                               monkeypatch):
    dead, hung = (nova_cluster.proxies[name] for name in conftest.PROXIES)
    dead.kill()
    hung.signal(signal.SIGSTOP)
    monkeypatch.setattr(nova_cluster, 'hang_timeout', 3)
    nova_cluster.ensure_proxies()
    for name, old in zip(conftest.PROXIES, (dead, hung)):
        new = nova_cluster.proxies[name]
        assert new.pid != old.pid and new.alive()
        assert not old.alive()
        assert nova_cluster.cluster.processes.count(new) == 1
        assert old not in nova_cluster.cluster.processes
    # And the cluster serves nova's objects again.
    assert nova.run(minimum_version) == {}


def minimum_version(ctx, host):
    from nova.db.main import api as db
    return db.service_get_minimum_version(ctx, ['nova-compute'])
