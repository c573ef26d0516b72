"""nova's block device mapping calls (wire 2.x) behind a real RPC server
on the fake driver: nova's arguments and results, and confined to the
instances in the caller's scope."""

import pytest

from nova_proxy.common import context as np_context
from nova_proxy.db import api as db
from nova_proxy import exception
from nova_proxy.proxy import rpcapi

ADMIN = np_context.get_admin_context()
VOLUME = '11111111-1111-4111-8111-111111111111'
NEW_UUID = '22222222-2222-4222-8222-222222222222'


def compute(host):
    return np_context.get_compute_context(host)


def _seed():
    own = db.instance_create(ADMIN, {'host': 'h1', 'node': 'n1'})['uuid']
    other = db.instance_create(ADMIN, {'host': 'h2', 'node': 'n2'})['uuid']
    bdms = [db.block_device_mapping_create(ADMIN, {
        'instance_uuid': uuid, 'source_type': 'volume',
        'destination_type': 'volume', 'volume_id': VOLUME,
        'device_name': '/dev/vdb'}, legacy=False) for uuid in (own, other)]
    return own, other, bdms[0], bdms[1]


def test_a_compute_host_uses_its_own_mappings(nova):
    own, other, own_bdm, _ = _seed()
    ctx = compute('h1')
    made = nova.call(ctx, 'block_device_mapping_create', values={
        'instance_uuid': own, 'virtual_name': 'swap', 'device_name': 'vdc'})
    assert (made['source_type'], made['guest_format'],
            made['device_name']) == ('blank', 'swap', '/dev/vdc')
    assert nova.call(ctx, 'block_device_mapping_update',
                     bdm_id=made['id'], values={'boot_index': -1},
                     legacy=False)['boot_index'] == -1
    same = nova.call(ctx, 'block_device_mapping_update_or_create', values={
        'instance_uuid': own, 'uuid': made['uuid'], 'device_name': 'vdd',
        'source_type': 'blank', 'destination_type': 'local'}, legacy=False)
    assert same['id'] == made['id']
    assert [b['id'] for b in nova.call(
        ctx, 'block_device_mapping_get_all_by_instance',
        instance_uuid=own)] == [own_bdm['id'], made['id']]
    assert len(nova.call(ctx,
                         'block_device_mapping_get_all_by_instance_uuids',
                         instance_uuids=[own])) == 2
    # The volume is attached on both hosts: h1 sees its own only.
    by_volume = nova.call(ctx, 'block_device_mapping_get_all_by_volume_id',
                          volume_id=VOLUME, columns_to_join=['instance'])
    assert [(b['id'], b['instance']['uuid']) for b in by_volume] == [
        (own_bdm['id'], own)]
    one = nova.call(ctx, 'block_device_mapping_get_by_instance_and_volume_id',
                    volume_id=VOLUME, instance_uuid=own)
    assert one['id'] == own_bdm['id']
    assert nova.call(ctx, 'block_device_mapping_create_uuid',
                     bdm_id=made['id'], uuid=NEW_UUID) == made['uuid']
    nova.call(ctx, 'block_device_mapping_destroy', bdm_id=made['id'])
    assert len(db.block_device_mapping_get_all_by_instance(ADMIN, own)) == 1


REFUSED = [
    ('block_device_mapping_create', lambda other, bdm: {
        'values': {'instance_uuid': other, 'source_type': 'image'},
        'legacy': False}),
    ('block_device_mapping_update', lambda other, bdm: {
        'bdm_id': bdm['id'], 'values': {'boot_index': 5}}),
    ('block_device_mapping_update_or_create', lambda other, bdm: {
        'values': {'instance_uuid': other, 'device_name': '/dev/vdb',
                   'boot_index': 5}, 'legacy': False}),
    ('block_device_mapping_get_all_by_instance_uuids', lambda other, bdm: {
        'instance_uuids': [other]}),
    ('block_device_mapping_get_all_by_instance', lambda other, bdm: {
        'instance_uuid': other}),
    ('block_device_mapping_get_by_instance_and_volume_id',
     lambda other, bdm: {'volume_id': VOLUME, 'instance_uuid': other}),
    ('block_device_mapping_destroy', lambda other, bdm: {
        'bdm_id': bdm['id']}),
    ('block_device_mapping_create_uuid', lambda other, bdm: {
        'bdm_id': bdm['id'], 'uuid': NEW_UUID}),
]


def test_every_call_is_refused_or_filtered():
    # By volume, a confined caller gets its own mappings only (tested
    # above); every other call is refused for another host's instance.
    assert {name for name, _ in REFUSED} == {
        n for n in rpcapi.NOVA_METHODS
        if n.startswith('block_device_mapping_')} - {
        'block_device_mapping_get_all_by_volume_id'}


@pytest.mark.parametrize('method, kwargs', REFUSED,
                         ids=[name for name, _ in REFUSED])
def test_refused_for_another_host(nova, method, kwargs):
    _, other, _, other_bdm = _seed()
    with pytest.raises(exception.HostScopeViolation):
        nova.call(compute('h1'), method, **kwargs(other, other_bdm))
    # Nothing was written on the way.
    assert db.block_device_mapping_get_all_by_instance(ADMIN, other) == [
        other_bdm]


def test_a_caller_s_mistakes_arrive_named_not_as_internal_errors(nova):
    own, other, own_bdm, other_bdm = _seed()
    ctx = compute('h1')
    with pytest.raises(exception.BlockDeviceMappingExists) as raised:
        nova.call(ctx, 'block_device_mapping_create', values={
            'instance_uuid': own, 'uuid': own_bdm['uuid'],
            'source_type': 'blank', 'destination_type': 'local'},
            legacy=False)
    assert raised.value.kwargs == {'uuid': own_bdm['uuid']}
    with pytest.raises(exception.InvalidBDMFormat):
        nova.call(ctx, 'block_device_mapping_create', values={
            'instance_uuid': own, 'no_device': True, 'device_name': 5})
    # Another host's mapping is refused by its name.
    with pytest.raises(exception.HostScopeViolation) as raised:
        nova.call(ctx, 'block_device_mapping_destroy', bdm_id=other_bdm['id'])
    assert raised.value.kwargs['resource'] == \
        'block device mapping %s' % other_bdm['id']
    assert len(db.block_device_mapping_get_all_by_instance(ADMIN, own)) == 1
