"""nova's PCI device calls (``pci_devices``), over RPC.

Arguments, results and errors are nova's (``nova.db.main.api``); the
proxies' endpoints (``nova_proxy.proxy.endpoints.pci_devices``) say what
each raises. A compute host reaches the devices of its own compute nodes,
and those allocated to an instance in its scope; the rest is refused with
``HostScopeViolation``.
"""

from nova_proxy.compute.db._client import call

__all__ = [
    'pci_device_destroy', 'pci_device_get_all_by_instance_uuid',
    'pci_device_get_all_by_node', 'pci_device_get_all_by_parent_addr',
    'pci_device_get_by_addr', 'pci_device_get_by_id', 'pci_device_update',
]


def pci_device_get_by_addr(context, node_id, dev_addr):
    return call(context, 'pci_device_get_by_addr', node_id=node_id,
                dev_addr=dev_addr)


def pci_device_get_by_id(context, id):
    return call(context, 'pci_device_get_by_id', id=id)


def pci_device_get_all_by_node(context, node_id):
    return call(context, 'pci_device_get_all_by_node', node_id=node_id)


def pci_device_get_all_by_parent_addr(context, node_id, parent_addr):
    return call(context, 'pci_device_get_all_by_parent_addr',
                node_id=node_id, parent_addr=parent_addr)


def pci_device_get_all_by_instance_uuid(context, instance_uuid):
    return call(context, 'pci_device_get_all_by_instance_uuid',
                instance_uuid=instance_uuid)


def pci_device_destroy(context, node_id, address):
    return call(context, 'pci_device_destroy', node_id=node_id,
                address=address)


def pci_device_update(context, node_id, address, values):
    return call(context, 'pci_device_update', node_id=node_id,
                address=address, values=values)
