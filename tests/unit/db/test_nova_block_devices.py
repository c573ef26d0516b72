"""nova's block device mapping calls (wire 2.x), on SQLite, PostgreSQL
and MariaDB: nova's results and errors (legacy format included), and the
host scope of the mappings."""

import pytest

from nova_proxy.db import api
from nova_proxy import exception

UNKNOWN = '00000000-0000-4000-8000-000000000000'
VOLUME = '11111111-1111-4111-8111-111111111111'


def _instance(ctx, host='h1'):
    return api.instance_create(ctx, {'host': host, 'node': host + '-node'})


def _volume_bdm(ctx, instance_uuid, volume_id=VOLUME, **values):
    values.update(instance_uuid=instance_uuid, source_type='volume',
                  destination_type='volume', volume_id=volume_id)
    values.setdefault('device_name', '/dev/vdb')
    return api.block_device_mapping_create(ctx, values, legacy=False)


def test_create_update_destroy_as_nova(db_all, admin_context):
    uuid = _instance(admin_context)['uuid']
    bdm = _volume_bdm(admin_context, uuid, volume_size='')
    assert len(bdm['uuid']) == 36 and bdm['deleted'] == 0
    assert (bdm['volume_size'], bdm['delete_on_termination'],
            bdm['encrypted']) == (None, False, False)
    assert bdm['created_at']
    updated = api.block_device_mapping_update(
        admin_context, bdm['id'], {'connection_info': '{"x": 1}',
                                   'boot_index': 0}, legacy=False)
    assert (updated['connection_info'], updated['boot_index']) == (
        '{"x": 1}', 0)
    assert updated['updated_at']
    # nova gives None for a mapping that is not there.
    assert api.block_device_mapping_update(admin_context, bdm['id'] + 99,
                                           {'boot_index': 1}) is None
    api.block_device_mapping_destroy(admin_context, bdm['id'])
    api.block_device_mapping_destroy(admin_context, bdm['id'])  # no error
    assert api.block_device_mapping_get_all_by_instance(admin_context,
                                                        uuid) == []
    with pytest.raises(exception.InvalidUUID):
        _volume_bdm(admin_context, uuid, uuid='not-a-uuid')
    with pytest.raises(exception.InvalidUpdate) as raised:
        _volume_bdm(admin_context, uuid, boot_index='first')
    assert raised.value.kwargs['field'] == 'boot_index'


def test_legacy_values_are_converted_as_nova(db_all, admin_context):
    uuid = _instance(admin_context)['uuid']
    swap = api.block_device_mapping_create(admin_context, {
        'instance_uuid': uuid, 'virtual_name': 'swap',
        'device_name': 'sdb', 'volume_size': '1'})
    assert (swap['source_type'], swap['destination_type'],
            swap['guest_format'], swap['device_name'],
            swap['delete_on_termination'], swap['volume_size']) == (
        'blank', 'local', 'swap', '/dev/sdb', True, 1)
    volume = api.block_device_mapping_create(admin_context, {
        'instance_uuid': uuid, 'volume_id': VOLUME,
        'device_name': '/dev/vdc', 'delete_on_termination': 'yes'})
    assert (volume['source_type'], volume['destination_type'],
            volume['delete_on_termination']) == ('volume', 'volume', True)
    with pytest.raises(exception.InvalidBDMFormat) as raised:
        api.block_device_mapping_create(admin_context, {
            'instance_uuid': uuid, 'device_name': '/dev/vdd'})
    assert 'Unrecognized legacy format' in raised.value.kwargs['details']
    with pytest.raises(exception.InvalidBDMFormat):
        api.block_device_mapping_create(admin_context, {
            'instance_uuid': uuid, 'volume_id': VOLUME, 'bogus': 1})
    # An update with only fields both formats share is taken as is.
    kept = api.block_device_mapping_update(admin_context, volume['id'], {
        'device_name': 'vdz'})
    assert kept['device_name'] == 'vdz'


