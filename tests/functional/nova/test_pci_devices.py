"""nova's PciDevice and PciDeviceList objects on live proxies: what
nova-compute's PCI tracker does with its node's devices (create and save
them from the hypervisor's list, allocate one to an instance, remove one
that is gone, read them by node, parent and instance), and what host
scope refuses it (another host's node and its devices).

Scenarios run in the nova object process (see conftest.py).
"""

from nova_proxy.common import context as np_context
from nova_proxy.proxy import rpcapi
from tests.functional import nova as nova_tests
from tests.functional.nova import conftest

PF, VF, OTHER_VF = '0000:81:00.0', '0000:81:00.1', '0000:81:00.2'


def track_devices(ctx, host, node_id, uuid, other_node_id, other_dev_id,
                  other_uuid):
    from nova import exception
    from nova import objects
    from nova.objects import fields

    facts = {}

    def hypervisor_dev(address, dev_type, parent=None):
        return {'compute_node_id': node_id, 'address': address,
                'vendor_id': '8086', 'product_id': '1520',
                'dev_type': dev_type, 'parent_addr': parent, 'numa_node': 0,
                'label': 'label_8086_1520',
                'dev_id': 'pci_' + address.replace(':', '_').replace('.',
                                                                     '_'),
                'capabilities': {'network': ['rx']}}

    pf = objects.PciDevice.create(ctx, hypervisor_dev(PF, 'type-PF'))
    pf.save()
    vfs = []
    for address in (VF, OTHER_VF):
        vf = objects.PciDevice.create(ctx, hypervisor_dev(address,
                                                          'type-VF', PF))
        vf.save()
        vfs.append(vf)
    facts['created'] = [[d.id is not None, len(d.uuid), d.status,
                         d.extra_info.get('capabilities') is not None]
                        for d in [pf] + vfs]

    # Allocated to an instance, as the tracker's claim and allocate save.
    vf = vfs[0]
    vf.status = fields.PciDeviceStatus.ALLOCATED
    vf.instance_uuid = uuid
    vf.request_id = uuid
    vf.save()
    facts['by_node'] = sorted(d.address for d in
                              objects.PciDeviceList.get_by_compute_node(
                                  ctx, node_id))
    facts['by_parent'] = sorted(d.address for d in
                                objects.PciDeviceList.get_by_parent_address(
                                    ctx, node_id, PF))
    facts['by_instance'] = [d.address for d in
                            objects.PciDeviceList.get_by_instance_uuid(
                                ctx, uuid)]
    by_addr = objects.PciDevice.get_by_dev_addr(ctx, node_id, VF)
    by_id = objects.PciDevice.get_by_dev_id(ctx, vf.id)
    facts['reads'] = [by_addr.id == vf.id, by_id.uuid == vf.uuid,
                      by_id.status, by_id.instance_uuid == uuid]
    # enable()'s PciDevice._create_uuid: the row's own uuid, kept.
    facts['create_uuid'] = objects.PciDevice._create_uuid(
        ctx, vf.id) == vf.uuid

    # A device the hypervisor no longer lists is removed, as nova does.
    gone = vfs[1]
    gone.status = fields.PciDeviceStatus.REMOVED
    gone.save()
    facts['after_remove'] = [gone.status, sorted(
        d.address for d in objects.PciDeviceList.get_by_compute_node(
            ctx, node_id))]
    errors = []
    try:
        objects.PciDevice.get_by_dev_addr(ctx, node_id, OTHER_VF)
    except exception.PciDeviceNotFound as e:
        errors.append(['PciDeviceNotFound', e.kwargs['address']])
    try:
        objects.PciDevice.get_by_dev_id(ctx, gone.id)
    except exception.PciDeviceNotFoundById as e:
        errors.append(['PciDeviceNotFoundById', e.kwargs['id'] == gone.id])
    facts['errors'] = errors

    def theirs(status):
        dev = objects.PciDevice.create(ctx, dict(
            hypervisor_dev('0000:82:00.0', 'type-PCI'),
            compute_node_id=other_node_id))
        dev.status = status
        return dev

    attempts = {
        'by node': lambda: objects.PciDeviceList.get_by_compute_node(
            ctx, other_node_id),
        'by parent': lambda: objects.PciDeviceList.get_by_parent_address(
            ctx, other_node_id, PF),
        'by instance': lambda: objects.PciDeviceList.get_by_instance_uuid(
            ctx, other_uuid),
        'by address': lambda: objects.PciDevice.get_by_dev_addr(
            ctx, other_node_id, '0000:82:00.0'),
        'by id': lambda: objects.PciDevice.get_by_dev_id(ctx, other_dev_id),
        'create uuid': lambda: objects.PciDevice._create_uuid(
            ctx, other_dev_id),
        'save': lambda: theirs(fields.PciDeviceStatus.AVAILABLE).save(),
        'destroy': lambda: theirs(fields.PciDeviceStatus.REMOVED).save(),
    }
    refused = nova_tests.refusals(attempts)
    facts['refused'] = refused
    return facts


def _node(old, admin, host):
    return old.compute_node_create(admin, {
        'host': host, 'node': host + '-n', 'vcpus': 8, 'memory_mb': 1024,
        'local_gb': 10, 'vcpus_used': 0, 'memory_mb_used': 0,
        'local_gb_used': 0, 'hypervisor_type': 'fake'})


def test_nova_compute_tracks_its_pci_devices(nova):
    admin = np_context.get_admin_context()
    old = rpcapi.ProxyAPI(timeout=30)
    node = _node(old, admin, conftest.HOST)
    other_node = _node(old, admin, conftest.OTHER_HOST)
    uuid = old.instance_create(admin, {'host': conftest.HOST,
                                       'node': node['node']})['uuid']
    other_uuid = old.instance_create(admin, {
        'host': conftest.OTHER_HOST, 'node': other_node['node']})['uuid']
    other_dev = nova.control_plane(
        'pci_device_update', node_id=other_node['id'],
        address='0000:82:00.0', values={
            'vendor_id': '8086', 'product_id': '1520', 'dev_type': 'type-PCI',
            'label': 'l', 'status': 'allocated', 'instance_uuid': other_uuid,
            'extra_info': '{}'})

    facts = nova.run(track_devices, node_id=node['id'], uuid=uuid,
                     other_node_id=other_node['id'],
                     other_dev_id=other_dev['id'], other_uuid=other_uuid)
    assert facts['created'] == [[True, 36, 'available', True]] * 3
    assert facts['by_node'] == [PF, VF, OTHER_VF]
    assert facts['by_parent'] == [VF, OTHER_VF]
    assert facts['by_instance'] == [VF]
    assert facts['reads'] == [True, True, 'allocated', True]
    assert facts['create_uuid'] is True
    assert facts['after_remove'] == ['deleted', [PF, VF]]
    assert facts['errors'] == [['PciDeviceNotFound', OTHER_VF],
                               ['PciDeviceNotFoundById', True]]
    assert facts['refused'] == dict.fromkeys([
        'by node', 'by parent', 'by instance', 'by address', 'by id',
        'create uuid', 'save', 'destroy'], 'HostScopeViolation')
    # The other host's device is as it was, and nothing was added there.
    assert nova.control_plane('pci_device_get_all_by_node',
                              node_id=other_node['id']) == [other_dev]
