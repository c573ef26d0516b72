"""nova's share mapping calls, over RPC: those of the instances in the
caller's scope (proxy/endpoints/share_mappings.py)."""

from nova_proxy.compute.db._client import call

__all__ = [
    'share_mapping_delete_by_instance_uuid_and_share_id',
    'share_mapping_get_by_instance_uuid',
    'share_mapping_get_by_instance_uuid_and_share_id',
    'share_mapping_get_by_instance_uuids', 'share_mapping_get_by_share_id',
    'share_mapping_update',
]


def share_mapping_delete_by_instance_uuid_and_share_id(context, instance_uuid,
                                                       share_id):
    return call(context, 'share_mapping_delete_by_instance_uuid_and_share_id',
                instance_uuid=instance_uuid, share_id=share_id)


def share_mapping_get_by_instance_uuid(context, instance_uuid):
    return call(context, 'share_mapping_get_by_instance_uuid',
                instance_uuid=instance_uuid)


def share_mapping_get_by_instance_uuid_and_share_id(context, instance_uuid,
                                                    share_id):
    return call(context, 'share_mapping_get_by_instance_uuid_and_share_id',
                instance_uuid=instance_uuid, share_id=share_id)


def share_mapping_get_by_instance_uuids(context, instance_uuids):
    return call(context, 'share_mapping_get_by_instance_uuids',
                instance_uuids=instance_uuids)


def share_mapping_get_by_share_id(context, share_id):
    return call(context, 'share_mapping_get_by_share_id', share_id=share_id)


def share_mapping_update(context, uuid, instance_uuid, share_id, status, tag,
                         export_location, share_proto):
    return call(context, 'share_mapping_update',
                uuid=uuid, instance_uuid=instance_uuid, share_id=share_id,
                status=status, tag=tag, export_location=export_location,
                share_proto=share_proto)