def test_update_or_create_matches_uuid_then_device_and_keeps_one_swap(
        db_all, admin_context):
    uuid = _instance(admin_context)['uuid']
    first = api.block_device_mapping_update_or_create(admin_context, {
        'instance_uuid': uuid, 'source_type': 'blank',
        'destination_type': 'local', 'guest_format': 'swap',
        'device_name': '/dev/vdb'}, legacy=False)
    by_device = api.block_device_mapping_update_or_create(admin_context, {
        'instance_uuid': uuid, 'device_name': '/dev/vdb',
        'volume_size': 2}, legacy=False)
    assert by_device['id'] == first['id'] and by_device['volume_size'] == 2
    by_uuid = api.block_device_mapping_update_or_create(admin_context, {
        'instance_uuid': uuid, 'uuid': first['uuid'],
        'device_name': '/dev/vdc'}, legacy=False)
    assert by_uuid['id'] == first['id']
    assert by_uuid['device_name'] == '/dev/vdc'
    # A second swap replaces the first.
    second = api.block_device_mapping_update_or_create(admin_context, {
        'instance_uuid': uuid, 'source_type': 'blank',
        'destination_type': 'local', 'guest_format': 'swap',
        'device_name': '/dev/vdd'}, legacy=False)
    assert second['id'] != first['id']
    assert [b['id'] for b in api.block_device_mapping_get_all_by_instance(
        admin_context, uuid)] == [second['id']]


def test_reads_by_instance_volume_and_join(db_all, admin_context):
    a = _instance(admin_context)['uuid']
    b = _instance(admin_context)['uuid']
    bdm_a = _volume_bdm(admin_context, a)
    bdm_b = _volume_bdm(admin_context, b)
    ids = lambda rows: [r['id'] for r in rows]  # noqa: E731
    assert ids(api.block_device_mapping_get_all_by_instance_uuids(
        admin_context, [a, b])) == [bdm_a['id'], bdm_b['id']]
    assert api.block_device_mapping_get_all_by_instance_uuids(
        admin_context, []) == []
    rows = api.block_device_mapping_get_all_by_volume_id(
        admin_context, VOLUME, ['instance'])
    assert [r['instance']['uuid'] for r in rows] == [a, b]
    assert 'instance' not in api.block_device_mapping_get_all_by_volume_id(
        admin_context, VOLUME)[0]
    one = api.block_device_mapping_get_by_instance_and_volume_id(
        admin_context, VOLUME, b, ['instance'])
    assert one['id'] == bdm_b['id'] and one['instance']['host'] == 'h1'
    assert api.block_device_mapping_get_by_instance_and_volume_id(
        admin_context, UNKNOWN, b) is None
    with pytest.raises(exception.Invalid):
        api.block_device_mapping_get_all_by_volume_id(admin_context, VOLUME,
                                                      ['metadata'])


def test_create_uuid_is_a_compare_and_swap(db_all, admin_context):
    uuid = _instance(admin_context)['uuid']
    bdm = _volume_bdm(admin_context, uuid)
    # Rows always have one: it stays.
    assert api.block_device_mapping_create_uuid(
        admin_context, bdm['id'], UNKNOWN) == bdm['uuid']
    with pytest.raises(exception.BDMNotFound):
        api.block_device_mapping_create_uuid(admin_context, bdm['id'] + 9,
                                             UNKNOWN)
    with pytest.raises(exception.InvalidUUID):
        api.block_device_mapping_create_uuid(admin_context, bdm['id'], 'x')


