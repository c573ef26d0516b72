"""Contract tests of ``ProxyAPI``: for every method, the exact version it
prepares and the exact argument names it sends (these names are the wire
contract of issue 2); the version cap; which calls are retried."""

import inspect
import time
from unittest import mock

import oslo_messaging as messaging
import pytest

from nova_proxy.common import context as np_context
from nova_proxy.common import rpc
from nova_proxy import exception
from nova_proxy.proxy import manager
from nova_proxy.proxy import rpcapi

UUID = '11111111-2222-4333-8444-555555555555'
VALUES = {'k': 'v'}

# method -> (client kwargs, what goes on the wire)
CONTRACT = {
    'ping': ({'arg': 'x'}, {'arg': 'x'}),
    'instance_create': ({'values': VALUES}, {'values': VALUES}),
    'instance_get_by_uuid': ({'instance_uuid': UUID},
                             {'instance_uuid': UUID}),
    'instance_get_all_by_host': ({'host': 'h'}, {'host': 'h',
                                                 'node': None}),
    'instance_update': ({'instance_uuid': UUID, 'values': VALUES},
                        {'instance_uuid': UUID, 'values': VALUES}),
    'instance_update_and_get_original': (
        {'instance_uuid': UUID, 'values': VALUES},
        {'instance_uuid': UUID, 'values': VALUES}),
    'instance_destroy': ({'instance_uuid': UUID}, {'instance_uuid': UUID}),
    'migration_create': ({'values': VALUES}, {'values': VALUES}),
    'migration_get': ({'migration_id': 3}, {'migration_id': 3}),
    'migration_update': ({'migration_id': 3, 'values': VALUES},
                         {'migration_id': 3, 'values': VALUES}),
    'migration_get_in_progress_by_host_and_node': (
        {'host': 'h', 'node': 'n'}, {'host': 'h', 'node': 'n'}),
    'service_get_by_host_and_binary': (
        {'host': 'h', 'binary': 'b'}, {'host': 'h', 'binary': 'b'}),
    'service_create': ({'values': VALUES}, {'values': VALUES}),
    'service_update': ({'service_id': 4, 'values': VALUES},
                       {'service_id': 4, 'values': VALUES}),
    'service_heartbeat': ({'service_id': 4}, {'service_id': 4}),
    'compute_node_get_by_host_and_node': (
        {'host': 'h', 'node': 'n'}, {'host': 'h', 'node': 'n'}),
    'compute_node_create': ({'values': VALUES}, {'values': VALUES}),
    'compute_node_update': ({'compute_node_id': 5, 'values': VALUES},
                            {'compute_node_id': 5, 'values': VALUES}),
    'instance_fault_create': ({'values': VALUES}, {'values': VALUES}),
    'instance_action_start': ({'values': VALUES}, {'values': VALUES}),
    'instance_action_finish': ({'values': VALUES}, {'values': VALUES}),
    'action_event_start': ({'values': VALUES}, {'values': VALUES}),
    'action_event_finish': ({'values': VALUES}, {'values': VALUES}),
    'instance_update_and_record': (
        {'instance_uuid': UUID, 'values': VALUES,
         'event_start': {'event': 'e'}},
        {'instance_uuid': UUID, 'values': VALUES,
         'event_start': {'event': 'e'}, 'event_finish': None,
         'fault': None}),
}


@pytest.fixture
def api(config):
    config.set_override('retry_interval', 0, group='proxy_client')
    proxy = rpcapi.ProxyAPI()
    proxy._client = mock.Mock(name='client')
    proxy._client.can_send_version.return_value = True
    cctxt = proxy._client.prepare.return_value
    # rpc.call_within prepares each attempt's deadline on the versioned
    # call context.
    cctxt.prepare.return_value = cctxt
    cctxt.call.return_value = 'result'
    return proxy


@pytest.fixture
def ctx():
    return np_context.get_compute_context('cmp-1')


def test_contract_covers_every_method():
    assert set(CONTRACT) == set(rpcapi.METHODS)
    public = {n for n, _ in inspect.getmembers(rpcapi.ProxyAPI,
                                               inspect.isfunction)
              if not n.startswith('_')}
    assert public - {'can_send_version'} == set(rpcapi.METHODS)


@pytest.mark.parametrize('method', sorted(CONTRACT))
def test_method_contract(api, ctx, method):
    kwargs, wire = CONTRACT[method]
    assert getattr(api, method)(ctx, **kwargs) == 'result'
    api._client.prepare.assert_called_once_with(
        version=rpcapi.METHODS[method][0])
    api._client.prepare.return_value.call.assert_called_once_with(
        ctx, method, **wire)


def test_each_call_publishes_once_per_attempt_within_its_timeout(config,
                                                                 ctx):
    api = rpcapi.ProxyAPI(timeout=7)
    api._client = mock.Mock(name='client')
    cctxt = api._client.prepare.return_value
    cctxt.prepare.return_value.call.return_value = 'result'
    assert api.instance_get_by_uuid(ctx, UUID) == 'result'
    (kwargs,) = [c.kwargs for c in cctxt.prepare.call_args_list]
    assert kwargs['retry'] == 0 and 6.5 < kwargs['timeout'] <= 7


