"""nova's security group calls, over RPC: a compute host reads the
groups of the instances in its scope; the rest is the control plane's
(proxy/endpoints/security_groups.py)."""

from nova_proxy.compute.db._client import call

__all__ = [
    'security_group_get', 'security_group_get_all',
    'security_group_get_by_instance', 'security_group_get_by_name',
    'security_group_get_by_project', 'security_group_in_use',
    'security_group_update',
]


def security_group_get(context, security_group_id, columns_to_join=None):
    return call(context, 'security_group_get',
                security_group_id=security_group_id,
                columns_to_join=columns_to_join)


def security_group_get_all(context):
    return call(context, 'security_group_get_all')


def security_group_get_by_instance(context, instance_uuid):
    return call(context, 'security_group_get_by_instance',
                instance_uuid=instance_uuid)


def security_group_get_by_name(context, project_id, group_name):
    return call(context, 'security_group_get_by_name',
                project_id=project_id, group_name=group_name)


def security_group_get_by_project(context, project_id):
    return call(context, 'security_group_get_by_project',
                project_id=project_id)


def security_group_in_use(context, group_id):
    return call(context, 'security_group_in_use', group_id=group_id)


def security_group_update(context, security_group_id, values):
    return call(context, 'security_group_update',
                security_group_id=security_group_id, values=values)
