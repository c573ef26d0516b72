"""nova's calls of an instance's extra, info cache and tags
(``instance_extra``, ``instance_info_caches``, ``tags``).

Host scope: the children of an instance belong to its host and to the
other end of a migration of it in progress. The DB layer applies it
(``scope_host=``) in the call's transaction: a write needs the live
instance in the caller's scope; a read of the extra or info cache also
reaches a soft-deleted instance that was the caller's (nova gives what
is left of it), and of an instance that does not exist (nothing).
"""

from nova_proxy.common import rpc
from nova_proxy.db import api as db
from nova_proxy.proxy.endpoints import base
from nova_proxy.proxy import policy

__all__ = ['InstanceChildrenEndpoint']


class InstanceChildrenEndpoint(base.Endpoint):

    @rpc.remotable
    def instance_extra_get_by_instance_uuid(
            self, context, instance_uuid: str,
            columns: list[str] | None = None):
        """:returns: the extra row (base columns and ``columns``), or
        None.

        :raises: Invalid, HostScopeViolation
        """
        return db.instance_extra_get_by_instance_uuid(
            context, instance_uuid, columns=columns,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_extra_update_by_uuid(self, context, instance_uuid: str,
                                      updates):
        """:returns: the number of extra rows written (made if missing).

        :raises: InvalidUpdate, InstanceNotFound, HostScopeViolation
        """
        return db.instance_extra_update_by_uuid(
            context, instance_uuid, updates,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_info_cache_get(self, context, instance_uuid: str):
        """:returns: the info cache row, or None.

        :raises: HostScopeViolation
        """
        return db.instance_info_cache_get(
            context, instance_uuid, scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_info_cache_update(self, context, instance_uuid: str,
                                   values):
        """:returns: the info cache row (made if missing).

        :raises: InvalidUpdate, InstanceNotFound, InstanceInfoCacheNotFound,
            HostScopeViolation
        """
        return db.instance_info_cache_update(
            context, instance_uuid, values,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_info_cache_delete(self, context, instance_uuid: str):
        """:raises: InstanceNotFound, HostScopeViolation"""
        return db.instance_info_cache_delete(
            context, instance_uuid, scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_tag_add(self, context, instance_uuid: str, tag: str):
        """:returns: the tag row. :raises: Invalid, InstanceNotFound,
        HostScopeViolation"""
        return db.instance_tag_add(context, instance_uuid, tag,
                                   scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_tag_set(self, context, instance_uuid: str,
                         tags: list[str]):
        """:returns: the instance's tag rows. :raises: Invalid,
        InstanceNotFound, HostScopeViolation"""
        return db.instance_tag_set(context, instance_uuid, tags,
                                   scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_tag_get_by_instance_uuid(self, context, instance_uuid: str):
        """:raises: InstanceNotFound, HostScopeViolation"""
        return db.instance_tag_get_by_instance_uuid(
            context, instance_uuid, scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_tag_delete(self, context, instance_uuid: str, tag: str):
        """:raises: InstanceNotFound, InstanceTagNotFound,
        HostScopeViolation"""
        return db.instance_tag_delete(context, instance_uuid, tag,
                                      scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_tag_delete_all(self, context, instance_uuid: str):
        """:raises: InstanceNotFound, HostScopeViolation"""
        return db.instance_tag_delete_all(
            context, instance_uuid, scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_tag_exists(self, context, instance_uuid: str, tag: str):
        """:returns: whether the instance has ``tag``. :raises:
        InstanceNotFound, HostScopeViolation"""
        return db.instance_tag_exists(context, instance_uuid, tag,
                                      scope_host=policy.scope_host(context))