@pytest.mark.parametrize('method', sorted(CONTRACT))
def test_client_and_server_agree_on_arguments(method):
    """The endpoint takes exactly the arguments the client sends, with
    the same defaults; and every method is documented for callers."""
    client = inspect.signature(getattr(rpcapi.ProxyAPI, method))
    endpoint = next(e for e in manager.endpoints() if hasattr(e, method))
    server = inspect.signature(getattr(type(endpoint), method))
    client_args = [p for n, p in client.parameters.items()
                   if n not in ('self', 'context', 'timeout')]
    server_args = [p for n, p in server.parameters.items()
                   if n not in ('self', 'context')]
    assert [p.name for p in client_args] == [p.name for p in server_args]
    assert [p.default for p in client_args] == [p.default
                                                for p in server_args]
    doc = getattr(rpcapi.ProxyAPI, method).__doc__ or ''
    assert ':returns:' in doc or ':raises:' in doc, method


def test_versions_are_consistent():
    assert rpcapi.RPC_API_VERSION == '1.1'
    assert '1.1 (2026.2) - Added instance_update_and_record' in \
        rpcapi.__doc__
    newest = tuple(map(int, rpcapi.RPC_API_VERSION.split('.')))
    for method, (version, _) in rpcapi.METHODS.items():
        assert tuple(map(int, version.split('.'))) <= newest, method
        # The version history names every method.
        assert method in rpcapi.__doc__, method


@pytest.mark.parametrize('setting, cap', [(None, None), ('1.0', '1.0'),
                                          ('2026.2', '1.1')])
def test_client_uses_upgrade_levels_cap(config, setting, cap):
    config.set_override('compute_proxy', setting, group='upgrade_levels')
    config.set_override('rpc_timeout', 42, group='proxy_client')
    with mock.patch('nova_proxy.common.rpc.get_client') as get_client:
        client = rpcapi.ProxyAPI().client
    assert client is get_client.return_value
    target = get_client.call_args.args[0]
    assert (target.topic, target.version) == ('compute_proxy', '1.1')
    assert get_client.call_args.kwargs['version_cap'] == cap
    assert get_client.call_args.kwargs['timeout'] == 42


def test_ping_timeout_overrides_and_is_not_retried(api, ctx):
    cctxt = api._client.prepare.return_value
    cctxt.call.side_effect = messaging.MessagingTimeout()
    with pytest.raises(messaging.MessagingTimeout):
        api.ping(ctx, 'x', timeout=3)
    api._client.prepare.assert_called_once_with(version='1.0', timeout=3)
    assert cctxt.call.call_count == 1


# -- retries --------------------------------------------------------------

def _calls_after_timeouts(api, ctx, method, kwargs, timeouts):
    cctxt = api._client.prepare.return_value
    cctxt.call.side_effect = [messaging.MessagingTimeout()] * timeouts + [
        'late result']
    try:
        return getattr(api, method)(ctx, **kwargs), cctxt.call.call_count
    except messaging.MessagingTimeout:
        return 'timeout', cctxt.call.call_count


@pytest.mark.parametrize('method', sorted(
    m for m, (_, safe) in rpcapi.METHODS.items() if safe))
def test_retry_safe_calls_are_retried(api, ctx, config, method):
    config.set_override('retries', 2, group='proxy_client')
    kwargs = CONTRACT[method][0]
    assert _calls_after_timeouts(api, ctx, method, kwargs, 2) == (
        'late result', 3)


@pytest.mark.parametrize('method', sorted(
    m for m, (_, safe) in rpcapi.METHODS.items() if not safe))
def test_unsafe_calls_are_never_retried(api, ctx, config, method):
    config.set_override('retries', 3, group='proxy_client')
    kwargs = dict(CONTRACT[method][0])
    if 'instance_uuid' in kwargs and 'values' in kwargs:
        # A compare-and-swap (see the instance_update test below).
        kwargs['values'] = {'expected_task_state': None}
    assert _calls_after_timeouts(api, ctx, method, kwargs, 1) == (
        'timeout', 1)


def test_retries_are_bounded(api, ctx, config):
    config.set_override('retries', 2, group='proxy_client')
    assert _calls_after_timeouts(api, ctx, 'instance_get_by_uuid',
                                 {'instance_uuid': UUID}, 5) == (
        'timeout', 3)


@pytest.mark.parametrize('values, retried', [
    ({'vm_state': 'active'}, True),
    ({}, True),
    ({'vm_state': 'active', 'expected_task_state': None}, False),
    ({'expected_vm_state': ['active']}, False),
    ({'expected_task_state': 'x', 'expected_vm_state': 'y'}, False),
])
def test_instance_update_retried_only_without_expectations(
        api, ctx, config, values, retried):
    config.set_override('retries', 1, group='proxy_client')
    result = _calls_after_timeouts(api, ctx, 'instance_update', {
        'instance_uuid': UUID, 'values': values}, 1)
    assert result == (('late result', 2) if retried else ('timeout', 1))


