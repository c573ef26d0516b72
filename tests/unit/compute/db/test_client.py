"""The shim's ``_client.call`` on oslo.messaging's fake driver: what the
proxy receives, what the caller gets back, nova's exception classes, and
which calls are retried."""

import datetime
import threading
import time

import netaddr
from nova import exception as nova_exception
import oslo_messaging as messaging
import pytest

from nova_proxy.common import amqp_guard
from nova_proxy.common import auth
from nova_proxy.common import context as np_context
from nova_proxy.common import key_cli
from nova_proxy.common import rpc
from nova_proxy.compute import db as shim
from nova_proxy.compute.db import _client
from nova_proxy import conf
from nova_proxy import exception
from nova_proxy.proxy import rpcapi

CONF = conf.CONF

TABLE = {
    'echo': ('2.0', True),
    'times': ('2.0', True),
    'fail': ('2.0', True),
    'whoami': ('2.0', True),
    'slow_read': ('2.0', True),
    'slow_write': ('2.0', False),
}

UTC = datetime.timezone.utc


class HostBinaryNotFound(exception.NotFound):
    """Outside nova_proxy.exception, as a class a newer proxy has and this
    client lacks would be: it arrives as RemoteError, name and message
    only."""
    msg_fmt = 'Could not find binary %(binary)s on host %(host)s.'


class FakeProxy:
    target = messaging.Target(version='2.0')

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()
        self.slow_first = 0

    def _record(self, method):
        with self.lock:
            self.calls.append(method)
            return self.calls.count(method)

    @rpc.remotable
    def echo(self, context, **kwargs):
        return kwargs

    @rpc.remotable
    def times(self, context):
        return {
            'created_at': '2026-01-02T03:04:05+00:00',
            'updated_at': None,
            'last_seen_up': '2026-01-02T05:04:05.250000+02:00',
            'host': '2026-01-02T03:04:05+00:00',
            'finish_time': 'not a time',
            'extra': {'start_time': '2026-01-02T03:04:05Z'},
            'rows': [{'deleted_at': '2026-01-02T03:04:05'}, 7],
        }

    @rpc.remotable
    def fail(self, context, name, kwargs):
        cls = (HostBinaryNotFound if name == 'HostBinaryNotFound'
               else getattr(exception, name))
        raise cls(**kwargs)

    @rpc.remotable
    def whoami(self, context):
        return {'compute_host': context.compute_host,
                'project_id': context.project_id,
                'request_id': context.request_id}

    def _slow(self, method, slow_calls):
        if self._record(method) <= slow_calls:
            time.sleep(1.6)
        return method

    @rpc.remotable
    def slow_read(self, context, slow_calls):
        return self._slow('slow_read', slow_calls)

    @rpc.remotable
    def slow_write(self, context, slow_calls):
        return self._slow('slow_write', slow_calls)


@pytest.fixture
def proxy(monkeypatch):
    monkeypatch.setattr(rpcapi, 'NOVA_METHODS', TABLE, raising=False)
    CONF.set_override('rpc_timeout', 1, group='proxy_client')
    CONF.set_override('retry_interval', 0, group='proxy_client')
    _client.reset()
    endpoint = FakeProxy()
    target = messaging.Target(topic=CONF.proxy.topic, server='proxy-1')
    server = messaging.get_rpc_server(
        _client.get_transport(), target, [endpoint],
        serializer=rpc.RequestContextSerializer(auth.get_verifier(target)),
        access_policy=rpc.AllowListAccessPolicy)
    server.start()
    yield endpoint
    server.stop()
    threading.Thread(target=server.wait, daemon=True).start()
    _client.reset()


def test_arguments_reach_the_proxy_as_json(proxy):
    naive = datetime.datetime(2026, 1, 2, 3, 4, 5, 250000)
    aware = datetime.datetime(2026, 1, 2, 5, 4, 5,
                              tzinfo=datetime.timezone(
                                  datetime.timedelta(hours=2)))
    got = _client.call(
        None, 'echo', when=naive, aware=aware, hosts={'h2', 'h1'},
        pair=('a', 'b'), ip=netaddr.IPAddress('10.0.0.1'),
        values={'nested': {'when': naive}},
        constraint=shim.constraint(host=shim.equal_any('h1', 'h2'),
                                   vm_state=shim.not_equal('error')))
    assert got == {
        'when': '2026-01-02T03:04:05.250000+00:00',
        'aware': '2026-01-02T03:04:05+00:00',
        'hosts': ['h1', 'h2'],
        'pair': ['a', 'b'],
        'ip': '10.0.0.1',
        'values': {'nested': {'when': '2026-01-02T03:04:05.250000+00:00'}},
        'constraint': {'__constraint__': {
            'host': {'equal_any': ['h1', 'h2']},
            'vm_state': {'not_equal': ['error']}}},
    }


