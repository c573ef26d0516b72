"""nova's PCI device calls of the DB API (wire 2.x), on SQLite,
PostgreSQL and MariaDB: the results and errors nova's own DB API gives,
and the host scope nova lacks."""

import pytest

from nova_proxy.db import api
from nova_proxy import exception
from tests.unit.db import factories

UUID = '5f0b8b53-0d8c-4b7b-9b84-1d5f0d1b2c3d'


def _device(address, **values):
    # What nova's PciDevice.create and save send for a new device.
    return dict({
        'address': address, 'vendor_id': '8086', 'product_id': '1520',
        'dev_type': 'type-VF', 'label': 'label_8086_1520',
        'dev_id': 'pci_' + address.replace(':', '_').replace('.', '_'),
        'status': 'available', 'extra_info': '{}', 'numa_node': 0},
        **values)


def test_update_is_nova_s_upsert(db_all, admin_context):
    node = factories.compute_node(admin_context, 'h1')
    created = api.pci_device_update(
        admin_context, node['id'], '0000:09:00.1', _device(
            '0000:09:00.1', compute_node_id=node['id'], uuid=UUID,
            parent_addr='0000:09:00.0'))
    assert (created['uuid'], created['compute_node_id'], created['status'],
            created['deleted']) == (UUID, node['id'], 'available', 0)
    claimed = api.pci_device_update(
        admin_context, node['id'], '0000:09:00.1', {
            'status': 'allocated', 'instance_uuid': UUID,
            'request_id': UUID})
    assert claimed['id'] == created['id']
    assert (claimed['status'], claimed['instance_uuid'], claimed['label']) \
        == ('allocated', UUID, 'label_8086_1520')
    assert api.pci_device_get_by_id(admin_context, created['id']) == claimed
    assert api.pci_device_get_by_addr(admin_context, node['id'],
                                      '0000:09:00.1') == claimed
    assert api.pci_device_get_all_by_node(admin_context,
                                          node['id']) == [claimed]
    assert api.pci_device_get_all_by_parent_addr(
        admin_context, node['id'], '0000:09:00.0') == [claimed]
    assert api.pci_device_get_all_by_parent_addr(
        admin_context, node['id'], '0000:0a:00.0') == []
    assert api.pci_device_get_all_by_instance_uuid(admin_context,
                                                   UUID) == [claimed]
    # A new device without a uuid gets one; one without its fields is
    # refused by name.
    other = api.pci_device_update(admin_context, node['id'], '0000:09:00.2',
                                  _device('0000:09:00.2'))
    assert len(other['uuid']) == 36 and other['compute_node_id'] == node['id']
    with pytest.raises(exception.InvalidUpdate) as e:
        api.pci_device_update(admin_context, node['id'], '0000:09:00.3',
                              {'status': 'available'})
    assert e.value.kwargs['field'] == 'vendor_id'
    with pytest.raises(exception.InvalidUpdate) as e:
        api.pci_device_update(admin_context, node['id'], '0000:09:00.1',
                              {'id': 5})
    assert e.value.kwargs['field'] == 'id'


def test_destroy_and_not_found_are_nova_s(db_all, admin_context):
    node = factories.compute_node(admin_context, 'h1')
    device = api.pci_device_update(admin_context, node['id'], '0000:09:00.1',
                                   _device('0000:09:00.1'))
    api.pci_device_destroy(admin_context, node['id'], '0000:09:00.1')
    with pytest.raises(exception.PciDeviceNotFound) as e:
        api.pci_device_destroy(admin_context, node['id'], '0000:09:00.1')
    assert e.value.kwargs == {'node_id': node['id'],
                              'address': '0000:09:00.1'}
    with pytest.raises(exception.PciDeviceNotFound):
        api.pci_device_get_by_addr(admin_context, node['id'],
                                   '0000:09:00.1')
    with pytest.raises(exception.PciDeviceNotFoundById) as e:
        api.pci_device_get_by_id(admin_context, device['id'])
    assert e.value.kwargs == {'id': device['id']}
    assert api.pci_device_get_all_by_node(admin_context, node['id']) == []
    # The address is free again: a new device, not the deleted one.
    again = api.pci_device_update(admin_context, node['id'], '0000:09:00.1',
                                  _device('0000:09:00.1'))
    assert again['id'] != device['id']


