"""nova's PCI device calls (wire 2.x) behind a real RPC server on the
fake driver: every method, confined to the compute node's host."""

import pytest

from nova_proxy.common import context as np_context
from nova_proxy import exception
from nova_proxy.proxy import rpcapi

ADMIN = np_context.get_admin_context()
UUID = '5f0b8b53-0d8c-4b7b-9b84-1d5f0d1b2c3d'
ADDR = '0000:09:00.1'


def _node_and_device(nova, host):
    old = rpcapi.ProxyAPI(timeout=10)
    node = old.compute_node_create(ADMIN, {
        'host': host, 'node': host + '-n', 'vcpus': 1, 'memory_mb': 1,
        'local_gb': 1, 'vcpus_used': 0, 'memory_mb_used': 0,
        'local_gb_used': 0, 'hypervisor_type': 'fake'})
    inst = old.instance_create(ADMIN, {'host': host, 'node': host + '-n'})
    device = nova.call(ADMIN, 'pci_device_update', node_id=node['id'],
                       address=ADDR, values={
                           'compute_node_id': node['id'], 'address': ADDR,
                           'vendor_id': '8086', 'product_id': '1520',
                           'dev_type': 'type-VF', 'label': 'l',
                           'status': 'allocated', 'parent_addr': 'p',
                           'instance_uuid': inst['uuid'],
                           'extra_info': '{}', 'uuid': UUID})
    return node, inst, device


def test_every_call_by_its_own_host(nova):
    node, inst, device = _node_and_device(nova, 'h1')
    ctx = np_context.get_compute_context('h1')
    assert nova.call(ctx, 'pci_device_get_by_addr', node_id=node['id'],
                     dev_addr=ADDR) == device
    assert nova.call(ctx, 'pci_device_get_by_id', id=device['id']) == device
    assert nova.call(ctx, 'pci_device_get_all_by_node',
                     node_id=node['id']) == [device]
    assert nova.call(ctx, 'pci_device_get_all_by_parent_addr',
                     node_id=node['id'], parent_addr='p') == [device]
    assert nova.call(ctx, 'pci_device_get_all_by_instance_uuid',
                     instance_uuid=inst['uuid']) == [device]
    assert nova.call(ctx, 'pci_device_create_uuid', dev_id=device['id'],
                     uuid='11111111-2222-4333-8444-555555555555') == UUID
    freed = nova.call(ctx, 'pci_device_update', node_id=node['id'],
                      address=ADDR, values={'status': 'available',
                                            'instance_uuid': None})
    assert (freed['id'], freed['status']) == (device['id'], 'available')
    nova.call(ctx, 'pci_device_destroy', node_id=node['id'], address=ADDR)
    with pytest.raises(exception.PciDeviceNotFound):
        nova.call(ctx, 'pci_device_destroy', node_id=node['id'],
                  address=ADDR)
    with pytest.raises(exception.PciDeviceNotFoundById):
        nova.call(ctx, 'pci_device_get_by_id', id=device['id'])


REFUSED = [
    ('pci_device_get_by_addr', lambda node, inst, device: {
        'node_id': node['id'], 'dev_addr': ADDR}),
    ('pci_device_get_by_id', lambda node, inst, device: {
        'id': device['id']}),
    ('pci_device_get_all_by_node', lambda node, inst, device: {
        'node_id': node['id']}),
    ('pci_device_get_all_by_parent_addr', lambda node, inst, device: {
        'node_id': node['id'], 'parent_addr': 'p'}),
    ('pci_device_get_all_by_instance_uuid', lambda node, inst, device: {
        'instance_uuid': inst['uuid']}),
    ('pci_device_destroy', lambda node, inst, device: {
        'node_id': node['id'], 'address': ADDR}),
    ('pci_device_update', lambda node, inst, device: {
        'node_id': node['id'], 'address': ADDR,
        'values': {'status': 'removed'}}),
    ('pci_device_create_uuid', lambda node, inst, device: {
        'dev_id': device['id'], 'uuid': UUID}),
]


def test_every_pci_call_is_in_the_refused_list():
    assert {name for name, _ in REFUSED} == {
        n for n in rpcapi.NOVA_METHODS if n.startswith('pci_device_')}


@pytest.mark.parametrize('method, kwargs', REFUSED,
                         ids=[name for name, _ in REFUSED])
def test_refused_for_another_host(nova, method, kwargs):
    node, inst, device = _node_and_device(nova, 'h2')
    with pytest.raises(exception.Forbidden):
        nova.call(np_context.get_compute_context('h1'), method,
                  **kwargs(node, inst, device))
    # Nothing was written on the way.
    assert nova.call(ADMIN, 'pci_device_get_all_by_node',
                     node_id=node['id']) == [device]
