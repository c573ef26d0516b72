"""Migrations: nova's migration calls (wire 2.x, also serving the 1.x ones
of the same names), the in-progress queries and the scope of a confined
caller's update.

Where nova joins a migration's instance (the in-progress queries by host
and node), the rows here are the migration's columns only: nova's
``MigrationList`` reads nothing else, and nova-compute loads the
instance itself (``Migration.instance``).
"""

import datetime

from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import utils as sqlalchemyutils
from oslo_utils import uuidutils
import sqlalchemy as sa

from nova_proxy.common import states
from nova_proxy import exception
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session


_MIGRATIONS = models.Migration.__table__
_M = _MIGRATIONS.c
# Never written by an update: the row's identity, its creation and its
# soft deletion.
_UPDATE_PROTECTED = _values.NOVA_PROTECTED | {'uuid', 'created_at'}
# nova's "in progress" for an instance's migrations (not the hosts').
_INSTANCE_IN_PROGRESS = ('queued', 'preparing', 'running', 'post-migrating')


def _migrations(context, *conditions, read_deleted=None):
    return _values.table_rows(context, _MIGRATIONS, *conditions,
                              read_deleted=read_deleted)


def _one_migration(context, not_found, *conditions, read_deleted=None):
    return _values.table_row(context, _MIGRATIONS, not_found, *conditions,
                             read_deleted=read_deleted)


def _not_done(statuses):
    # Not NOT IN (...): a literal list is rendered into the SQL at every
    # execution (an "expanding" parameter).
    return [_M.status != status for status in statuses]


@db_session.core_writer
def migration_create(context, values):
    """Create a migration; ``created_at`` and ``updated_at`` are now
    unless given (nova leaves ``updated_at`` NULL: ours is set so that a
    new migration counts as progress, see ``heal_stuck_instances``).

    :raises: InvalidUpdate, InvalidUUID, Conflict (a uuid taken)
    """
    values = _values.check_nova_values(_MIGRATIONS, values)
    _values.require(values, 'instance_uuid')
    _values.validate_uuid(values['instance_uuid'])
    values.setdefault('uuid', uuidutils.generate_uuid())
    now = db_session.utcnow()
    values.setdefault('created_at', now)
    values.setdefault('updated_at', now)
    try:
        return _dialect.insert_row(context.connection, _MIGRATIONS,
                                   dict(values, deleted=0))
    except db_exc.DBDuplicateEntry:
        raise exception.Conflict(
            reason='migration %s already exists' % values['uuid']) from None


@db_session.core_reader
def migration_get(context, migration_id):
    """A migration by id, deleted or not (as nova).

    :raises: MigrationNotFound
    """
    not_found = exception.MigrationNotFound(migration_id=migration_id)
    if isinstance(migration_id, bool) or not isinstance(migration_id, int):
        raise not_found
    return _one_migration(context, not_found, _M.id == migration_id,
                          read_deleted='yes')


@db_session.core_reader
def migration_get_by_uuid(context, migration_uuid):
    """A migration by uuid, deleted or not (as nova).

    :raises: MigrationNotFound
    """
    return _one_migration(
        context, exception.MigrationNotFound(migration_id=migration_uuid),
        _M.uuid == migration_uuid, read_deleted='yes')


@db_session.core_reader
def migration_get_by_id_and_instance(context, migration_id, instance_uuid):
    """:raises: MigrationNotFoundForInstance"""
    return _one_migration(
        context, exception.MigrationNotFoundForInstance(
            migration_id=migration_id, instance_id=instance_uuid),
        _M.id == migration_id, _M.instance_uuid == instance_uuid)


@db_session.core_reader
def migration_get_by_instance_and_status(context, instance_uuid, status):
    """The first (lowest id) migration of the instance in ``status``,
    deleted or not (as nova).

    :raises: MigrationNotFoundByStatus
    """
    return _one_migration(
        context, exception.MigrationNotFoundByStatus(
            instance_id=instance_uuid, status=status),
        _M.instance_uuid == instance_uuid, _M.status == status,
        read_deleted='yes')


@db_session.core_reader
def migration_get_unconfirmed_by_dest_compute(context, confirm_window,
                                              dest_compute):
    """The ``finished`` migrations to ``dest_compute`` last updated
    ``confirm_window`` seconds ago or earlier, deleted or not (as nova)."""
    try:
        cutoff = db_session.utcnow() - datetime.timedelta(
            seconds=confirm_window)
    except OverflowError:
        raise exception.InvalidInput(
            reason='confirm_window %s is out of range' % confirm_window
        ) from None
    return _migrations(context, _M.updated_at <= cutoff,
                       _M.status == states.MIGRATION_FINISHED,
                       _M.dest_compute == dest_compute, read_deleted='yes')


