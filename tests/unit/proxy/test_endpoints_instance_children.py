"""nova's calls of an instance's extra, info cache and tags (wire 2.x)
behind a real RPC server on the fake driver: nova's arguments and
results, and confined to the instances in the caller's scope."""

import pytest

from nova_proxy.common import context as np_context
from nova_proxy.db import api as db
from nova_proxy import exception
from nova_proxy.proxy import rpcapi

ADMIN = np_context.get_admin_context()
METHODS = ('instance_extra_', 'instance_info_cache_', 'instance_tag_')


def compute(host):
    return np_context.get_compute_context(host)


def _own_and_other():
    own = db.instance_create(ADMIN, {'host': 'h1', 'node': 'n1'})
    other = db.instance_create(ADMIN, {'host': 'h2', 'node': 'n2'})
    return own['uuid'], other['uuid']


def test_a_compute_host_uses_its_own_instance_s_children(nova):
    own, _ = _own_and_other()
    ctx = compute('h1')
    assert nova.call(ctx, 'instance_extra_update_by_uuid',
                     instance_uuid=own,
                     updates={'migration_context': '{"m": 1}'}) == 1
    extra = nova.call(ctx, 'instance_extra_get_by_instance_uuid',
                      instance_uuid=own, columns=['migration_context'])
    assert extra['migration_context'] == '{"m": 1}'
    assert 'flavor' not in extra
    # nova's instance_create makes the instance's info cache, empty.
    assert nova.call(ctx, 'instance_info_cache_get',
                     instance_uuid=own)['network_info'] is None
    cache = nova.call(ctx, 'instance_info_cache_update', instance_uuid=own,
                      values={'network_info': '[]'})
    assert cache['network_info'] == '[]'
    assert nova.call(ctx, 'instance_info_cache_get',
                     instance_uuid=own) == cache
    nova.call(ctx, 'instance_info_cache_delete', instance_uuid=own)
    assert nova.call(ctx, 'instance_tag_add', instance_uuid=own,
                     tag='a') == {'resource_id': own, 'tag': 'a'}
    assert nova.call(ctx, 'instance_tag_exists', instance_uuid=own, tag='a')
    assert [t['tag'] for t in nova.call(ctx, 'instance_tag_set',
                                        instance_uuid=own,
                                        tags=['b', 'c'])] == ['b', 'c']
    nova.call(ctx, 'instance_tag_delete', instance_uuid=own, tag='b')
    with pytest.raises(exception.InstanceTagNotFound):
        nova.call(ctx, 'instance_tag_delete', instance_uuid=own, tag='b')
    nova.call(ctx, 'instance_tag_delete_all', instance_uuid=own)
    assert nova.call(ctx, 'instance_tag_get_by_instance_uuid',
                     instance_uuid=own) == []


REFUSED = [
    ('instance_extra_get_by_instance_uuid', lambda other: {
        'instance_uuid': other}),
    ('instance_extra_update_by_uuid', lambda other: {
        'instance_uuid': other, 'updates': {'flavor': '{}'}}),
    ('instance_info_cache_get', lambda other: {'instance_uuid': other}),
    ('instance_info_cache_update', lambda other: {
        'instance_uuid': other, 'values': {'network_info': '[]'}}),
    ('instance_info_cache_delete', lambda other: {'instance_uuid': other}),
    ('instance_tag_add', lambda other: {'instance_uuid': other,
                                        'tag': 'x'}),
    ('instance_tag_set', lambda other: {'instance_uuid': other,
                                        'tags': ['x']}),
    ('instance_tag_get_by_instance_uuid', lambda other: {
        'instance_uuid': other}),
    ('instance_tag_delete', lambda other: {'instance_uuid': other,
                                           'tag': 'keep'}),
    ('instance_tag_delete_all', lambda other: {'instance_uuid': other}),
    ('instance_tag_exists', lambda other: {'instance_uuid': other,
                                           'tag': 'keep'}),
]


def test_every_call_is_in_the_refused_list():
    assert {name for name, _ in REFUSED} == {
        n for n in rpcapi.NOVA_METHODS if n.startswith(METHODS)}


@pytest.mark.parametrize('method, kwargs', REFUSED,
                         ids=[name for name, _ in REFUSED])
def test_refused_for_another_host(nova, method, kwargs):
    _, other = _own_and_other()
    db.instance_tag_add(ADMIN, other, 'keep')
    db.instance_info_cache_update(ADMIN, other, {'network_info': '"o"'})
    db.instance_extra_update_by_uuid(ADMIN, other, {'flavor': '"o"'})
    with pytest.raises(exception.HostScopeViolation):
        nova.call(compute('h1'), method, **kwargs(other))
    # Nothing was written on the way.
    assert [t['tag'] for t in db.instance_tag_get_by_instance_uuid(
        ADMIN, other)] == ['keep']
    assert db.instance_info_cache_get(ADMIN, other)['network_info'] == '"o"'
    assert db.instance_extra_get_by_instance_uuid(
        ADMIN, other)['flavor'] == '"o"'
