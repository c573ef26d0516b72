"""nova's block device mapping calls (``block_device_mapping``).

Host scope: a mapping belongs to its instance's host and to the other end
of a migration of the instance in progress; the DB layer applies it
(``scope_host=``) in the call's transaction. Of the lists across
instances, ``block_device_mapping_get_all_by_instance_uuids`` is refused
when any instance named is another host's, and
``block_device_mapping_get_all_by_volume_id`` gives a confined caller only
the mappings in its scope: nova-compute asks it for a volume that may be
attached to instances of other hosts too (multi-attach), and what those
are is none of its business.
"""

from nova_proxy.common import rpc
from nova_proxy.db import api as db
from nova_proxy.proxy.endpoints import base
from nova_proxy.proxy import policy

__all__ = ['BlockDeviceMappingEndpoint']


class BlockDeviceMappingEndpoint(base.Endpoint):

    @rpc.remotable
    def block_device_mapping_create(self, context, values,
                                    legacy: bool = True):
        """:returns: the new mapping.

        :raises: InvalidUpdate, InvalidBDMFormat, InvalidUUID,
            InstanceNotFound, HostScopeViolation
        """
        return db.block_device_mapping_create(
            context, values, legacy=legacy,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def block_device_mapping_update(self, context, bdm_id: int, values,
                                    legacy: bool = True):
        """:returns: the mapping as written, or None (no such mapping).

        :raises: InvalidUpdate, InvalidBDMFormat, InstanceNotFound,
            HostScopeViolation
        """
        return db.block_device_mapping_update(
            context, bdm_id, values, legacy=legacy,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def block_device_mapping_update_or_create(self, context, values,
                                              legacy: bool = True):
        """:returns: the mapping written.

        :raises: InvalidUpdate, InvalidBDMFormat, InvalidUUID,
            InstanceNotFound, HostScopeViolation
        """
        return db.block_device_mapping_update_or_create(
            context, values, legacy=legacy,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def block_device_mapping_get_all_by_instance_uuids(
            self, context, instance_uuids: list[str]):
        """:raises: Invalid, HostScopeViolation (any instance another
        host's)"""
        return db.block_device_mapping_get_all_by_instance_uuids(
            context, instance_uuids, scope_host=policy.scope_host(context))

    @rpc.remotable
    def block_device_mapping_get_all_by_instance(self, context,
                                                 instance_uuid: str):
        """:raises: HostScopeViolation"""
        return db.block_device_mapping_get_all_by_instance(
            context, instance_uuid, scope_host=policy.scope_host(context))

    @rpc.remotable
    def block_device_mapping_get_all_by_volume_id(
            self, context, volume_id: str,
            columns_to_join: list[str] | None = None):
        """:returns: the volume's mappings (a confined caller: those in
        its scope). :raises: Invalid"""
        return db.block_device_mapping_get_all_by_volume_id(
            context, volume_id, columns_to_join=columns_to_join,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def block_device_mapping_get_by_instance_and_volume_id(
            self, context, volume_id: str, instance_uuid: str,
            columns_to_join: list[str] | None = None):
        """:returns: the mapping, or None. :raises: Invalid,
        HostScopeViolation"""
        return db.block_device_mapping_get_by_instance_and_volume_id(
            context, volume_id, instance_uuid,
            columns_to_join=columns_to_join,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def block_device_mapping_destroy(self, context, bdm_id: int):
        """:raises: InstanceNotFound, HostScopeViolation"""
        return db.block_device_mapping_destroy(
            context, bdm_id, scope_host=policy.scope_host(context))

    @rpc.remotable
    def block_device_mapping_create_uuid(self, context, bdm_id: int,
                                         uuid: str):
        """Not nova's DB API: what ``nova_proxy.compute.db.nova.enable()``
        serves ``BlockDeviceMapping._create_uuid`` with. Sets ``uuid``
        where the row has none; returns the row's uuid.

        :raises: InvalidUUID, BDMNotFound, InstanceNotFound,
            HostScopeViolation
        """
        return db.block_device_mapping_create_uuid(
            context, bdm_id, uuid, scope_host=policy.scope_host(context))
