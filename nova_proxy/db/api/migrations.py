"""Migrations: create, read, update, and the in-progress queries."""

from oslo_utils import uuidutils
import sqlalchemy as sa

from nova_proxy.common import states
from nova_proxy import exception
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session


_string, _integer = _values.string, _values.integer
_MIGRATION_FIELDS = {
    'instance_uuid': _string, 'source_compute': _string,
    'dest_compute': _string, 'source_node': _string, 'dest_node': _string,
    'dest_host': _string, 'old_instance_type_id': _integer,
    'new_instance_type_id': _integer, 'status': _string,
    'migration_type': _string, 'hidden': _values.boolean,
    'progress': _integer,
}
_MIGRATION_CREATE_FIELDS = dict(_MIGRATION_FIELDS, uuid=_string)
_MIGRATIONS = models.Migration.__table__
_MIGRATION_COLUMNS = _values.columns(models.Migration)


def _migration_get(connection, migration_id, lock=False):
    if isinstance(migration_id, bool) or not isinstance(migration_id, int):
        raise exception.MigrationNotFound(migration_id=migration_id)
    m = _MIGRATIONS.c
    query = sa.select(*m).where(m.id == migration_id, m.deleted == 0)
    if lock:
        query = query.with_for_update()
    migration = connection.execute(query).one_or_none()
    if migration is None:
        raise exception.MigrationNotFound(migration_id=migration_id)
    return migration


def _migration_dicts(connection, query):
    return [_values.row_to_dict(row, _MIGRATION_COLUMNS)
            for row in connection.execute(query)]


@db_session.core_writer
def migration_create(context, values):
    """:raises: InvalidUpdate, InvalidUUID"""
    values = _values.check_values(
        values, _MIGRATION_CREATE_FIELDS,
        protected=('id', 'created_at', 'updated_at', 'deleted',
                   'deleted_at'),
        table=models.Migration.__table__)
    if 'instance_uuid' not in values:
        raise exception.InvalidUpdate(field='instance_uuid',
                                      reason='the field is required')
    _values.validate_uuid(values['instance_uuid'])
    values.setdefault('uuid', uuidutils.generate_uuid())
    now = db_session.utcnow()
    return _dialect.insert_row(context.connection, _MIGRATIONS, dict(
        values, created_at=now, updated_at=now, deleted=0))


@db_session.core_reader
def migration_get(context, migration_id):
    """:raises: MigrationNotFound"""
    return _values.row_to_dict(
        _migration_get(context.connection, migration_id),
        _MIGRATION_COLUMNS)


@db_session.core_writer
def migration_update(context, migration_id, values, scope_host=None):
    """:raises: MigrationNotFound, InvalidUpdate, HostScopeViolation"""
    values = _values.check_values(
        values, _MIGRATION_FIELDS,
        protected=('id', 'uuid', 'created_at', 'updated_at', 'deleted',
                   'deleted_at'),
        table=models.Migration.__table__)
    # Locked for a confined caller: what is checked below is what the
    # update changes.
    connection = context.connection
    migration = _migration_get(connection, migration_id,
                               lock=scope_host is not None)
    if scope_host is not None:
        _check_migration_scope(migration, values, scope_host)
    values['updated_at'] = db_session.utcnow()
    return _dialect.update_row(connection, _MIGRATIONS, migration.id,
                               values)


# The fields that say which instance a migration opens to which hosts.
_MIGRATION_SCOPE_FIELDS = ('instance_uuid', 'source_compute',
                           'dest_compute')


def _check_migration_scope(migration, values, scope_host):
    """A confined caller updates only a migration of its own host, still
    in progress, and leaves alone what gives hosts their scope: an
    unfinished migration opens its instance to both ends (``_scope.
    SCOPE_CONDITION``), so re-targeting one, or reopening a finished one, would
    open another host's instance to the caller."""
    if scope_host not in (migration.source_compute,
                          migration.dest_compute):
        raise exception.HostScopeViolation(
            caller=scope_host, resource='migration %s' % migration.id,
            owner=migration.source_compute)
    if migration.status in states.MIGRATION_DONE_STATUSES:
        raise exception.Forbidden(
            reason='compute host %s may not change migration %s, which is '
                   '%s' % (scope_host, migration.id, migration.status))
    changed = [f for f in _MIGRATION_SCOPE_FIELDS
               if f in values and values[f] != getattr(migration, f)]
    if changed:
        raise exception.Forbidden(
            reason='compute host %s may not change %s of migration %s'
                   % (scope_host, ', '.join(changed), migration.id))


@db_session.core_reader
def migration_get_in_progress_by_host_and_node(context, host, node):
    """Migrations to or from ``host``/``node`` not yet in a final status."""
    m = _MIGRATIONS.c
    query = sa.select(*m).where(
        m.deleted == 0, m.status.not_in(states.MIGRATION_DONE_STATUSES),
        sa.or_(sa.and_(m.source_compute == host, m.source_node == node),
               sa.and_(m.dest_compute == host, m.dest_node == node))
    ).order_by(m.id)
    return _migration_dicts(context.connection, query)


@db_session.core_reader
def migration_get_by_instance(context, instance_uuid):
    """All live migrations of an instance, oldest first."""
    m = _MIGRATIONS.c
    query = sa.select(*m).where(m.deleted == 0,
                                m.instance_uuid == instance_uuid
                                ).order_by(m.id)
    return _migration_dicts(context.connection, query)
