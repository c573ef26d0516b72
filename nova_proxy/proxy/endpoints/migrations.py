"""nova's migration calls (``migrations`` table).

Host scope: a compute host reads the migrations that name it as their
source or destination (``source_compute``/``dest_compute``), and updates
only those still in progress, never their instance or hosts (the DB
layer's ``migration_update`` checks it under a row lock). Creating one is
the control plane's: a migration in progress opens its instance to both
hosts it names, and nova-compute does not create migrations either (nova's
conductor and API do). A list of every host's migrations is the control
plane's too: ``migration_get_all_by_filters`` serves a compute host when
its ``host`` filter (or, without one, its ``source_compute``) is the
caller, as nova-compute sends them.
"""

from nova_proxy.common import rpc
from nova_proxy.db import api as db
from nova_proxy.proxy.endpoints import base
from nova_proxy.proxy import policy

__all__ = ['MigrationEndpoint', 'own_migration']


def own_migration(context, migration):
    """``migration`` if a confined caller is one of its ends; else
    HostScopeViolation naming its source."""
    caller = policy.scope_host(context)
    if caller is not None and caller not in (migration['source_compute'],
                                             migration['dest_compute']):
        policy.check_host(context, migration['source_compute'],
                          'migration %s' % migration['id'])
    return migration


def _own_migrations(context, migrations):
    for migration in migrations:
        own_migration(context, migration)
    return migrations


class MigrationEndpoint(base.Endpoint):

    @rpc.remotable
    def migration_create(self, context, values):
        policy.check_unconfined(context, 'create a migration')
        return db.migration_create(context, values)

    @rpc.remotable
    def migration_get(self, context, migration_id: int):
        return own_migration(context, db.migration_get(context,
                                                       migration_id))

    @rpc.remotable
    def migration_get_by_uuid(self, context, migration_uuid: str):
        return own_migration(
            context, db.migration_get_by_uuid(context, migration_uuid))

    @rpc.remotable
    def migration_get_by_id_and_instance(self, context, migration_id: int,
                                         instance_uuid: str):
        return own_migration(context, db.migration_get_by_id_and_instance(
            context, migration_id, instance_uuid))

    @rpc.remotable
    def migration_get_by_instance_and_status(self, context,
                                             instance_uuid: str,
                                             status: str):
        return own_migration(
            context, db.migration_get_by_instance_and_status(
                context, instance_uuid, status))

    @rpc.remotable
    def migration_get_unconfirmed_by_dest_compute(self, context,
                                                  confirm_window: int,
                                                  dest_compute: str):
        policy.check_host(context, dest_compute,
                          'the migrations to %s' % dest_compute)
        return db.migration_get_unconfirmed_by_dest_compute(
            context, confirm_window, dest_compute)

    @rpc.remotable
    def migration_get_in_progress_by_host_and_node(self, context, host: str,
                                                   node: str):
        policy.check_host(context, host, 'the migrations of %s' % host)
        return db.migration_get_in_progress_by_host_and_node(context, host,
                                                             node)

    @rpc.remotable
    def migration_get_in_progress_and_error_by_host_and_node(
            self, context, host: str, node: str):
        policy.check_host(context, host, 'the migrations of %s' % host)
        return db.migration_get_in_progress_and_error_by_host_and_node(
            context, host, node)

    @rpc.remotable
    def migration_get_in_progress_by_instance(
            self, context, instance_uuid: str,
            migration_type: str | None = None):
        return _own_migrations(
            context, db.migration_get_in_progress_by_instance(
                context, instance_uuid, migration_type))

    @rpc.remotable
    def migration_get_all_by_filters(self, context, filters: dict,
                                     sort_keys: list[str] | None = None,
                                     sort_dirs: list[str] | None = None,
                                     limit: int | None = None,
                                     marker: str | None = None):
        # nova's own rule picks the host: ``host`` (either end), else
        # ``source_compute``.
        host = filters.get('host', filters.get('source_compute'))
        if host is None:
            policy.check_unconfined(context,
                                    'list the migrations of all hosts')
        else:
            policy.check_host(context, host, 'the migrations of %s' % host)
        return db.migration_get_all_by_filters(
            context, filters, sort_keys=sort_keys, sort_dirs=sort_dirs,
            limit=limit, marker=marker)

    @rpc.remotable
    def migration_update(self, context, migration_id: int, values):
        return db.migration_update(context, migration_id, values,
                                   scope_host=policy.scope_host(context))
