"""Endpoints of the proxy's database API (default namespace): the 1.x
methods here, nova's 2.x ones in ``nova_proxy.proxy.endpoints``.

One small endpoint class per entity; oslo.messaging's dispatcher tries them
in turn. Only ``@rpc.remotable`` methods are callable, and they are exactly
``rpcapi.METHODS``. Each endpoint applies the host-scope policy and calls
``nova_proxy.db.api``; the dicts it returns are the wire format.

Argument annotations are checked by ``rpc.remotable`` before the method
runs: a caller sending a list where a host name belongs gets
``InvalidRequest`` naming the argument, never a database error. Arguments
without an annotation (``values``, ``instance_uuid``) are checked by the DB
API, which gives the more precise ``InvalidUpdate`` / ``InvalidUUID``.
"""

import oslo_messaging as messaging

from nova_proxy.common import rpc
from nova_proxy.db import api as db
from nova_proxy import exception
from nova_proxy.proxy import endpoints as nova_endpoints
from nova_proxy.proxy.endpoints import actions as nova_actions
from nova_proxy.proxy.endpoints import compute_nodes as nova_compute_nodes
from nova_proxy.proxy.endpoints import migrations as nova_migrations
from nova_proxy.proxy.endpoints import services as nova_services
from nova_proxy.proxy import policy
from nova_proxy.proxy import rpcapi

__all__ = ['endpoints']


class _Endpoint:
    target = messaging.Target(version=rpcapi.RPC_API_VERSION)


class BaseEndpoint(_Endpoint):

    @rpc.remotable
    def ping(self, context, arg):
        return arg


# The 1.x shape of an instance: its columns, metadata and system metadata.
_V1_JOINS = ['metadata', 'system_metadata']


def _v1_instance(instance):
    """An instance as the 1.x calls give it: nova's create and destroy
    bring joins the 1.x contract does not have."""
    for name in ('info_cache', 'security_groups', 'extra'):
        instance.pop(name, None)
    return instance


class InstanceEndpoint(_Endpoint):
    """The 1.x instance calls. Those that nova has too run nova's DB
    functions (one function per name), with the 1.x results and errors."""

    @rpc.remotable
    def instance_create(self, context, values):
        if isinstance(values, dict):
            policy.check_host(context, values.get('host'), 'a new instance')
        return _v1_instance(db.instance_create(context, values))

    @rpc.remotable
    def instance_get_by_uuid(self, context, instance_uuid):
        return db.instance_get_by_uuid(context, instance_uuid,
                                       columns_to_join=_V1_JOINS,
                                       scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_get_all_by_host(self, context, host: str,
                                 node: str | None = None):
        policy.check_host(context, host, 'the instances of %s' % host)
        if node is None:
            return db.instance_get_all_by_host(context, host,
                                               columns_to_join=_V1_JOINS)
        return db.instance_get_all_by_host_and_node(
            context, host, node, columns_to_join=_V1_JOINS)

    @rpc.remotable
    def instance_update(self, context, instance_uuid, values):
        return db.instance_update(context, instance_uuid, values,
                                  scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_update_and_get_original(self, context, instance_uuid,
                                         values):
        try:
            return db.instance_update_and_get_original(
                context, instance_uuid, values, columns_to_join=_V1_JOINS,
                scope_host=policy.scope_host(context))
        except exception.InstanceUpdateConflict as e:
            raise _v1_conflict(e, values) from None

    @rpc.remotable
    def instance_update_and_record(self, context, instance_uuid, values,
                                   event_start: dict | None = None,
                                   event_finish: dict | None = None,
                                   fault: dict | None = None):
        return db.instance_update_and_record(
            context, instance_uuid, values, event_start=event_start,
            event_finish=event_finish, fault=fault,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_destroy(self, context, instance_uuid):
        return _v1_instance(db.instance_destroy(
            context, instance_uuid, scope_host=policy.scope_host(context)))


def _v1_conflict(error, values):
    """nova's conflict (``expected``/``actual`` dicts) as 1.x gives it:
    the expectation as sent and the actual value of the field the class
    names."""
    field = 'vm_state' if isinstance(
        error, exception.UnexpectedVMStateError) else 'task_state'
    actual = error.kwargs.get('actual')
    if not isinstance(actual, dict) or field not in actual:
        return error
    return type(error)(instance_uuid=error.kwargs['instance_uuid'],
                       expected=values.get('expected_' + field),
                       actual=actual[field])


class MigrationEndpoint(_Endpoint):

    # The same calls as nova's (2.x): one DB function, one host check.
    migration_create = nova_migrations.MigrationEndpoint.migration_create
    migration_get = nova_migrations.MigrationEndpoint.migration_get
    migration_update = nova_migrations.MigrationEndpoint.migration_update
    migration_get_in_progress_by_host_and_node = \
        nova_migrations.MigrationEndpoint.\
        migration_get_in_progress_by_host_and_node


class ServiceEndpoint(_Endpoint):

    # The same calls as nova's (2.x): one DB function, one host check.
    service_get_by_host_and_binary = \
        nova_services.ServiceEndpoint.service_get_by_host_and_binary
    service_create = nova_services.ServiceEndpoint.service_create
    service_update = nova_services.ServiceEndpoint.service_update

    @rpc.remotable
    def service_heartbeat(self, context, service_id: int):
        return db.service_heartbeat(context, service_id,
                                    scope_host=policy.scope_host(context))


class ComputeNodeEndpoint(_Endpoint):

    compute_node_create = \
        nova_compute_nodes.ComputeNodeEndpoint.compute_node_create

    @rpc.remotable
    def compute_node_get_by_host_and_node(self, context, host: str,
                                          node: str):
        policy.check_host(context, host, 'compute node %s/%s' % (host, node))
        return db.compute_node_get_by_host_and_node(context, host, node)

    @rpc.remotable
    @rpc.nonce_with_write
    def compute_node_update(self, context, compute_node_id: int,
                            values):
        # nova's compute_node_update, under the 1.x argument name.
        return db.compute_node_update(context, compute_node_id, values,
                                      scope_host=policy.scope_host(context))


class ActionEndpoint(_Endpoint):

    # The same call as nova's (2.x): one DB function, one scope rule.
    instance_fault_create = nova_actions.ActionEndpoint.instance_fault_create

    # nova's functions, without nova's fallback to the instance's last
    # action: a 1.x caller starts the action it does not find.
    @rpc.remotable
    def action_event_start(self, context, values):
        return db.action_event_start(
            context, values, scope_host=policy.scope_host(context),
            last_action_fallback=False)

    @rpc.remotable
    def action_event_finish(self, context, values):
        return db.action_event_finish(
            context, values, scope_host=policy.scope_host(context),
            last_action_fallback=False)

    @rpc.remotable
    def instance_action_start(self, context, values):
        return db.instance_action_start(
            context, values, scope_host=policy.scope_host(context))

    @rpc.remotable
    def instance_action_finish(self, context, values):
        return db.instance_action_finish(
            context, values, scope_host=policy.scope_host(context))


def endpoints():
    """The endpoints of the database API, fresh for each server: the 1.x
    ones of this module and nova's 2.x ones."""
    return [BaseEndpoint(), InstanceEndpoint(), MigrationEndpoint(),
            ServiceEndpoint(), ComputeNodeEndpoint(),
            ActionEndpoint()] + nova_endpoints.endpoints()
