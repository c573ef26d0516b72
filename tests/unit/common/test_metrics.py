"""The metrics hooks, on a registry of the test's own (no endpoint)."""

import os
import re

import oslo_messaging as messaging
import prometheus_client
import pytest

from nova_proxy.common import metrics
from nova_proxy import exception

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


@pytest.fixture
def registry(monkeypatch):
    registry = prometheus_client.CollectorRegistry()
    monkeypatch.setattr(metrics, '_metrics',
                        metrics._define(prometheus_client, registry))
    return registry


def sample(registry, name, **labels):
    return registry.get_sample_value(metrics.PREFIX + name, labels) or 0


def _raising(error):
    def method(self, context, **kwargs):
        try:
            raise error
        except Exception:
            # What rpc.remotable raises around our errors.
            raise messaging.ExpectedException()
    return method


def test_calls_are_counted_by_method_and_the_error_the_caller_got(registry):
    ok = metrics.served('ping', lambda self, context, arg: arg)
    missing = metrics.served('instance_get_by_uuid', _raising(
        exception.InstanceNotFound(instance_id='x')))
    down = metrics.served('instance_update', _raising(
        exception.DatabaseUnavailable(method='instance_update',
                                      reason='gone')))
    assert ok(None, None, arg=3) == 3
    for call in (missing, down):
        with pytest.raises(messaging.ExpectedException):
            call(None, None)
    assert sample(registry, 'rpc_calls_total', method='ping',
                  outcome='ok') == 1
    assert sample(registry, 'rpc_calls_total',
                  method='instance_get_by_uuid',
                  outcome='InstanceNotFound') == 1
    assert sample(registry, 'db_unavailable_total', where='rpc') == 1
    assert sample(registry, 'rpc_call_duration_seconds_count',
                  method='ping') == 1
    assert sample(registry, 'rpc_calls_in_flight') == 0


def test_nothing_is_recorded_while_metrics_are_off(monkeypatch):
    monkeypatch.setattr(metrics, '_metrics', None)
    assert not metrics.enabled()
    fn = metrics.served('ping', lambda self, context, arg: arg)
    assert fn(None, None, arg=1) == 1
    metrics.db_retry('deadlock')
    metrics.periodic_run('purge_deleted', 'ok', 0.5)


def test_setup_does_nothing_unless_enabled(config):
    assert metrics.setup('proxy') is None
    assert not metrics.enabled()


def test_every_metric_is_listed_in_the_docs():
    with open(os.path.join(ROOT, 'docs', 'monitoring.rst')) as f:
        listed = set(re.findall(
            r'^``(\w+)``\s+(?:counter|gauge|histogram)\s', f.read(),
            re.M))
    defined = {m._name[len(metrics.PREFIX):] for m in metrics._define(
        prometheus_client, prometheus_client.CollectorRegistry()).values()}
    assert defined == listed


def test_database_retries_and_outages_are_counted(registry):
    import logging

    from oslo_db import exception as db_exc
    import sqlalchemy as sa

    from nova_proxy.common import db_errors
    from nova_proxy.db import session as db_session

    attempts = []

    def deadlocks_twice():
        attempts.append(1)
        if len(attempts) < 3:
            raise db_exc.DBDeadlock()
        return 'written'

    assert db_session._retry_on_deadlock(deadlocks_twice)() == 'written'
    assert sample(registry, 'db_retries_total', reason='deadlock') == 2

    refused = sa.exc.OperationalError(None, None, Exception('refused'))
    runs = []

    def lost_once(done):
        runs.append(1)
        if len(runs) == 1:
            raise refused
        done()
        return 'committed'

    assert db_session._run_once_more_if_lost(lost_once) == 'committed'
    assert sample(registry, 'db_retries_total',
                  reason='connection_lost') == 1

    try:
        raise refused
    except Exception:
        db_errors.log_failure(logging.getLogger('test'), 'Heartbeat failed')
    assert sample(registry, 'db_unavailable_total', where='background') == 1