def test_scope_of_mappings(db_all, admin_context):
    mine = _instance(admin_context, 'h1')['uuid']
    theirs = _instance(admin_context, 'h2')['uuid']
    own = _volume_bdm(admin_context, mine)
    other = _volume_bdm(admin_context, theirs)
    # The volume's list gives a confined caller its own mappings only.
    assert [b['id'] for b in api.block_device_mapping_get_all_by_volume_id(
        admin_context, VOLUME, scope_host='h1')] == [own['id']]
    with pytest.raises(exception.HostScopeViolation):
        api.block_device_mapping_get_all_by_instance_uuids(
            admin_context, [mine, theirs], scope_host='h1')
    with pytest.raises(exception.HostScopeViolation):
        api.block_device_mapping_update(admin_context, other['id'],
                                        {'boot_index': 3}, scope_host='h1')
    # Nor may a mapping of its own move to their instance.
    with pytest.raises(exception.HostScopeViolation):
        api.block_device_mapping_update(admin_context, own['id'],
                                        {'instance_uuid': theirs},
                                        scope_host='h1')
    with pytest.raises(exception.HostScopeViolation):
        api.block_device_mapping_create(admin_context, {
            'source_type': 'image'}, legacy=False, scope_host='h1')
    assert api.block_device_mapping_get_all_by_instance(
        admin_context, theirs)[0]['boot_index'] is None
    # A migration in progress opens the instance to its other end.
    api.migration_create(admin_context, {
        'instance_uuid': theirs, 'source_compute': 'h2',
        'dest_compute': 'h1', 'status': 'pre-migrating'})
    assert api.block_device_mapping_update(
        admin_context, other['id'], {'boot_index': 3},
        scope_host='h1')['boot_index'] == 3
    assert len(api.block_device_mapping_get_all_by_volume_id(
        admin_context, VOLUME, scope_host='h1')) == 2


def test_an_instance_of_no_host_is_no_compute_s(db_all, admin_context):
    unhosted = api.instance_create(admin_context, {})['uuid']
    _volume_bdm(admin_context, unhosted)
    with pytest.raises(exception.HostScopeViolation):
        api.block_device_mapping_get_all_by_instance(
            admin_context, unhosted, scope_host='h1')
    assert api.block_device_mapping_get_all_by_volume_id(
        admin_context, VOLUME, scope_host='h1') == []


def test_a_uuid_another_mapping_has_is_named(db_all, admin_context):
    uuid = _instance(admin_context)['uuid']
    other = _instance(admin_context)['uuid']
    first = _volume_bdm(admin_context, uuid)
    with pytest.raises(exception.BlockDeviceMappingExists) as raised:
        _volume_bdm(admin_context, other, uuid=first['uuid'])
    assert raised.value.kwargs == {'uuid': first['uuid']}
    # nova's update-or-create looks the uuid up on the instance only.
    with pytest.raises(exception.BlockDeviceMappingExists):
        api.block_device_mapping_update_or_create(admin_context, {
            'instance_uuid': other, 'uuid': first['uuid'],
            'source_type': 'blank', 'destination_type': 'local'},
            legacy=False)
    second = _volume_bdm(admin_context, other, device_name='/dev/vdc')
    with pytest.raises(exception.BlockDeviceMappingExists):
        api.block_device_mapping_update(admin_context, second['id'],
                                        {'uuid': first['uuid']},
                                        legacy=False)
    assert [b['id'] for b in api.block_device_mapping_get_all_by_instance(
        admin_context, other)] == [second['id']]


@pytest.mark.parametrize('values', [
    {'no_device': True, 'device_name': 5},
    {'volume_id': VOLUME, 'device_name': 5},
])
def test_a_legacy_device_name_that_is_no_string_is_invalid_bdm_format(
        db_all, admin_context, values):
    uuid = _instance(admin_context)['uuid']
    with pytest.raises(exception.InvalidBDMFormat) as raised:
        api.block_device_mapping_create(
            admin_context, dict(values, instance_uuid=uuid), legacy=True)
    assert raised.value.kwargs == {
        'details': 'Device name empty or too long.'}
    assert api.block_device_mapping_get_all_by_instance(admin_context,
                                                        uuid) == []
