"""Contract of the compute API: client and endpoints agree on methods,
arguments and version, and every call is pinned."""

import inspect
from unittest import mock

import pytest

from nova_proxy.common import context as np_context
from nova_proxy.compute import manager
from nova_proxy.compute import rpcapi
from nova_proxy import conf

CONF = conf.CONF


def _endpoint_methods():
    methods = {}
    for endpoint in manager.endpoints('h', 'h', driver=None):
        assert endpoint.target.version == rpcapi.RPC_API_VERSION
        for name in dir(endpoint):
            if getattr(getattr(endpoint, name), 'remotable', False):
                assert name not in methods, 'served twice: %s' % name
                methods[name] = getattr(endpoint, name)
    return methods


def _parameters(fn, drop):
    return [(p.name, p.default) for p in
            inspect.signature(inspect.unwrap(fn)).parameters.values()
            if p.name not in drop]


def test_endpoints_serve_exactly_the_listed_methods():
    assert set(_endpoint_methods()) == set(rpcapi.METHODS)


def test_client_has_exactly_the_listed_methods():
    public = {name for name, fn in vars(rpcapi.ComputeAPI).items()
              if callable(fn) and not name.startswith('_')} - {
                  'can_send_version'}
    assert public == set(rpcapi.METHODS)


@pytest.mark.parametrize('name', sorted(rpcapi.METHODS))
def test_client_and_endpoint_signatures_agree(name):
    client = _parameters(getattr(rpcapi.ComputeAPI, name),
                         drop=('self', 'context', 'host'))
    endpoint = _parameters(_endpoint_methods()[name],
                           drop=('self', 'context'))
    assert client == endpoint


@pytest.mark.parametrize('name', sorted(rpcapi.METHODS))
def test_every_client_method_is_documented(name):
    doc = getattr(rpcapi.ComputeAPI, name).__doc__
    assert ':returns:' in doc and ':raises:' in doc


def _arguments(name):
    args = {}
    for param in list(inspect.signature(getattr(rpcapi.ComputeAPI, name))
                      .parameters.values())[3:]:
        args[param.name] = {'migration_id': 5, 'flavor': {'vcpus': 1}}.get(
            param.name, 'v-%s' % param.name)
    return args


@pytest.mark.parametrize('name', sorted(rpcapi.METHODS))
def test_each_call_is_pinned(name):
    api = rpcapi.ComputeAPI()
    api._client = mock.Mock()
    context = np_context.get_admin_context()
    kwargs = _arguments(name)
    cctxt = api._client.prepare.return_value
    cctxt.call.return_value = {'ok': name}
    assert getattr(api, name)(context, 'host7', **kwargs) == {'ok': name}
    api._client.prepare.assert_called_once_with(
        server='host7', version=rpcapi.METHODS[name],
        call_monitor_timeout=CONF.compute.call_monitor_timeout)
    cctxt.call.assert_called_once_with(context, name, **kwargs)


def test_timeouts_given_by_the_caller_win():
    CONF.set_override('topic', 'compute', group='compute')
    api = rpcapi.ComputeAPI(timeout=123, call_monitor_timeout=7)
    assert api.client.timeout == 123
    api._client = mock.Mock()
    api.get_driver_state(None, 'h')
    api._client.prepare.assert_called_once_with(
        server='h', version='1.0', call_monitor_timeout=7)


def test_target_and_upgrade_level():
    CONF.set_override('compute', '2026.2', group='upgrade_levels')
    api = rpcapi.ComputeAPI()
    assert api.client.target.topic == CONF.compute.topic
    assert api.client.version_cap == '1.0'
    assert api.client.timeout == CONF.compute.rpc_timeout
    assert api.can_send_version('1.0')
    assert not api.can_send_version(rpcapi.METHODS['finish_resize'])


def test_versions():
    assert rpcapi.RPC_API_VERSION == '1.1'
    assert max(rpcapi.METHODS.values(),
               key=lambda v: tuple(map(int, v.split('.')))) == \
        rpcapi.RPC_API_VERSION
    assert {name for name, version in rpcapi.METHODS.items()
            if version == '1.1'} == {'finish_resize', 'finish_revert_resize'}


@pytest.mark.parametrize('name', ['finish_resize', 'finish_revert_resize'])
def test_power_on_is_optional_and_defaults_to_on(name):
    for fn in (getattr(rpcapi.ComputeAPI, name), _endpoint_methods()[name]):
        params = inspect.signature(inspect.unwrap(fn)).parameters
        assert list(params)[-1] == 'power_on'
        assert params['power_on'].default is True


def _capped_api(cap):
    CONF.set_override('compute', cap, group='upgrade_levels')
    api = rpcapi.ComputeAPI()
    capped = api.client        # the real client, with its version cap
    api._client = mock.Mock()
    api._client.can_send_version.side_effect = capped.can_send_version
    return api


@pytest.mark.parametrize('name', ['finish_resize', 'finish_revert_resize'])
@pytest.mark.parametrize('cap', ['1.0', '2026.2'])
def test_power_on_is_not_sent_under_a_lower_cap(name, cap):
    api = _capped_api(cap)
    context = np_context.get_admin_context()
    getattr(api, name)(context, 'host7', 'u', 5, {'vcpus': 1}, 'op',
                       power_on=False)
    api._client.prepare.assert_called_once_with(
        server='host7', version='1.0',
        call_monitor_timeout=CONF.compute.call_monitor_timeout)
    api._client.prepare.return_value.call.assert_called_once_with(
        context, name, instance_uuid='u', migration_id=5,
        flavor={'vcpus': 1}, operation_id='op')


@pytest.mark.parametrize('name', ['finish_resize', 'finish_revert_resize'])
@pytest.mark.parametrize('cap', [None, '1.1'])
def test_power_on_is_sent_at_1_1(name, cap):
    api = _capped_api(cap)
    context = np_context.get_admin_context()
    getattr(api, name)(context, 'host7', 'u', 5, {'vcpus': 1}, 'op')
    api._client.prepare.assert_called_once_with(
        server='host7', version='1.1',
        call_monitor_timeout=CONF.compute.call_monitor_timeout)
    api._client.prepare.return_value.call.assert_called_once_with(
        context, name, instance_uuid='u', migration_id=5,
        flavor={'vcpus': 1}, operation_id='op', power_on=True)
