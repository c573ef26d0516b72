"""nova's block device mapping calls, over RPC.

Arguments, results and errors are nova's (``nova.db.main.api``); the
proxies' endpoints (``nova_proxy.proxy.endpoints.block_devices``) say what
each raises. A compute host reaches the mappings of its own instances and
of instances migrating to or from it;
``block_device_mapping_get_all_by_volume_id`` gives it only those, and
the other calls refuse the rest with ``HostScopeViolation``. A mapping
whose ``uuid`` another has is oslo.db's ``DBDuplicateEntry``, as from
nova's own database.
"""

import functools

from oslo_db import exception as db_exc

from nova_proxy.compute.db._client import call
from nova_proxy import exception

__all__ = [
    'block_device_mapping_create', 'block_device_mapping_destroy',
    'block_device_mapping_get_all_by_instance',
    'block_device_mapping_get_all_by_instance_uuids',
    'block_device_mapping_get_all_by_volume_id',
    'block_device_mapping_get_by_instance_and_volume_id',
    'block_device_mapping_update', 'block_device_mapping_update_or_create',
]


def _duplicate_as_nova(fn):
    """The proxy's BlockDeviceMappingExists as what nova's database
    raises there."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except exception.BlockDeviceMappingExists as e:
            raise db_exc.DBDuplicateEntry(columns=['uuid'],
                                          value=e.kwargs.get('uuid')) from e
    return wrapper


@_duplicate_as_nova
def block_device_mapping_create(context, values, legacy=True):
    return call(context, 'block_device_mapping_create', values=values,
                legacy=legacy)


@_duplicate_as_nova
def block_device_mapping_update(context, bdm_id, values, legacy=True):
    return call(context, 'block_device_mapping_update', bdm_id=bdm_id,
                values=values, legacy=legacy)


@_duplicate_as_nova
def block_device_mapping_update_or_create(context, values, legacy=True):
    return call(context, 'block_device_mapping_update_or_create',
                values=values, legacy=legacy)


def block_device_mapping_get_all_by_instance_uuids(context, instance_uuids):
    return call(context, 'block_device_mapping_get_all_by_instance_uuids',
                instance_uuids=instance_uuids)


def block_device_mapping_get_all_by_instance(context, instance_uuid):
    return call(context, 'block_device_mapping_get_all_by_instance',
                instance_uuid=instance_uuid)


def block_device_mapping_get_all_by_volume_id(context, volume_id,
                                              columns_to_join=None):
    return call(context, 'block_device_mapping_get_all_by_volume_id',
                volume_id=volume_id, columns_to_join=columns_to_join)


def block_device_mapping_get_by_instance_and_volume_id(
        context, volume_id, instance_uuid, columns_to_join=None):
    return call(context, 'block_device_mapping_get_by_instance_and_volume_id',
                volume_id=volume_id, instance_uuid=instance_uuid,
                columns_to_join=columns_to_join)


def block_device_mapping_destroy(context, bdm_id):
    return call(context, 'block_device_mapping_destroy', bdm_id=bdm_id)
