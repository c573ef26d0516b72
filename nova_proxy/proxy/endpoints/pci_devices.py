"""nova's PCI device calls (``pci_devices``).

Host scope: a device belongs to its compute node's host; a compute host
reads and writes the devices of its own nodes, and lists those allocated
to an instance in its scope (on it, or migrating to or from it). The DB
functions apply it in the call's transaction (``scope_host``).
"""

from nova_proxy.common import rpc
from nova_proxy.db import api as db
from nova_proxy.proxy.endpoints import base
from nova_proxy.proxy import policy

__all__ = ['PciDeviceEndpoint']


class PciDeviceEndpoint(base.Endpoint):

    @rpc.remotable
    def pci_device_get_by_addr(self, context, node_id: int, dev_addr: str):
        """:raises: PciDeviceNotFound, HostScopeViolation"""
        return db.pci_device_get_by_addr(
            context, node_id, dev_addr,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def pci_device_get_by_id(self, context, id: int):
        """:raises: PciDeviceNotFoundById, HostScopeViolation"""
        return db.pci_device_get_by_id(
            context, id, scope_host=policy.scope_host(context))

    @rpc.remotable
    def pci_device_get_all_by_node(self, context, node_id: int):
        """:raises: HostScopeViolation"""
        return db.pci_device_get_all_by_node(
            context, node_id, scope_host=policy.scope_host(context))

    @rpc.remotable
    def pci_device_get_all_by_parent_addr(self, context, node_id: int,
                                          parent_addr: str):
        """:raises: HostScopeViolation"""
        return db.pci_device_get_all_by_parent_addr(
            context, node_id, parent_addr,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def pci_device_get_all_by_instance_uuid(self, context,
                                            instance_uuid: str):
        """:raises: HostScopeViolation"""
        return db.pci_device_get_all_by_instance_uuid(
            context, instance_uuid, scope_host=policy.scope_host(context))

    @rpc.remotable
    def pci_device_destroy(self, context, node_id: int, address: str):
        """:raises: PciDeviceNotFound, HostScopeViolation"""
        return db.pci_device_destroy(
            context, node_id, address,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def pci_device_update(self, context, node_id: int, address: str,
                          values):
        """:raises: InvalidUpdate, HostScopeViolation, Conflict"""
        return db.pci_device_update(
            context, node_id, address, values,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def pci_device_create_uuid(self, context, dev_id: int, uuid: str):
        """Not nova's: what ``enable()`` serves nova's
        ``PciDevice._create_uuid`` with.

        :returns: the device's uuid. :raises: PciDeviceNotFoundById,
            InvalidUUID, HostScopeViolation"""
        return db.pci_device_create_uuid(
            context, dev_id, uuid, scope_host=policy.scope_host(context))
