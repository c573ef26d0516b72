"""Endpoints of nova's database API on the wire (version 2.x).

Each module serves one resource with the names, arguments and semantics of
nova 34's ``nova.db.main.api``; ``nova_proxy.compute.db`` is their client
in nova-compute. The methods are exactly ``rpcapi.NOVA_METHODS`` (a test
checks), each ``@rpc.remotable``, each applying the host scope of
``nova_proxy.proxy.policy``: where a method reads or writes what belongs to
a host, a caller confined to a host reaches only its own (docs/wire.rst
gives the rule of every method).

The 1.x methods (``nova_proxy.proxy.manager``) are served beside these:
oslo.messaging hands a call to the endpoint of its major version.
"""

from nova_proxy.proxy.endpoints import actions
from nova_proxy.proxy.endpoints import pci_devices
from nova_proxy.proxy.endpoints import block_devices
from nova_proxy.proxy.endpoints import compute_nodes
from nova_proxy.proxy.endpoints import console_auth_tokens
from nova_proxy.proxy.endpoints import instance_children
from nova_proxy.proxy.endpoints import migrations
from nova_proxy.proxy.endpoints import security_groups
from nova_proxy.proxy.endpoints import instances
from nova_proxy.proxy.endpoints import services
from nova_proxy.proxy.endpoints import share_mappings
from nova_proxy.proxy.endpoints import task_log
from nova_proxy.proxy.endpoints import volume_usage

__all__ = ['endpoints']


def endpoints():
    """The 2.x endpoints, fresh for each server."""
    return [services.ServiceEndpoint(), migrations.MigrationEndpoint(),
            actions.ActionEndpoint(), pci_devices.PciDeviceEndpoint(),
            instance_children.InstanceChildrenEndpoint(),
            block_devices.BlockDeviceMappingEndpoint(),
            compute_nodes.ComputeNodeEndpoint(),
            console_auth_tokens.ConsoleAuthTokenEndpoint(),
            security_groups.SecurityGroupEndpoint(),
            share_mappings.ShareMappingEndpoint(),
            task_log.TaskLogEndpoint(),
            volume_usage.VolumeUsageEndpoint(),
            instances.InstanceEndpoint()]
