"""The shim is nova's DB API by name and signature, and each function is
one pinned rpc.call through ProxyAPI."""

import inspect
from unittest import mock

import oslo_messaging as messaging
import pytest

from nova_proxy.common import context as np_context
from nova_proxy.compute import db_v1 as shim
from nova_proxy import conf
from nova_proxy.proxy import manager
from nova_proxy.proxy import rpcapi

CONF = conf.CONF


def _parameters(fn, drop=()):
    return [(p.name, p.default) for p in
            inspect.signature(fn).parameters.values()
            if p.name not in drop]


def test_a_function_for_every_wire_method_and_nothing_else():
    functions = {name for name in shim.__all__
                 if name not in ('get_api', 'reset')}
    assert functions == set(rpcapi.METHODS)
    for name in functions:
        assert callable(getattr(shim, name))


# 1.x arguments that nova's DB function of the same name, which serves
# the 1.x call too, names otherwise.
_NOVA_NAMES = {'compute_node_update': {'compute_node_id': 'compute_id'}}


def _v1_endpoint_method(name):
    for endpoint in manager.endpoints():
        if endpoint.target.version.startswith('1.') and \
                hasattr(endpoint, name):
            return getattr(endpoint, name)
    raise AssertionError('no 1.x endpoint serves %s' % name)


@pytest.mark.parametrize('name', sorted(set(rpcapi.METHODS) - {'ping'}))
def test_signature_is_the_1x_endpoint_signature(name):
    # The 1.x calls, whose DB functions now have nova's signatures where
    # nova has the same name (the 2.x shim, nova_proxy.compute.db's
    # package, calls those); an endpoint serving both majors takes nova's
    # argument names.
    renamed = _NOVA_NAMES.get(name, {})
    endpoint = _parameters(_v1_endpoint_method(name))
    shim_params = _parameters(getattr(shim, name))
    assert shim_params == endpoint or [
        (renamed.get(p, p), d) for p, d in shim_params] == endpoint


@pytest.mark.parametrize('name', sorted(rpcapi.METHODS))
def test_signature_is_the_proxy_client_signature(name):
    assert _parameters(getattr(shim, name)) == _parameters(
        getattr(rpcapi.ProxyAPI, name), drop=('self',))


def _example_arguments(name):
    args = {}
    for param in list(inspect.signature(getattr(shim, name))
                      .parameters.values())[1:]:
        if param.default is not inspect.Parameter.empty:
            continue
        args[param.name] = {'values': {'x': 1}, 'arg': 'a'}.get(
            param.name, 'v-%s' % param.name)
    return args


@pytest.fixture
def client():
    shim.reset()
    api = shim.get_api()
    fake_client = mock.Mock()
    # rpc.call_within prepares each attempt's deadline on the versioned
    # call context.
    cctxt = fake_client.prepare.return_value
    cctxt.prepare.return_value = cctxt
    api._client = fake_client
    yield fake_client
    shim.reset()


@pytest.mark.parametrize('name', sorted(set(rpcapi.METHODS) - {'ping'}))
def test_each_function_is_one_call_at_its_version(client, name):
    context = np_context.get_compute_context('host1')
    kwargs = _example_arguments(name)
    cctxt = client.prepare.return_value
    cctxt.call.return_value = {'answer': name}
    assert getattr(shim, name)(context, **kwargs) == {'answer': name}
    client.prepare.assert_called_once_with(version=rpcapi.METHODS[name][0])
    expected = dict(kwargs)
    if name == 'instance_get_all_by_host':
        expected['node'] = None
    if name == 'instance_update_and_record':
        expected.update(event_start=None, event_finish=None, fault=None)
    cctxt.call.assert_called_once_with(context, name, **expected)


def test_ping_passes_its_own_timeout(client):
    context = np_context.get_compute_context('host1')
    client.prepare.return_value.call.return_value = 'x'
    assert shim.ping(context, 'x', timeout=3) == 'x'
    client.prepare.assert_called_once_with(version='1.0', timeout=3)


def test_reads_are_retried_after_a_timeout(client):
    CONF.set_override('retries', 2, group='proxy_client')
    CONF.set_override('retry_interval', 0, group='proxy_client')
    cctxt = client.prepare.return_value
    cctxt.call.side_effect = [messaging.MessagingTimeout(), {'uuid': 'u'}]
    assert shim.instance_get_by_uuid(None, 'u') == {'uuid': 'u'}
    assert cctxt.call.call_count == 2


def test_unsafe_writes_are_not_retried(client):
    CONF.set_override('retries', 2, group='proxy_client')
    cctxt = client.prepare.return_value
    cctxt.call.side_effect = messaging.MessagingTimeout()
    with pytest.raises(messaging.MessagingTimeout):
        shim.instance_create(None, {'host': 'h'})
    assert cctxt.call.call_count == 1
    cctxt.call.reset_mock()
    with pytest.raises(messaging.MessagingTimeout):
        shim.instance_update(None, 'u', {'task_state': None,
                                         'expected_task_state': 'spawning'})
    assert cctxt.call.call_count == 1


def test_one_client_per_process_until_reset():
    shim.reset()
    first = shim.get_api()
    assert shim.get_api() is first
    shim.reset()
    assert shim.get_api() is not first
    shim.reset()


def test_the_client_respects_the_upgrade_level(config):
    CONF.set_override('compute_proxy', '2026.2', group='upgrade_levels')
    shim.reset()
    try:
        assert shim.get_api().client.version_cap == '1.1'
    finally:
        shim.reset()


def test_update_and_record_is_separate_10_calls_under_a_10_cap(client):
    """A new compute against proxies that only speak 1.0."""
    client.can_send_version.side_effect = lambda v: v == '1.0'
    context = np_context.get_compute_context('host1')
    cctxt = client.prepare.return_value
    cctxt.call.side_effect = lambda c, method, **kw: {'from': method}
    event = {'event': 'e'}
    assert shim.instance_update_and_record(
        context, 'u', {'progress': 1}, event_start=event,
        event_finish=event) == {'from': 'instance_update'}
    assert [c.kwargs for c in client.prepare.call_args_list] == [
        {'version': '1.0'}] * 3
    assert [c.args[1] for c in cctxt.call.call_args_list] == [
        'action_event_start', 'instance_update', 'action_event_finish']
