"""Contract of the compute_task API: client and endpoints agree."""

import inspect
from unittest import mock

import oslo_messaging as messaging
import pytest

from nova_proxy.common import context as np_context
from nova_proxy.orchestration import manager
from nova_proxy.orchestration import rpcapi


def _remotable(cls):
    return sorted(name for name, fn in inspect.getmembers(cls)
                  if getattr(fn, 'remotable', False))


def test_endpoints_expose_exactly_the_client_methods():
    assert _remotable(manager.ComputeTaskManager) == sorted(rpcapi.METHODS)
    public = sorted(name for name in vars(rpcapi.ComputeTaskAPI)
                    if not name.startswith('_') and name != 'client')
    assert public == sorted(rpcapi.METHODS)


def test_versions_and_namespace_agree():
    target = manager.ComputeTaskManager.target
    assert target.namespace == rpcapi.NAMESPACE == 'compute_task'
    assert target.version == rpcapi.RPC_API_VERSION == '1.0'
    assert max(rpcapi.METHODS.values()) <= rpcapi.RPC_API_VERSION
    assert '1.0 (2026.2)' in rpcapi.__doc__


def test_client_and_endpoint_signatures_match():
    for name in rpcapi.METHODS:
        client = inspect.signature(getattr(rpcapi.ComputeTaskAPI, name))
        server = inspect.signature(
            inspect.unwrap(getattr(manager.ComputeTaskManager, name)))
        assert [(p.name, p.default) for p in client.parameters.values()] \
            == [(p.name, p.default) for p in server.parameters.values()], \
            name


@pytest.mark.parametrize('method,args,kwargs,expected', [
    ('build_instance', ({'memory_mb': 1},), {'host': 'h',
                                             'operation_id': 'o'},
     {'values': {'memory_mb': 1}, 'host': 'h', 'operation_id': 'o'}),
    ('migrate_server', ('u',), {'flavor': {'name': 'f'}},
     {'instance_uuid': 'u', 'dest_host': None, 'flavor': {'name': 'f'},
      'operation_id': None}),
    ('confirm_resize', ('u',), {}, {'instance_uuid': 'u',
                                    'operation_id': None}),
    ('revert_resize', ('u',), {'operation_id': 'x'},
     {'instance_uuid': 'u', 'operation_id': 'x'}),
    ('operation_get', ('o',), {}, {'operation_id': 'o'}),
    ('operation_list', (), {'status': 'done'},
     {'instance_uuid': None, 'status': 'done'}),
])
def test_client_calls(config, method, args, kwargs, expected):
    api = rpcapi.ComputeTaskAPI()
    ctx = np_context.get_admin_context()
    with mock.patch.object(messaging.RPCClient, 'prepare') as prepare:
        prepare.return_value.call.return_value = {'id': 'o'}
        assert getattr(api, method)(ctx, *args, **kwargs) == {'id': 'o'}
    prepare.assert_called_once_with(version='1.0')
    prepare.return_value.call.assert_called_once_with(ctx, method,
                                                      **expected)
    assert api.client.target.topic == config.proxy.topic
    assert api.client.target.namespace == 'compute_task'


def test_version_cap_from_upgrade_levels(config):
    config.set_override('compute_task', '2026.2', group='upgrade_levels')
    assert rpcapi.ComputeTaskAPI().client.version_cap == '1.0'


def test_bad_argument_types_are_invalid_request():
    endpoint = manager.ComputeTaskManager(engine=None)
    ctx = np_context.get_admin_context()
    with pytest.raises(messaging.ExpectedException) as e:
        endpoint.migrate_server(ctx, instance_uuid=42)
    assert type(e.value.exc_info[1]).__name__ == 'InvalidRequest'
    with pytest.raises(messaging.ExpectedException) as e:
        endpoint.operation_get(ctx, bogus=1)
    assert type(e.value.exc_info[1]).__name__ == 'InvalidRequest'
