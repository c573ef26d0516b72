"""nova's calls of an instance's extra, info cache and tags, over RPC.

Arguments, results and errors are nova's (``nova.db.main.api``); the
proxies' endpoints (``nova_proxy.proxy.endpoints.instance_children``) say
what each raises. A compute host reaches the children of its own
instances and of instances migrating to or from it; others are refused
with ``HostScopeViolation``.
"""

from nova_proxy.compute.db._client import call

__all__ = [
    'instance_extra_get_by_instance_uuid', 'instance_extra_update_by_uuid',
    'instance_info_cache_delete', 'instance_info_cache_get',
    'instance_info_cache_update', 'instance_tag_add', 'instance_tag_delete',
    'instance_tag_delete_all', 'instance_tag_exists',
    'instance_tag_get_by_instance_uuid', 'instance_tag_set',
]


def instance_extra_get_by_instance_uuid(context, instance_uuid, columns=None):
    return call(context, 'instance_extra_get_by_instance_uuid',
                instance_uuid=instance_uuid, columns=columns)


def instance_extra_update_by_uuid(context, instance_uuid, updates):
    return call(context, 'instance_extra_update_by_uuid',
                instance_uuid=instance_uuid, updates=updates)


def instance_info_cache_get(context, instance_uuid):
    return call(context, 'instance_info_cache_get',
                instance_uuid=instance_uuid)


def instance_info_cache_update(context, instance_uuid, values):
    return call(context, 'instance_info_cache_update',
                instance_uuid=instance_uuid, values=values)


def instance_info_cache_delete(context, instance_uuid):
    return call(context, 'instance_info_cache_delete',
                instance_uuid=instance_uuid)


def instance_tag_add(context, instance_uuid, tag):
    return call(context, 'instance_tag_add', instance_uuid=instance_uuid,
                tag=tag)


def instance_tag_set(context, instance_uuid, tags):
    return call(context, 'instance_tag_set', instance_uuid=instance_uuid,
                tags=tags)


def instance_tag_get_by_instance_uuid(context, instance_uuid):
    return call(context, 'instance_tag_get_by_instance_uuid',
                instance_uuid=instance_uuid)


def instance_tag_delete(context, instance_uuid, tag):
    return call(context, 'instance_tag_delete', instance_uuid=instance_uuid,
                tag=tag)


def instance_tag_delete_all(context, instance_uuid):
    return call(context, 'instance_tag_delete_all',
                instance_uuid=instance_uuid)


def instance_tag_exists(context, instance_uuid, tag):
    return call(context, 'instance_tag_exists', instance_uuid=instance_uuid,
                tag=tag)
