"""Secure by default, on a real proxy (RabbitMQ, PostgreSQL): with
nothing about signing in its configuration it refuses unsigned calls; an
operator who turns signing off gets a plain oslo.messaging client served,
and a warning line at start."""

import oslo_messaging as messaging
import pytest

from nova_proxy import conf
from tests.functional.procs import wait_for
from tests.functional import test_signed_context as signed

CONF = conf.CONF


def _plain_ping():
    transport, client = signed.plain_client(CONF.proxy.topic)
    try:
        return client.call({}, 'ping', arg='plain')
    finally:
        transport.cleanup()


def _started(proxy):
    wait_for(lambda: 'Proxy worker proxy-a starting' in proxy.log(),
             timeout=60, message='the proxy to start')


def test_by_default_a_plain_client_is_refused(pg_cluster):
    # None leaves the option out of the file: the daemon's default.
    proxy = pg_cluster.start('proxy', 'proxy-a', extra={
        'proxy': {'require_signed_context': None}})
    _started(proxy)

    def refused():
        with pytest.raises(messaging.RemoteError) as err:
            _plain_ping()
        return err.value.exc_type == 'NotAuthenticated'
    assert wait_for(refused, timeout=30, message='a refusal')
    log = proxy.log()
    assert 'Refused ping from an unsigned caller' in log
    assert 'host_keys_dir is not set: every call will be refused' in log


def test_signing_turned_off_serves_a_plain_client(pg_cluster):
    proxy = pg_cluster.start('proxy', 'proxy-a', extra={
        'proxy': {'require_signed_context': 'false'}})
    _started(proxy)
    assert wait_for(lambda: _plain_ping() == 'plain', timeout=30,
                    message='a plain ping served')
    log = proxy.log()
    assert 'WARNING' in log and 'require_signed_context is off' in log