_DONE_BUT_ERROR = tuple(status for status in states.MIGRATION_DONE_STATUSES
                        if status != states.MIGRATION_ERROR)


def _on_host_and_node(host, node):
    return sa.or_(sa.and_(_M.source_compute == host, _M.source_node == node),
                  sa.and_(_M.dest_compute == host, _M.dest_node == node))


def _not_done_on(context, host, node, done):
    """The migrations to or from ``host``/``node`` in none of ``done``'s
    statuses (a tuple: the statement is built once for each)."""
    return _values.table_rows_by(
        context, _MIGRATIONS, ('on host and node, not', done),
        lambda bind: [_on_host_and_node(bind('host'), bind('node')),
                      *_not_done(done)],
        {'host': host, 'node': node})


@db_session.core_reader
def migration_get_in_progress_by_host_and_node(context, host, node):
    """Migrations to or from ``host``/``node`` not yet in a final status
    (``finished`` is not final: the resize awaits its confirmation)."""
    return _not_done_on(context, host, node,
                        tuple(states.MIGRATION_DONE_STATUSES))


@db_session.hot_reader
def migration_get_in_progress_and_error_by_host_and_node(context, host,
                                                         node):
    """As ``migration_get_in_progress_by_host_and_node``, and those in
    ``error``."""
    return _not_done_on(context, host, node, _DONE_BUT_ERROR)


@db_session.core_reader
def migration_get_in_progress_by_instance(context, instance_uuid,
                                          migration_type=None):
    """The instance's migrations queued, preparing, running or
    post-migrating, of ``migration_type`` if given."""
    conditions = [_M.instance_uuid == instance_uuid,
                  _M.status.in_(_INSTANCE_IN_PROGRESS)]
    if migration_type:
        if migration_type not in models.MIGRATION_TYPES:
            # No row has it; and PostgreSQL refuses to compare its enum
            # with a value outside it (the fuzzer found that).
            return []
        conditions.append(_M.migration_type == migration_type)
    return _migrations(context, *conditions)


@db_session.core_reader
def migration_get_by_instance(context, instance_uuid):
    """All live migrations of an instance, oldest first (the
    orchestration's)."""
    return _migrations(context, _M.instance_uuid == instance_uuid,
                       read_deleted='no')


def _one_or_list(value):
    return [value] if isinstance(value, str) else list(value)


_FILTER_KEYS = frozenset([
    'uuid', 'status', 'host', 'source_compute', 'node', 'migration_type',
    'hidden', 'instance_uuid', 'user_id', 'project_id'])


def _check_filter_value(key, value):
    """A filter's value is what its column can be compared with: text
    (``hidden`` a boolean), or a list of text for the list filters;
    anything else is the caller's InvalidInput, not a database error."""
    if key == 'hidden':
        ok = isinstance(value, bool)
    elif key in ('uuid', 'status') and isinstance(value, list):
        ok = all(isinstance(item, str) for item in value)
    else:
        ok = value is None or isinstance(value, str)
    if not ok:
        raise exception.InvalidInput(
            reason='filter %s: %r is not a value its column takes'
                   % (key, value))


def _filter_conditions(filters):
    """The conditions of nova's ``migration_get_all_by_filters`` filters
    (others are ignored, as nova does)."""
    if not isinstance(filters, dict):
        raise exception.InvalidInput(reason='filters must be a dict')
    for key, value in filters.items():
        if key in _FILTER_KEYS:
            _check_filter_value(key, value)
    conditions = []
    if 'uuid' in filters:
        conditions.append(_M.uuid.in_(_one_or_list(filters['uuid'])))
    for key, compare in (('changes-since', _M.updated_at.__ge__),
                         ('changes-before', _M.updated_at.__le__)):
        if filters.get(key):
            try:
                conditions.append(compare(_values.parse_time(filters[key])))
            except ValueError as e:
                raise exception.InvalidInput(
                    reason='%s: %s' % (key, e)) from None
    if 'status' in filters:
        conditions.append(_M.status.in_(_one_or_list(filters['status'])))
    if 'host' in filters:
        conditions.append(sa.or_(_M.source_compute == filters['host'],
                                 _M.dest_compute == filters['host']))
    elif 'source_compute' in filters:
        conditions.append(_M.source_compute == filters['source_compute'])
    if 'node' in filters:
        conditions.append(sa.or_(_M.source_node == filters['node'],
                                 _M.dest_node == filters['node']))
    for key in ('migration_type', 'hidden', 'instance_uuid', 'user_id',
                'project_id'):
        if key in filters:
            conditions.append(_M[key] == filters[key])
    return conditions