def test_result_times_become_naive_utc_datetimes_under_known_keys(proxy):
    got = _client.call(None, 'times')
    when = datetime.datetime(2026, 1, 2, 3, 4, 5)
    assert got == {
        'created_at': when,
        'updated_at': None,
        'last_seen_up': when.replace(microsecond=250000),
        'host': '2026-01-02T03:04:05+00:00',  # not a time column
        'finish_time': 'not a time',
        'extra': {'start_time': when},
        'rows': [{'deleted_at': when}, 7],
    }
    assert got['created_at'].tzinfo is None


def _raised(name, **kwargs):
    with pytest.raises(Exception) as info:
        _client.call(None, 'fail', name=name, kwargs=kwargs)
    return info.value


def test_errors_nova_has_are_novas_classes_with_their_kwargs(proxy):
    error = _raised('UnexpectedTaskStateError', instance_uuid='u-1',
                    expected={'task_state': ['spawning']},
                    actual={'task_state': None})
    assert type(error) is nova_exception.UnexpectedTaskStateError
    assert error.kwargs['expected'] == {'task_state': ['spawning']}
    assert error.kwargs['actual'] == {'task_state': None}
    assert 'u-1' in str(error)
    assert isinstance(error.__cause__, exception.UnexpectedTaskStateError)

    error = _raised('ServiceNotFound', service_id=7)
    assert type(error) is nova_exception.ServiceNotFound
    assert error.kwargs['service_id'] == 7


def test_an_error_class_this_client_lacks_still_becomes_novas(proxy):
    error = _raised('HostBinaryNotFound', host='h1', binary='nova-compute')
    assert type(error) is nova_exception.HostBinaryNotFound
    assert 'Could not find binary nova-compute on host h1' in str(error)


def test_errors_only_the_proxy_has_are_its_own_and_novas_ancestor(proxy):
    error = _raised('HostScopeViolation', caller='h1', resource='x')
    assert isinstance(error, exception.HostScopeViolation)
    assert isinstance(error, nova_exception.Forbidden)
    assert error.kwargs == {'caller': 'h1', 'resource': 'x'}
    assert 'h1 may not touch x' in str(error)

    error = _raised('DatabaseUnavailable', method='m', reason='down')
    assert isinstance(error, exception.DatabaseUnavailable)
    assert isinstance(error, nova_exception.NovaException)
    assert not isinstance(error, nova_exception.Forbidden)


def test_novas_class_keeps_the_proxys_message(proxy):
    error = _raised('Forbidden', reason='compute host h1 may not do that')
    assert type(error) is nova_exception.Forbidden
    assert 'compute host h1 may not do that' in str(error)
    assert error.kwargs['reason'] == 'compute host h1 may not do that'


def test_without_nova_errors_are_the_proxys_classes(proxy, monkeypatch):
    monkeypatch.setattr(_client, 'nova_exception', lambda: None)
    error = _raised('ServiceNotFound', service_id=7)
    assert isinstance(error, exception.ServiceNotFound)
    assert error.kwargs == {'service_id': 7}


def test_an_idempotent_call_is_retried_after_a_timeout(proxy):
    CONF.set_override('retries', 2, group='proxy_client')
    assert _client.call(None, 'slow_read', slow_calls=1) == 'slow_read'
    assert proxy.calls.count('slow_read') == 2


def test_a_call_that_is_not_idempotent_is_never_sent_twice(proxy):
    CONF.set_override('retries', 2, group='proxy_client')
    with pytest.raises(messaging.MessagingTimeout):
        _client.call(None, 'slow_write', slow_calls=1)
    time.sleep(2)  # long enough for a second delivery to arrive
    assert proxy.calls.count('slow_write') == 1


def test_retries_end_with_the_timeout(proxy):
    CONF.set_override('retries', 1, group='proxy_client')
    with pytest.raises(messaging.MessagingTimeout):
        _client.call(None, 'slow_read', slow_calls=5)
    assert proxy.calls.count('slow_read') == 2


def test_a_method_missing_from_the_table_is_not_sent(proxy):
    with pytest.raises(NotImplementedError, match='NOVA_METHODS'):
        _client.call(None, 'service_get', service_id=1)
    assert proxy.calls == []


def test_a_1x_cap_refuses_2x_calls(proxy):
    CONF.set_override('compute_proxy', '1.1', group='upgrade_levels')
    _client.reset()
    with pytest.raises(messaging.RPCVersionCapError):
        _client.call(None, 'echo', x=1)


class NovaContext:
    """What nova's RequestContext sends: its to_dict(), which has no
    compute_host (nova.context imports nova.conf, whose options collide
    with this test process's own; the functional tests use the real one).
    """

    def __init__(self, user_id, project_id):
        self.request_id = 'req-%s' % time.monotonic_ns()
        self.project_id = project_id
        self.user_id = user_id

    def to_dict(self):
        return {'user_id': self.user_id, 'project_id': self.project_id,
                'request_id': self.request_id, 'read_deleted': 'no',
                'is_admin': True, 'quota_class': None,
                'service_catalog': [], 'timestamp': '2026-01-02T03:04:05Z'}