def test_create_uuid_is_a_compare_and_swap(db_all, admin_context):
    node = factories.compute_node(admin_context, 'h1')
    device = api.pci_device_update(admin_context, node['id'], '0000:09:00.1',
                                   _device('0000:09:00.1', uuid=UUID))
    # The row has one: it stays, and is what every call returns.
    for _ in range(2):
        assert api.pci_device_create_uuid(
            admin_context, device['id'],
            '11111111-2222-4333-8444-555555555555') == UUID
    with pytest.raises(exception.PciDeviceNotFoundById):
        api.pci_device_create_uuid(admin_context, 999999, UUID)
    with pytest.raises(exception.InvalidUUID):
        api.pci_device_create_uuid(admin_context, device['id'], 'nope')


def test_scope_of_pci_devices(db_all, admin_context):
    mine = factories.compute_node(admin_context, 'h1')
    theirs = factories.compute_node(admin_context, 'h2')
    inst = factories.instance(admin_context, 'h2')
    device = api.pci_device_update(
        admin_context, theirs['id'], '0000:09:00.1', _device(
            '0000:09:00.1', status='allocated',
            instance_uuid=inst['uuid']))
    refused = [
        lambda: api.pci_device_get_by_addr(admin_context, theirs['id'],
                                           '0000:09:00.1', scope_host='h1'),
        lambda: api.pci_device_get_by_id(admin_context, device['id'],
                                         scope_host='h1'),
        lambda: api.pci_device_get_all_by_node(admin_context, theirs['id'],
                                               scope_host='h1'),
        lambda: api.pci_device_get_all_by_parent_addr(
            admin_context, theirs['id'], 'x', scope_host='h1'),
        lambda: api.pci_device_get_all_by_instance_uuid(
            admin_context, inst['uuid'], scope_host='h1'),
        lambda: api.pci_device_destroy(admin_context, theirs['id'],
                                       '0000:09:00.1', scope_host='h1'),
        lambda: api.pci_device_update(admin_context, theirs['id'],
                                      '0000:09:00.1', {'status': 'removed'},
                                      scope_host='h1'),
        # A device of its own node moved onto another host's node.
        lambda: api.pci_device_update(
            admin_context, mine['id'], '0000:0a:00.1',
            _device('0000:0a:00.1', compute_node_id=theirs['id']),
            scope_host='h1'),
        # A node that does not exist is no one's to write.
        lambda: api.pci_device_update(admin_context, 999999, '0000:0a:00.1',
                                      _device('0000:0a:00.1'),
                                      scope_host='h1'),
        lambda: api.pci_device_create_uuid(admin_context, device['id'],
                                           UUID, scope_host='h1'),
        # A device of its own node allocated to another host's instance
        # (which would then read it as its own).
        lambda: api.pci_device_update(
            admin_context, mine['id'], '0000:0a:00.2',
            _device('0000:0a:00.2', status='allocated',
                    instance_uuid=inst['uuid']), scope_host='h1'),
    ]
    for call in refused:
        with pytest.raises(exception.HostScopeViolation):
            call()
    assert api.pci_device_get_by_id(admin_context, device['id']) == device
    assert api.pci_device_get_all_by_node(admin_context, mine['id']) == []
    # Its own node's devices, and those of an instance it runs.
    own = api.pci_device_update(admin_context, mine['id'], '0000:0a:00.1',
                                _device('0000:0a:00.1'), scope_host='h1')
    assert api.pci_device_get_all_by_node(
        admin_context, mine['id'], scope_host='h1') == [own]
    assert api.pci_device_get_all_by_instance_uuid(
        admin_context, inst['uuid'], scope_host='h2') == [device]
    # ... and allocated to an instance of its own, then freed.
    own_inst = factories.instance(admin_context, 'h1')
    claimed = api.pci_device_update(
        admin_context, mine['id'], '0000:0a:00.1',
        {'status': 'allocated', 'instance_uuid': own_inst['uuid']},
        scope_host='h1')
    assert claimed['instance_uuid'] == own_inst['uuid']
    freed = api.pci_device_update(
        admin_context, mine['id'], '0000:0a:00.1',
        {'status': 'available', 'instance_uuid': None}, scope_host='h1')
    assert freed['instance_uuid'] is None
