"""nova's share mappings: a compute host reads and writes those of the
instances in its scope; a list by share gives only those."""

from nova_proxy.common import rpc
from nova_proxy.db import api as db
from nova_proxy.proxy.endpoints import base
from nova_proxy.proxy import policy

__all__ = ['ShareMappingEndpoint']


class ShareMappingEndpoint(base.Endpoint):

    @rpc.remotable
    def share_mapping_get_by_share_id(self, context, share_id: str):
        return db.share_mapping_get_by_share_id(
            context, share_id, scope_host=policy.scope_host(context))

    @rpc.remotable
    def share_mapping_get_by_instance_uuid(self, context, instance_uuid: str):
        return db.share_mapping_get_by_instance_uuid(
            context, instance_uuid, scope_host=policy.scope_host(context))

    @rpc.remotable
    def share_mapping_get_by_instance_uuids(self, context,
                                            instance_uuids: list[str]):
        return db.share_mapping_get_by_instance_uuids(
            context, instance_uuids, scope_host=policy.scope_host(context))

    @rpc.remotable
    def share_mapping_get_by_instance_uuid_and_share_id(
            self, context, instance_uuid: str, share_id: str):
        return db.share_mapping_get_by_instance_uuid_and_share_id(
            context, instance_uuid, share_id,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def share_mapping_delete_by_instance_uuid_and_share_id(
            self, context, instance_uuid: str, share_id: str):
        return db.share_mapping_delete_by_instance_uuid_and_share_id(
            context, instance_uuid, share_id,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def share_mapping_update(self, context, uuid: str | None,
                             instance_uuid: str,
                             share_id: str, status: str | None,
                             tag: str | None, export_location: str | None,
                             share_proto: str | None):
        return db.share_mapping_update(
            context, uuid, instance_uuid, share_id, status, tag,
            export_location, share_proto,
            scope_host=policy.scope_host(context))