def test_novas_context_goes_with_this_host_and_is_signed(proxy, db, tmp_path):
    keys = tmp_path / 'keys'
    key_cli.create(host='test-host', directory=str(keys))
    CONF.set_override('host_keys_dir', str(keys), group='proxy')
    CONF.set_override('require_signed_context', True, group='proxy')
    # Unsigned: refused by a proxy that requires signatures.
    with pytest.raises(exception.NotAuthenticated):
        _client.call(NovaContext('u', 'p'), 'whoami')
    CONF.set_override('key_file', str(keys / 'test-host.key'),
                      group='proxy_client')
    _client.reset()
    ctx = NovaContext('u', 'p')
    assert _client.call(ctx, 'whoami') == {
        'compute_host': 'test-host', 'project_id': 'p',
        'request_id': ctx.request_id}


def test_set_signer_signs_as_the_host_each_context_names(proxy, db,
                                                         tmp_path):
    """What the benchmark's fleet does: one process calling as many
    hosts, each call signed with its own host's key."""
    from nova_proxy.bench import workloads
    keys = tmp_path / 'keys'
    for host in ('cn-1', 'cn-2'):
        key_cli.create(host=host, directory=str(keys))
    CONF.set_override('host_keys_dir', str(keys), group='proxy')
    CONF.set_override('require_signed_context', True, group='proxy')
    # Both hosts share one secret, as in the benchmark.
    (keys / 'cn-2.key').write_text((keys / 'cn-1.key').read_text())
    # An unsigned client first, as the benchmark's other scenarios leave.
    with pytest.raises(exception.NotAuthenticated):
        _client.call(np_context.RequestContext(compute_host='cn-1'),
                     'whoami')
    _client.set_signer(workloads.HostSigners(str(keys / 'cn-1.key')))
    try:
        for host in ('cn-1', 'cn-2'):
            ctx = np_context.RequestContext(compute_host=host,
                                            project_id='p')
            assert _client.call(ctx, 'whoami')['compute_host'] == host
    finally:
        _client.set_signer(None)
    # Back to [proxy_client] key_file, which is not set: unsigned.
    with pytest.raises(exception.NotAuthenticated):
        _client.call(np_context.RequestContext(compute_host='cn-1'),
                     'whoami')
    # reset() forgets a signer too.
    _client.set_signer(workloads.HostSigners(str(keys / 'cn-1.key')))
    assert _client.call(np_context.RequestContext(compute_host='cn-1'),
                        'whoami')['compute_host'] == 'cn-1'
    _client.reset()
    with pytest.raises(exception.NotAuthenticated):
        _client.call(np_context.RequestContext(compute_host='cn-1'),
                     'whoami')


def test_the_shim_has_its_own_transport_and_no_guard(proxy,
                                                     fresh_amqp_guard):
    assert _client.call(None, 'echo', x=1) == {'x': 1}
    assert _client.get_transport() is not rpc._transport
    assert amqp_guard._installed is False


def test_a_share_tag_used_twice_is_novas_class(proxy):
    error = _raised('ShareMappingAlreadyExists', share_id='s2', tag='t')
    assert type(error) is nova_exception.ShareMappingAlreadyExists
    assert (error.kwargs['share_id'], error.kwargs['tag']) == ('s2', 't')


def test_a_duplicate_mapping_uuid_is_what_novas_database_raises(
        monkeypatch):
    from oslo_db import exception as db_exc

    from nova_proxy.compute.db import block_devices

    def duplicate(context, method, **kwargs):
        # What _client.call raises for the proxy's error.
        raise _client.as_nova_error(exception.BlockDeviceMappingExists(
            uuid='u-1'))

    monkeypatch.setattr(block_devices, 'call', duplicate)
    for method, args in (('block_device_mapping_create', ({},)),
                         ('block_device_mapping_update', (1, {})),
                         ('block_device_mapping_update_or_create', ({},))):
        with pytest.raises(db_exc.DBDuplicateEntry) as raised:
            getattr(shim, method)(None, *args)
        assert (raised.value.columns, raised.value.value) == (['uuid'],
                                                              'u-1')


def test_with_our_own_context_errors_are_the_proxys_classes(proxy):
    """This project's code (the reference compute service) calls with
    nova_proxy's RequestContext and catches nova_proxy.exception, nova
    installed or not; nova's code never has that context."""
    ctx = np_context.get_compute_context('test-host')
    with pytest.raises(exception.UnexpectedTaskStateError) as info:
        _client.call(ctx, 'fail', name='UnexpectedTaskStateError',
                     kwargs={'instance_uuid': 'u-1',
                             'expected': {'task_state': ['spawning']},
                             'actual': {'task_state': None}})
    assert not isinstance(info.value, nova_exception.NovaException)
    assert info.value.kwargs['actual'] == {'task_state': None}
    # The same call with a context that is not ours gets nova's class.
    error = _raised('UnexpectedTaskStateError', instance_uuid='u-1',
                    expected={'task_state': ['spawning']},
                    actual={'task_state': None})
    assert type(error) is nova_exception.UnexpectedTaskStateError
