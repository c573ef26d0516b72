"""nova's instance calls (``instances`` and what hangs off them), over
RPC.

Arguments, results and errors are nova's (``nova.db.main.api``); the
proxies' endpoints (``nova_proxy.proxy.endpoints.instances``) and
docs/wire.rst say what each raises and what a compute host may reach:
the instances on its host or migrating to or from it, its own host's
lists, and lists without a host limited to those (``HostScopeViolation``
for another host's). Instances come back as dicts carrying the joins of
``columns_to_join`` (metadata as dicts), which nova's
``Instance._from_db_object`` reads.
"""

from nova_proxy.compute.db._client import call

__all__ = [
    'instance_create', 'instance_destroy', 'instance_get',
    'instance_get_active_by_window_joined', 'instance_get_all',
    'instance_get_all_by_filters', 'instance_get_all_by_filters_sort',
    'instance_get_all_by_host', 'instance_get_all_by_host_and_node',
    'instance_get_all_by_host_and_not_type',
    'instance_get_all_hung_in_rebooting', 'instance_get_all_uuids_by_hosts',
    'instance_get_by_uuid', 'instance_metadata_delete',
    'instance_update_and_get_original', 'instances_fill_metadata',
]


def instance_create(context, values):
    return call(context, 'instance_create', values=values)


def instance_destroy(context, instance_uuid, constraint=None,
                     hard_delete=False):
    return call(context, 'instance_destroy', instance_uuid=instance_uuid,
                constraint=constraint, hard_delete=hard_delete)


def instance_get_by_uuid(context, uuid, columns_to_join=None):
    return call(context, 'instance_get_by_uuid', uuid=uuid,
                columns_to_join=columns_to_join)


def instance_get(context, instance_id, columns_to_join=None):
    return call(context, 'instance_get', instance_id=instance_id,
                columns_to_join=columns_to_join)


def instances_fill_metadata(context, instances, manual_joins=None):
    # (nova's InstanceList.fill_metadata passes a dict's values() view,
    # which _client.to_wire sends as a list.)
    return call(context, 'instances_fill_metadata', instances=instances,
                manual_joins=manual_joins)


def instance_get_all(context, columns_to_join=None):
    return call(context, 'instance_get_all', columns_to_join=columns_to_join)


def instance_get_all_by_filters(
    context, filters, sort_key='created_at', sort_dir='desc', limit=None,
    marker=None, columns_to_join=None,
):
    return call(context, 'instance_get_all_by_filters', filters=filters,
                sort_key=sort_key, sort_dir=sort_dir, limit=limit,
                marker=marker, columns_to_join=columns_to_join)


def instance_get_all_by_filters_sort(context, filters, limit=None,
                                     marker=None, columns_to_join=None,
                                     sort_keys=None, sort_dirs=None):
    return call(context, 'instance_get_all_by_filters_sort',
                filters=filters, limit=limit, marker=marker,
                columns_to_join=columns_to_join, sort_keys=sort_keys,
                sort_dirs=sort_dirs)


def instance_get_active_by_window_joined(context, begin, end=None,
                                         project_id=None, host=None,
                                         columns_to_join=None, limit=None,
                                         marker=None):
    return call(context, 'instance_get_active_by_window_joined',
                begin=begin, end=end, project_id=project_id, host=host,
                columns_to_join=columns_to_join, limit=limit, marker=marker)


def instance_get_all_by_host(context, host, columns_to_join=None):
    return call(context, 'instance_get_all_by_host', host=host,
                columns_to_join=columns_to_join)


def instance_get_all_uuids_by_hosts(context, hosts):
    # Every host asked for is a key of the result (nova's defaultdict).
    return call(context, 'instance_get_all_uuids_by_hosts', hosts=hosts)


def instance_get_all_by_host_and_node(
    context, host, node, columns_to_join=None,
):
    return call(context, 'instance_get_all_by_host_and_node', host=host,
                node=node, columns_to_join=columns_to_join)


def instance_get_all_by_host_and_not_type(context, host, type_id=None):
    return call(context, 'instance_get_all_by_host_and_not_type', host=host,
                type_id=type_id)


def instance_get_all_hung_in_rebooting(context, reboot_window):
    return call(context, 'instance_get_all_hung_in_rebooting',
                reboot_window=reboot_window)


def instance_update_and_get_original(context, instance_uuid, values,
                                     columns_to_join=None, expected=None):
    # [original, updated]: nova's callers unpack it as nova's tuple.
    return call(context, 'instance_update_and_get_original',
                instance_uuid=instance_uuid, values=values,
                columns_to_join=columns_to_join, expected=expected)


def instance_metadata_delete(context, instance_uuid, key):
    return call(context, 'instance_metadata_delete',
                instance_uuid=instance_uuid, key=key)
