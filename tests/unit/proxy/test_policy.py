"""Host scope: which calls are confined, and to what."""

import pytest

from nova_proxy.common import context as np_context
from nova_proxy import exception
from nova_proxy.proxy import policy


def test_compute_context_is_confined_to_its_host():
    ctx = np_context.get_compute_context('cmp-1')
    assert policy.scope_host(ctx) == 'cmp-1'
    policy.check_host(ctx, 'cmp-1', 'anything')
    with pytest.raises(exception.HostScopeViolation) as e:
        policy.check_host(ctx, 'cmp-2', 'instance x')
    # The owner is not named to the caller.
    assert e.value.kwargs == {'caller': 'cmp-1', 'resource': 'instance x'}
    assert 'cmp-2' not in str(e.value)
    with pytest.raises(exception.HostScopeViolation):
        policy.check_host(ctx, None, 'a new instance')


@pytest.mark.parametrize('ctx', [
    np_context.get_admin_context(),
    np_context.RequestContext(overwrite=False),
    np_context.RequestContext(compute_host='', overwrite=False),
    np_context.get_compute_context('cmp-1').elevated(),
])
def test_calls_without_compute_host_are_not_confined(ctx):
    assert policy.scope_host(ctx) is None
    policy.check_host(ctx, 'any-host', 'anything')


def test_enforcement_can_be_turned_off(config):
    config.set_override('enforce_host_scope', False, group='proxy')
    ctx = np_context.get_compute_context('cmp-1')
    assert policy.scope_host(ctx) is None
    policy.check_host(ctx, 'cmp-2', 'anything')


def test_compute_host_must_be_a_string():
    ctx = np_context.RequestContext(compute_host=['cmp-1'], overwrite=False)
    with pytest.raises(exception.Invalid) as e:
        policy.scope_host(ctx)
    assert 'compute_host' in str(e.value)
