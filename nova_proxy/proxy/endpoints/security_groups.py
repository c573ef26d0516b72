"""nova's security groups: a compute host reads the groups of the
instances in its scope; every other call is the control plane's."""

from nova_proxy.common import rpc
from nova_proxy.db import api as db
from nova_proxy.proxy.endpoints import base
from nova_proxy.proxy import policy

__all__ = ['SecurityGroupEndpoint']


def _control_plane(context):
    policy.check_unconfined(context, 'read or change security groups by '
                                     'id, name or project')


class SecurityGroupEndpoint(base.Endpoint):

    @rpc.remotable
    def security_group_get_by_instance(self, context, instance_uuid: str):
        return db.security_group_get_by_instance(
            context, instance_uuid, scope_host=policy.scope_host(context))

    @rpc.remotable
    def security_group_get(self, context, security_group_id: int,
                           columns_to_join: list[str] | None = None):
        _control_plane(context)
        return db.security_group_get(context, security_group_id,
                                     columns_to_join=columns_to_join)

    @rpc.remotable
    def security_group_get_all(self, context):
        _control_plane(context)
        return db.security_group_get_all(context)

    @rpc.remotable
    def security_group_get_by_name(self, context, project_id: str,
                                   group_name: str):
        _control_plane(context)
        return db.security_group_get_by_name(context, project_id,
                                             group_name)

    @rpc.remotable
    def security_group_get_by_project(self, context, project_id: str):
        _control_plane(context)
        return db.security_group_get_by_project(context, project_id)

    @rpc.remotable
    def security_group_in_use(self, context, group_id: int):
        _control_plane(context)
        return db.security_group_in_use(context, group_id)

    @rpc.remotable
    def security_group_update(self, context, security_group_id: int,
                              values):
        _control_plane(context)
        return db.security_group_update(context, security_group_id, values)
