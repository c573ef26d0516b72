"""nova's calls of instance actions, their events and instance faults,
over RPC.

Arguments, results and errors are nova's (``nova.db.main.api``); the
proxies' endpoints (``nova_proxy.proxy.endpoints.actions``) say what each
raises. A compute host reaches the records of the instances in its scope
(on it, migrating to or from it, or destroyed by it); the rest is refused
with ``HostScopeViolation``.
"""

from nova_proxy.compute.db._client import call

__all__ = [
    'action_event_finish', 'action_event_get_by_id', 'action_event_start',
    'action_events_get', 'action_finish', 'action_get_by_request_id',
    'action_start', 'actions_get', 'instance_fault_create',
    'instance_fault_get_by_instance_uuids',
]


def action_start(context, values):
    return call(context, 'action_start', values=values)


def action_finish(context, values):
    return call(context, 'action_finish', values=values)


def actions_get(context, instance_uuid, limit=None, marker=None,
                filters=None):
    return call(context, 'actions_get', instance_uuid=instance_uuid,
                limit=limit, marker=marker, filters=filters)


def action_get_by_request_id(context, instance_uuid, request_id):
    return call(context, 'action_get_by_request_id',
                instance_uuid=instance_uuid, request_id=request_id)


def action_event_start(context, values):
    return call(context, 'action_event_start', values=values)


def action_event_finish(context, values):
    return call(context, 'action_event_finish', values=values)


def action_events_get(context, action_id):
    return call(context, 'action_events_get', action_id=action_id)


def action_event_get_by_id(context, action_id, event_id):
    return call(context, 'action_event_get_by_id', action_id=action_id,
                event_id=event_id)


def instance_fault_create(context, values):
    return call(context, 'instance_fault_create', values=values)


def instance_fault_get_by_instance_uuids(context, instance_uuids,
                                         latest=False):
    return call(context, 'instance_fault_get_by_instance_uuids',
                instance_uuids=instance_uuids, latest=latest)
