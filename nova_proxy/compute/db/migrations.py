"""nova's migration calls (``migrations`` table), over RPC.

Arguments, results and errors are nova's (``nova.db.main.api``); the
proxies' endpoints (``nova_proxy.proxy.endpoints.migrations``) say what
each raises and which a compute host may call: the migrations that name
it as source or destination; ``migration_create`` and the lists of every
host are the control plane's (``Forbidden`` for a compute).
"""

from nova_proxy.compute.db._client import call

__all__ = [
    'migration_create', 'migration_get', 'migration_get_all_by_filters',
    'migration_get_by_id_and_instance',
    'migration_get_by_instance_and_status', 'migration_get_by_uuid',
    'migration_get_in_progress_and_error_by_host_and_node',
    'migration_get_in_progress_by_host_and_node',
    'migration_get_in_progress_by_instance',
    'migration_get_unconfirmed_by_dest_compute', 'migration_update',
]


def migration_create(context, values):
    return call(context, 'migration_create', values=values)


def migration_update(context, migration_id, values):
    return call(context, 'migration_update', migration_id=migration_id,
                values=values)


def migration_get(context, migration_id):
    return call(context, 'migration_get', migration_id=migration_id)


def migration_get_by_uuid(context, migration_uuid):
    return call(context, 'migration_get_by_uuid',
                migration_uuid=migration_uuid)


def migration_get_by_id_and_instance(context, migration_id, instance_uuid):
    return call(context, 'migration_get_by_id_and_instance',
                migration_id=migration_id, instance_uuid=instance_uuid)


def migration_get_by_instance_and_status(context, instance_uuid, status):
    return call(context, 'migration_get_by_instance_and_status',
                instance_uuid=instance_uuid, status=status)


def migration_get_unconfirmed_by_dest_compute(context, confirm_window,
                                              dest_compute):
    return call(context, 'migration_get_unconfirmed_by_dest_compute',
                confirm_window=confirm_window, dest_compute=dest_compute)


def migration_get_in_progress_by_host_and_node(context, host, node):
    return call(context, 'migration_get_in_progress_by_host_and_node',
                host=host, node=node)


def migration_get_in_progress_by_instance(context, instance_uuid,
                                          migration_type=None):
    return call(context, 'migration_get_in_progress_by_instance',
                instance_uuid=instance_uuid, migration_type=migration_type)


def migration_get_all_by_filters(context, filters, sort_keys=None,
                                 sort_dirs=None, limit=None, marker=None):
    return call(context, 'migration_get_all_by_filters', filters=filters,
                sort_keys=sort_keys, sort_dirs=sort_dirs, limit=limit,
                marker=marker)


def migration_get_in_progress_and_error_by_host_and_node(context, host,
                                                         node):
    return call(context,
                'migration_get_in_progress_and_error_by_host_and_node',
                host=host, node=node)
