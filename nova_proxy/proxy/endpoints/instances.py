"""nova's instance calls (``instances`` and what hangs off them).

Host scope: a compute host reads and writes the instances in its scope,
those on its host or migrating to or from it (``_scope.SCOPE_CONDITION``,
in the statement); it deletes only its own; it creates instances only on
its own host. A list by host is served for its own host only; a list that
names no host (``instance_get_all``, ``instance_get_all_by_filters`` and
``_sort`` without a ``host`` filter, ``instance_get_all_hung_in_rebooting``)
is limited to the instances in its scope rather than refused: nova-compute
lists the instances its hypervisor has by uuid, without a host, when it
starts (``ComputeManager._get_instances_on_driver``).
"""

from nova_proxy.common import rpc
from nova_proxy.db import api as db
from nova_proxy.proxy.endpoints import base
from nova_proxy.proxy import policy

__all__ = ['InstanceEndpoint']


def _filters_scope(context, filters):
    """The ``scope_host`` of a list by nova's filters: none when the
    ``host`` filter names the caller's host (or hosts, all its own),
    else the caller's (HostScopeViolation for another host)."""
    if isinstance(filters, dict) and 'host' in filters:
        hosts = filters['host']
        for host in hosts if isinstance(hosts, list) else [hosts]:
            policy.check_host(context, host, 'the instances of %s' % host)
        return None
    return policy.scope_host(context)


class InstanceEndpoint(base.Endpoint):

    @rpc.remotable
    def instance_create(self, context, values):
        if isinstance(values, dict):
            policy.check_host(context, values.get('host'), 'a new instance')
        return db.instance_create(context, values)

    @rpc.remotable
    def instance_destroy(self, context, instance_uuid,
                         constraint: dict | None = None,
                         hard_delete: bool = False):
        if hard_delete:
            policy.check_unconfined(context, 'hard-delete an instance')
        return db.instance_destroy(context, instance_uuid,
                                   constraint=constraint,
                                   hard_delete=hard_delete,
                                   scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_get(self, context, instance_id,
                     columns_to_join: list[str] | None = None):
        return db.instance_get(context, instance_id,
                               columns_to_join=columns_to_join,
                               scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_get_by_uuid(self, context, uuid,
                             columns_to_join: list[str] | None = None):
        return db.instance_get_by_uuid(context, uuid,
                                       columns_to_join=columns_to_join,
                                       scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_get_all(self, context,
                         columns_to_join: list[str] | None = None):
        return db.instance_get_all(context, columns_to_join=columns_to_join,
                                   scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_get_all_by_filters(self, context, filters: dict,
                                    sort_key: str = 'created_at',
                                    sort_dir: str = 'desc',
                                    limit: int | None = None,
                                    marker: str | None = None,
                                    columns_to_join: list[str] | None = None):
        return db.instance_get_all_by_filters(
            context, filters, sort_key=sort_key, sort_dir=sort_dir,
            limit=limit, marker=marker, columns_to_join=columns_to_join,
            scope_host=_filters_scope(context, filters))

    @rpc.remotable
    def instance_get_all_by_filters_sort(
            self, context, filters: dict, limit: int | None = None,
            marker: str | None = None,
            columns_to_join: list[str] | None = None,
            sort_keys: list[str] | None = None,
            sort_dirs: list[str] | None = None):
        return db.instance_get_all_by_filters_sort(
            context, filters, limit=limit, marker=marker,
            columns_to_join=columns_to_join, sort_keys=sort_keys,
            sort_dirs=sort_dirs, scope_host=_filters_scope(context, filters))

    @rpc.remotable
    def instance_get_all_by_host(self, context, host: str,
                                 columns_to_join: list[str] | None = None):
        policy.check_host(context, host, 'the instances of %s' % host)
        return db.instance_get_all_by_host(context, host,
                                           columns_to_join=columns_to_join)

    @rpc.remotable
    def instance_get_all_by_host_and_node(
            self, context, host: str, node: str,
            columns_to_join: list[str] | None = None):
        policy.check_host(context, host, 'the instances of %s' % host)
        return db.instance_get_all_by_host_and_node(
            context, host, node, columns_to_join=columns_to_join)

    @rpc.remotable
    def instance_get_all_by_host_and_not_type(self, context, host: str,
                                              type_id: int | None = None):
        policy.check_host(context, host, 'the instances of %s' % host)
        return db.instance_get_all_by_host_and_not_type(context, host,
                                                        type_id=type_id)

    @rpc.remotable
    def instance_get_all_hung_in_rebooting(self, context, reboot_window: int):
        return db.instance_get_all_hung_in_rebooting(
            context, reboot_window, scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_get_all_uuids_by_hosts(self, context, hosts: list[str]):
        for host in hosts:
            policy.check_host(context, host, 'the instances of %s' % host)
        return db.instance_get_all_uuids_by_hosts(context, hosts)

    @rpc.remotable
    def instance_get_active_by_window_joined(
            self, context, begin: str, end: str | None = None,
            project_id: str | None = None, host: str | None = None,
            columns_to_join: list[str] | None = None,
            limit: int | None = None, marker: str | None = None):
        policy.check_host(context, host, 'the instances of %s' % host)
        return db.instance_get_active_by_window_joined(
            context, begin, end=end, project_id=project_id, host=host,
            columns_to_join=columns_to_join, limit=limit, marker=marker)

    @rpc.remotable
    def instance_update_and_get_original(
            self, context, instance_uuid, values,
            columns_to_join: list[str] | None = None,
            expected: dict | None = None):
        return db.instance_update_and_get_original(
            context, instance_uuid, values, columns_to_join=columns_to_join,
            expected=expected, scope_host=policy.scope_host(context))

    @rpc.remotable
    def instances_fill_metadata(self, context, instances: list,
                                manual_joins: list[str] | None = None):
        return db.instances_fill_metadata(
            context, instances, manual_joins=manual_joins,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_metadata_delete(self, context, instance_uuid, key: str):
        return db.instance_metadata_delete(
            context, instance_uuid, key,
            scope_host=policy.scope_host(context))
