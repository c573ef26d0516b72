"""nova's calls of instance actions, their events and instance faults
(``instance_actions``, ``instance_actions_events``, ``instance_faults``).

Host scope: these belong to their instance: a compute host reads and
writes them while the instance is on it or migrating to or from it, and
after it destroyed the instance (the soft-deleted instance stays the
scope of the host it was on). The DB functions apply it in the call's
transaction (``scope_host``).
"""

from nova_proxy.common import rpc
from nova_proxy.db import api as db
from nova_proxy.proxy.endpoints import base
from nova_proxy.proxy import policy

__all__ = ['ActionEndpoint']


class ActionEndpoint(base.Endpoint):

    @rpc.remotable
    def action_start(self, context, values):
        """:raises: InvalidUpdate, InvalidUUID, InstanceNotFound,
            HostScopeViolation"""
        return db.action_start(context, values,
                               scope_host=policy.scope_host(context))

    @rpc.remotable
    def action_finish(self, context, values):
        """:raises: InvalidUpdate, InvalidUUID, InstanceNotFound,
            InstanceActionNotFound, HostScopeViolation"""
        return db.action_finish(context, values,
                                scope_host=policy.scope_host(context))

    @rpc.remotable
    def action_get_by_request_id(self, context, instance_uuid: str,
                                 request_id: str):
        """:returns: the action, or None. :raises: HostScopeViolation"""
        return db.action_get_by_request_id(
            context, instance_uuid, request_id,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def actions_get(self, context, instance_uuid: str,
                    limit: int | None = None, marker: str | None = None,
                    filters: dict | None = None):
        """:raises: MarkerNotFound, InvalidUpdate, HostScopeViolation"""
        return db.actions_get(context, instance_uuid, limit=limit,
                              marker=marker, filters=filters,
                              scope_host=policy.scope_host(context))

    @rpc.remotable
    def action_event_start(self, context, values):
        """:raises: InvalidUpdate, InvalidUUID, InstanceNotFound,
            InstanceActionNotFound, HostScopeViolation, Conflict"""
        return db.action_event_start(context, values,
                                     scope_host=policy.scope_host(context))

    @rpc.remotable
    def action_event_finish(self, context, values):
        """:raises: InvalidUpdate, InvalidUUID, InstanceNotFound,
            InstanceActionNotFound, InstanceActionEventNotFound,
            HostScopeViolation"""
        return db.action_event_finish(context, values,
                                      scope_host=policy.scope_host(context))

    @rpc.remotable
    def action_events_get(self, context, action_id: int):
        """:raises: HostScopeViolation"""
        return db.action_events_get(context, action_id,
                                    scope_host=policy.scope_host(context))

    @rpc.remotable
    def action_event_get_by_id(self, context, action_id: int,
                               event_id: int):
        """:returns: the event, or None. :raises: HostScopeViolation"""
        return db.action_event_get_by_id(
            context, action_id, event_id,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_fault_create(self, context, values):
        """:raises: InvalidUpdate, InvalidUUID, InstanceNotFound,
            HostScopeViolation"""
        return db.instance_fault_create(
            context, values, scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_fault_get_by_instance_uuids(self, context,
                                             instance_uuids: list[str],
                                             latest: bool = False):
        """:raises: HostScopeViolation"""
        return db.instance_fault_get_by_instance_uuids(
            context, instance_uuids, latest=latest,
            scope_host=policy.scope_host(context))