def _sort_params(sort_keys, sort_dirs):
    """nova's ``process_sort_params`` for migrations: ``created_at`` and
    ``id`` added to the keys, by default descending."""
    keys = list(sort_keys or ())
    if sort_dirs:
        for sort_dir in sort_dirs:
            if sort_dir not in ('asc', 'desc'):
                raise exception.InvalidInput(
                    reason="Unknown sort direction, must be 'desc' or "
                           "'asc'")
        dirs = list(sort_dirs)
    else:
        dirs = ['desc'] * len(keys)
    default_dir = dirs[0] if dirs else 'desc'
    while len(dirs) < len(keys):
        dirs.append(default_dir)
    if len(dirs) > len(keys):
        raise exception.InvalidInput(
            reason='Sort direction size exceeds sort key size')
    for key in ('created_at', 'id'):
        if key not in keys:
            keys.append(key)
            dirs.append(default_dir)
    for key in keys:
        if not isinstance(key, str) or key not in _M:
            raise exception.InvalidSortKey()
    return keys, dirs


@db_session.core_reader
def migration_get_all_by_filters(context, filters, sort_keys=None,
                                 sort_dirs=None, limit=None, marker=None):
    """nova's migration filters (``uuid``, ``changes-since``,
    ``changes-before``, ``status``, ``host`` or else ``source_compute``,
    ``node``, ``migration_type``, ``hidden``, ``instance_uuid``,
    ``user_id``, ``project_id``); sorted and paged as nova's when any of
    ``sort_keys``, ``sort_dirs``, ``limit``, ``marker`` (a migration's
    uuid) is given, else by id.

    :raises: InvalidInput, InvalidSortKey, MarkerNotFound
    """
    if limit == 0:
        return []
    if limit is not None and limit < 0:
        raise exception.InvalidInput(reason='limit must not be negative')
    conditions = _filter_conditions(filters)
    if not (limit or marker or sort_keys or sort_dirs):
        return _migrations(context, *conditions)
    keys, dirs = _sort_params(sort_keys, sort_dirs)
    marker_row = None
    if marker:
        marker_row = context.connection.execute(sa.select(_MIGRATIONS).where(
            _M.uuid == marker)).first()
        if marker_row is None:
            raise exception.MarkerNotFound(marker=marker)
    statement = sa.select(_MIGRATIONS).where(
        *_values.read_deleted_filter(context, _MIGRATIONS), *conditions)
    statement = sqlalchemyutils.paginate_query(
        statement, models.Migration, limit, keys, marker=marker_row,
        sort_dirs=dirs)
    return _values.rows(context.connection, statement)


@db_session.core_writer
def migration_update(context, migration_id, values, *, scope_host=None):
    """Set ``values`` on a migration (deleted or not, as nova; a caller
    confined to ``scope_host`` only a live one of its own, in progress,
    and not what gives hosts their scope: ``_check_migration_scope``).

    :raises: MigrationNotFound, InvalidUpdate, HostScopeViolation,
        Forbidden
    """
    values = _values.check_nova_values(_MIGRATIONS, values,
                                       protected=_UPDATE_PROTECTED)
    not_found = exception.MigrationNotFound(migration_id=migration_id)
    if isinstance(migration_id, bool) or not isinstance(migration_id, int):
        raise not_found
    connection = context.connection
    query = sa.select(_MIGRATIONS).where(_M.id == migration_id)
    if scope_host is not None:
        # Locked: what is checked below is what the update changes.
        query = query.where(_M.deleted == 0).with_for_update()
    migration = connection.execute(query).first()
    if migration is None:
        raise not_found
    if scope_host is not None:
        _check_migration_scope(migration, values, scope_host)
    values.setdefault('updated_at', db_session.utcnow())
    return _dialect.update_row(connection, _MIGRATIONS, migration.id,
                               values)


# The fields that say which instance a migration opens to which hosts.
_MIGRATION_SCOPE_FIELDS = ('instance_uuid', 'source_compute',
                           'dest_compute')


def _check_migration_scope(migration, values, scope_host):
    """A confined caller updates only a migration of its own host, still
    in progress, and leaves alone what gives hosts their scope: an
    unfinished migration opens its instance to both ends (``_scope.
    SCOPE_CONDITION``), so re-targeting one, or reopening a finished one,
    would open another host's instance to the caller."""
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