def test_other_errors_are_not_retried(api, ctx, config):
    config.set_override('retries', 3, group='proxy_client')
    cctxt = api._client.prepare.return_value
    cctxt.call.side_effect = exception.InstanceNotFound(instance_id=UUID)
    with pytest.raises(exception.InstanceNotFound):
        api.instance_get_by_uuid(ctx, UUID)
    assert cctxt.call.call_count == 1


def test_an_unreachable_broker_is_a_timeout_at_the_deadline(api, ctx,
                                                            config,
                                                            monkeypatch):
    # Publishing is tried again until the call's deadline (rpc.call_within),
    # then it is a timeout like any other: retried when safe to repeat.
    monkeypatch.setattr(rpc, 'PUBLISH_RETRY_INTERVAL', 0.05)
    config.set_override('retries', 1, group='proxy_client')
    api._timeout = 0.3
    cctxt = api._client.prepare.return_value
    cctxt.call.side_effect = messaging.MessageDeliveryFailure('down')
    start = time.monotonic()
    with pytest.raises(messaging.MessagingTimeout,
                       match='broker could not be reached'):
        api.instance_get_by_uuid(ctx, UUID)
    assert 0.6 <= time.monotonic() - start < 1
    assert cctxt.call.call_count > 4


# -- instance_update_and_record under a 1.0 cap ---------------------------

PARTS = {'event_start': {'event': 'start'}, 'fault': {'code': 500},
         'event_finish': {'event': 'finish'}}


def test_update_and_record_is_one_11_call_when_allowed(api, ctx):
    api.instance_update_and_record(ctx, UUID, VALUES, **PARTS)
    api._client.can_send_version.assert_called_once_with('1.1')
    api._client.prepare.assert_called_once_with(version='1.1')
    api._client.prepare.return_value.call.assert_called_once_with(
        ctx, 'instance_update_and_record', instance_uuid=UUID,
        values=VALUES, **PARTS)


def _one_call_per_prepare(api):
    """Record ``(version, method, kwargs)`` of each call."""
    calls = []

    def prepare(version):
        cctxt = mock.Mock()
        cctxt.prepare.return_value = cctxt
        cctxt.call.side_effect = lambda c, method, **kw: (
            calls.append((version, method, kw)) or {'from': method})
        return cctxt
    api._client.prepare.side_effect = prepare
    return calls


@pytest.mark.parametrize('parts, expected', [
    (PARTS, ['action_event_start', 'instance_fault_create',
             'instance_update', 'action_event_finish']),
    ({'event_start': {'event': 'start'}},
     ['action_event_start', 'instance_update']),
    ({}, ['instance_update']),
])
def test_update_and_record_falls_back_to_10_calls(api, ctx, parts,
                                                  expected):
    api._client.can_send_version.return_value = False
    calls = _one_call_per_prepare(api)
    result = api.instance_update_and_record(ctx, UUID, VALUES, **parts)
    assert result == {'from': 'instance_update'}
    assert [(v, m) for v, m, _ in calls] == [('1.0', m) for m in expected]
    sent = {m: kw for _, m, kw in calls}
    assert sent['instance_update'] == {'instance_uuid': UUID,
                                       'values': VALUES}
    for name, method in (('event_start', 'action_event_start'),
                         ('fault', 'instance_fault_create'),
                         ('event_finish', 'action_event_finish')):
        if name in parts:
            assert sent[method] == {'values': parts[name]}


def test_update_and_record_fallback_stops_at_the_failing_call(api, ctx):
    api._client.can_send_version.return_value = False
    calls = []
    cas_miss = exception.UnexpectedTaskStateError(
        instance_uuid=UUID, expected='a', actual='b')

    def prepare(version):
        cctxt = mock.Mock()
        cctxt.prepare.return_value = cctxt

        def call(c, method, **kw):
            calls.append((version, method, kw))
            if method == 'instance_update':
                raise cas_miss
        cctxt.call.side_effect = call
        return cctxt
    api._client.prepare.side_effect = prepare
    with pytest.raises(exception.UnexpectedTaskStateError):
        api.instance_update_and_record(ctx, UUID, VALUES, **PARTS)
    # Not atomic (1.0 proxies have no one transaction for it): the calls
    # before the miss stay made, the finish after it is never sent.
    assert [m for _, m, _ in calls] == [
        'action_event_start', 'instance_fault_create', 'instance_update']


def test_cap_10_really_makes_the_client_fall_back(config):
    """With a real RPCClient (fake transport) and the 1.0 cap, a 1.1 call
    cannot even be prepared; the client sends 1.0 calls instead."""
    config.set_override('compute_proxy', '1.0', group='upgrade_levels')
    proxy = rpcapi.ProxyAPI()
    assert proxy.can_send_version('1.0')
    assert not proxy.can_send_version('1.1')
    with pytest.raises(messaging.RPCVersionCapError):
        proxy.client.prepare(version='1.1').call({}, 'ping', arg=1)
    config.set_override('compute_proxy', None, group='upgrade_levels')
    assert rpcapi.ProxyAPI().can_send_version('1.1')
