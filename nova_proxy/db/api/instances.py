"""Instances: nova's calls to create, read, list and delete them (wire 2.x,
also serving the 1.x calls of the same names).

Names, arguments, results and errors are nova's (``nova.db.main.api``);
``columns_to_join`` is served by ``_instance_joins``. Where a caller is
confined to a host (``scope_host``), the scope is in the statement: a read
of one instance says whether it is in scope in the same SELECT, a list
without a host is limited to the instances in scope, and a delete carries
the host in its UPDATE. The compare-and-swap update is in
``instance_cas``.
"""

import datetime
import re

from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import utils as sqlalchemyutils
from oslo_utils import uuidutils
import sqlalchemy as sa

from nova_proxy.common import states
from nova_proxy import exception
from nova_proxy.db.api import _constraint
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _instance_joins as _joins
from nova_proxy.db.api import _instance_rows
from nova_proxy.db.api import _scope
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session


_INSTANCES = models.Instance.__table__
_COLUMNS = [_INSTANCES.c[name] for name in _instance_rows.INSTANCE_COLUMNS]
# Written by nova's ``instance_create`` beside the instance's columns.
_EXTRA = models.InstanceExtra.__table__
_INFO_CACHE = models.InstanceInfoCache.__table__
_CREATE_PROTECTED = frozenset(['id', 'deleted_at', 'internal_id'])
# Keys nova's ``Instance.create`` may send that are not columns and that
# nova's ``instance_create`` leaves unstored: accepted only empty.
_CREATE_UNSTORED = frozenset(['old_flavor', 'new_flavor', 'tags', 'services',
                              'pci_devices', 'fault', 'ec2_ids',
                              'migration_context', 'numa_topology',
                              'pci_requests', 'device_metadata',
                              'vcpu_model', 'keypairs', 'trusted_certs',
                              'resources', 'flavor'])
# What nova's ``instance_destroy`` soft-deletes (hard-deletes with
# ``hard_delete``) with the instance, by ``instance_uuid``. Metadata rows
# have no soft deletion here: they stay with a soft-deleted instance (its
# system metadata is read after deletion, as nova reads the soft-deleted
# rows) and go with a hard delete.
_CASCADE = (models.SecurityGroupInstanceAssociation,
            models.InstanceInfoCache, models.InstanceFault,
            models.InstanceExtra, models.BlockDeviceMapping,
            models.Migration)
# Deleted outright in both cases, as nova does.
_CASCADE_DELETED = (models.Tag, models.ConsoleAuthToken)
# Exact-match filters of nova's instance_get_all_by_filters_sort.
_EXACT_FILTERS = ('project_id', 'user_id', 'image_ref', 'vm_state',
                  'instance_type_id', 'uuid', 'metadata', 'host',
                  'task_state', 'system_metadata', 'locked', 'hidden')


def _select(*conditions, read_deleted='no', context=None):
    return sa.select(*_COLUMNS).where(
        *_values.read_deleted_filter(context, _INSTANCES, read_deleted),
        *conditions)


def _params(scope_host):
    # Only where the statement has the parameter: an UPDATE takes any
    # other key for a column to set.
    return {'scope_host': scope_host} if scope_host is not None else {}


def _dicts(connection, statement, joins, params=None):
    return _row_dicts(connection, connection.execute(
        statement, params or {}).all(), joins)


def _row_dicts(connection, rows, joins):
    if not rows:
        return []
    if joins.metadata:
        instances = _instance_rows.instance_dicts(connection, rows)
    else:
        instances = [_values.row_to_dict(row, _instance_rows.INSTANCE_COLUMNS)
                     for row in rows]
    return _joins.fill(connection, instances, joins)


def _one(context, condition, missing, columns_to_join, scope_host,
         read_deleted=None):
    """The instance matching ``condition`` with its joins, read with
    whether it is in ``scope_host``'s scope in one statement.

    :raises: ``missing``, HostScopeViolation
    """
    joins = _joins.parse(columns_to_join, _joins.GET_DEFAULT)
    connection = context.connection
    in_scope = () if scope_host is None else (sa.case(
        (_scope.SCOPE_CONDITION, 1), else_=0).label('_in_scope'),)
    # The metadata in the same statement where the dialect aggregates it
    # (the 1.x calls read an instance this way on every operation).
    metadata_from = _dialect.aggregating_dialect(
        connection.dialect.name) if joins.metadata else None
    statement = sa.select(
        *_COLUMNS, *in_scope,
        *_dialect.returned_metadata(metadata_from, _INSTANCES)).where(
        *_values.read_deleted_filter(context, _INSTANCES, read_deleted),
        *_project_only(context), condition).order_by(_INSTANCES.c.id)
    row = connection.execute(statement, _params(scope_host)).first()
    if row is None:
        raise missing
    if scope_host is not None and not row._in_scope:
        raise exception.HostScopeViolation(
            caller=scope_host, resource='instance %s' % row.uuid,
            owner=row.host)
    if metadata_from is None:
        return _row_dicts(connection, [row], joins)[0]
    return _joins.fill(connection,
                       [_instance_rows.with_returned_metadata(row)],
                       joins)[0]


def _project_only(context):
    """nova's ``project_only``: a caller that is not admin sees its
    project's instances."""
    if getattr(context, 'is_admin', True):
        return []
    if getattr(context, 'project_id', None):
        return [_INSTANCES.c.project_id == context.project_id]
    return [_INSTANCES.c.user_id == getattr(context, 'user_id', None)]


def _scoped(scope_host):
    return [_scope.SCOPE_CONDITION] if scope_host is not None else []


# -- create ----------------------------------------------------------------

def _security_groups(connection, context, names, now):
    """The ids of the security groups ``names`` of the context's project;
    ``default`` is created when the project has none, as nova does."""
    if not isinstance(names, list) or \
            not all(isinstance(n, str) for n in names):
        raise exception.InvalidUpdate(field='security_groups',
                                      reason='not a list of group names')
    groups = models.SecurityGroup.__table__
    project_id = getattr(context, 'project_id', None)
    ids = []
    for name in names:
        found = connection.execute(sa.select(groups.c.id).where(
            groups.c.name == name, groups.c.project_id == project_id,
            groups.c.deleted == 0)).scalar()
        if found is None and name == 'default':
            found = connection.execute(sa.insert(groups).values(
                name='default', description='default', deleted=0,
                user_id=getattr(context, 'user_id', None),
                project_id=project_id, created_at=now)).inserted_primary_key[0]
        if found is None:
            raise exception.SecurityGroupNotFoundForProject(
                project_id=project_id, security_group_id=name)
        ids.append(found)
    return ids


def _create_values(values):
    """nova's ``instance_create`` values, checked: the instance's columns
    and the parts stored beside them."""
    if not isinstance(values, dict):
        raise exception.InvalidUpdate(field='values', reason='not a dict')
    values = dict(values)
    parts = {key: values.pop(key, None) for key in (
        'metadata', 'system_metadata', 'info_cache', 'extra',
        'security_groups')}
    for key in _CREATE_UNSTORED & set(values):
        if values.pop(key):
            raise exception.InvalidUpdate(
                field=key, reason='not a column (nova does not store it '
                                  'with instance_create either)')
    if values.get('deleted'):
        raise exception.InvalidUpdate(field='deleted',
                                      reason='a new instance is live')
    values.pop('deleted', None)
    if values.get('uuid') is None:
        values.pop('uuid', None)
    columns = _values.check_nova_values(_INSTANCES, values,
                                        protected=_CREATE_PROTECTED)
    metadata = {}
    for key in ('metadata', 'system_metadata'):
        try:
            metadata[key] = _values.METADATA_CONVERTERS[key](parts[key])
        except ValueError as e:
            raise exception.InvalidUpdate(field=key, reason=str(e))
    extra = parts['extra'] or {}
    if not isinstance(extra, dict):
        raise exception.InvalidUpdate(field='extra', reason='not a dict')
    # nova's Instance.create sends pci_devices among the extra values,
    # and its model drops it: it is no column of instance_extra.
    if extra.get('pci_devices') is None:
        extra = {k: v for k, v in extra.items() if k != 'pci_devices'}
    extra = _values.check_nova_values(
        _EXTRA, extra, protected=frozenset(_joins._EXTRA_HEAD))
    info_cache = parts['info_cache'] or {}
    if not isinstance(info_cache, dict) or \
            set(info_cache) - {'network_info'}:
        raise exception.InvalidUpdate(
            field='info_cache', reason='only network_info may be given')
    info_cache = _values.check_nova_values(_INFO_CACHE, info_cache)
    return columns, metadata, extra, info_cache, parts['security_groups']


@db_session.core_writer
def instance_create(context, values):
    """Create an instance, with its info cache and extra rows (and their
    values from ``values['info_cache']``/``['extra']``), metadata, system
    metadata and security groups (names; ``default`` is created for the
    project when missing), as nova does. ``user_id`` and ``project_id``
    default to the context's.

    :returns: the instance, with ``metadata``, ``system_metadata``,
        ``info_cache``, ``security_groups`` and ``extra`` joined (all that
        nova's ``Instance.create`` reads back).
    :raises: InvalidUpdate, InvalidUUID, InstanceExists,
        SecurityGroupNotFoundForProject
    """
    columns, metadata, extra, info_cache, groups = _create_values(values)
    instance_uuid = columns.pop('uuid', None) or uuidutils.generate_uuid()
    _values.validate_uuid(instance_uuid)
    now = db_session.utcnow()
    columns.setdefault('created_at', now)
    columns.setdefault('updated_at', columns['created_at'])
    if columns.get('user_id') is None:
        columns['user_id'] = context.user_id
    if columns.get('project_id') is None:
        columns['project_id'] = context.project_id
    connection = context.connection
    try:
        connection.execute(sa.insert(_INSTANCES).values(
            uuid=instance_uuid, deleted=0, **columns))
    except db_exc.DBDuplicateEntry:
        raise exception.InstanceExists(instance_uuid=instance_uuid)
    for model, key in ((models.InstanceMetadata, 'metadata'),
                       (models.InstanceSystemMetadata, 'system_metadata')):
        _instance_rows.replace_metadata(connection, model, instance_uuid,
                                        metadata[key], now)
    connection.execute(sa.insert(_INFO_CACHE).values(
        instance_uuid=instance_uuid, created_at=now, deleted=0,
        **info_cache))
    connection.execute(sa.insert(_EXTRA).values(
        instance_uuid=instance_uuid, created_at=now, deleted=0, **extra))
    if groups:
        links = models.SecurityGroupInstanceAssociation.__table__
        connection.execute(sa.insert(links), [
            {'security_group_id': group_id, 'instance_uuid': instance_uuid,
             'created_at': now, 'deleted': 0}
            for group_id in _security_groups(connection, context, groups,
                                             now)])
    return _dicts(connection, _select(_INSTANCES.c.uuid == instance_uuid),
                  _joins.parse(list(_joins.GET_DEFAULT) + ['extra'], ()))[0]


# -- one instance ----------------------------------------------------------

@db_session.core_reader
def instance_get_by_uuid(context, uuid, columns_to_join=None, *,
                         scope_host=None):
    """:returns: the instance (read_deleted as the context says), with
        ``columns_to_join`` (nova's default: metadata, system_metadata,
        info_cache, security_groups).
    :raises: InstanceNotFound, InvalidUUID, HostScopeViolation (an
        instance not in ``scope_host``'s scope)
    """
    _values.validate_uuid(uuid)
    return _one(context, _INSTANCES.c.uuid == uuid,
                exception.InstanceNotFound(instance_id=uuid),
                columns_to_join, scope_host)


@db_session.core_reader
def instance_get(context, instance_id, columns_to_join=None, *,
                 scope_host=None):
    """As ``instance_get_by_uuid``, by the instance's id.

    :raises: InstanceNotFound, InvalidID (not an integer a column
        holds), HostScopeViolation
    """
    try:
        instance_id = _values.integer(instance_id)
    except ValueError:
        instance_id = None
    if instance_id is None:
        raise exception.InvalidID(id=instance_id)
    return _one(context, _INSTANCES.c.id == instance_id,
                exception.InstanceNotFound(instance_id=instance_id),
                columns_to_join, scope_host)


@db_session.core_writer
def instance_destroy(context, instance_uuid, constraint=None,
                     hard_delete=False, *, scope_host=None):
    """Soft-delete a live instance and, as nova, what hangs off it: its
    info cache, extra, faults, block device mappings, migrations and
    security group links soft-deleted, its tags and console tokens
    deleted; its metadata kept until the instance is purged. With
    ``hard_delete`` all of those rows (soft-deleted ones too), the
    metadata, the actions and their events and the instance itself are
    deleted.

    :param constraint: nova's ``constraint`` as the shim sends it
        (``_constraint.conditions``), checked in the UPDATE.
    :param scope_host: the instance must be on this host, in the UPDATE.
    :returns: the instance as deleted (``deleted`` its id, ``deleted_at``
        set), with nova's default joins as read before.
    :raises: InstanceNotFound, InvalidUUID, ConstraintNotMet,
        HostScopeViolation, Invalid (a malformed constraint)
    """
    if not uuidutils.is_uuid_like(instance_uuid):
        raise exception.InvalidUUID(uuid=instance_uuid)
    conditions = _constraint.conditions(_INSTANCES, constraint)
    if not isinstance(hard_delete, bool):
        raise exception.Invalid(reason='hard_delete must be a boolean')
    connection = context.connection
    missing = exception.InstanceNotFound(instance_id=instance_uuid)
    instance = _one(context, _INSTANCES.c.uuid == instance_uuid, missing,
                    None, None, read_deleted='no')
    if scope_host is not None:
        # In the statement: the instance may move between the read and
        # the UPDATE.
        conditions.append(_INSTANCES.c.host == scope_host)
    now = db_session.utcnow()
    # nova's soft delete leaves updated_at as it is.
    result = connection.execute(sa.update(_INSTANCES).where(
        _INSTANCES.c.id == instance['id'], _INSTANCES.c.deleted == 0,
        *conditions).values(deleted=_INSTANCES.c.id, deleted_at=now))
    if result.rowcount != 1:
        now_row = connection.execute(sa.select(_INSTANCES.c.host).where(
            _INSTANCES.c.id == instance['id'],
            _INSTANCES.c.deleted == 0)).first()
        if now_row is None:
            raise missing
        if scope_host is not None and now_row.host != scope_host:
            raise exception.HostScopeViolation(
                caller=scope_host, resource='instance %s' % instance_uuid,
                owner=now_row.host)
        raise exception.ConstraintNotMet()
    for model in _CASCADE:
        table = model.__table__
        if hard_delete:
            connection.execute(sa.delete(table).where(
                table.c.instance_uuid == instance_uuid))
        else:
            connection.execute(sa.update(table).where(
                table.c.instance_uuid == instance_uuid,
                table.c.deleted == 0).values(deleted=table.c.id,
                                             deleted_at=now))
    tags = models.Tag.__table__
    connection.execute(sa.delete(tags).where(
        tags.c.resource_id == instance_uuid))
    tokens = models.ConsoleAuthToken.__table__
    connection.execute(sa.delete(tokens).where(
        tokens.c.instance_uuid == instance_uuid))
    if hard_delete:
        _hard_delete(connection, instance_uuid)
    instance['deleted'] = instance['id']
    instance['deleted_at'] = _values.to_iso(now)
    return instance


def _hard_delete(connection, instance_uuid):
    for model in (models.InstanceMetadata, models.InstanceSystemMetadata):
        connection.execute(sa.delete(model).where(
            model.instance_uuid == instance_uuid))
    actions = models.InstanceAction
    connection.execute(sa.delete(models.InstanceActionEvent).where(
        models.InstanceActionEvent.action_id.in_(
            sa.select(actions.id).where(
                actions.instance_uuid == instance_uuid))))
    connection.execute(sa.delete(actions).where(
        actions.instance_uuid == instance_uuid))
    connection.execute(sa.delete(_INSTANCES).where(
        _INSTANCES.c.uuid == instance_uuid))


# -- lists -----------------------------------------------------------------

def _list(context, conditions, columns_to_join, scope_host,
          default=_joins.LIST_DEFAULT, read_deleted=None):
    joins = _joins.parse(columns_to_join, default)
    statement = _select(*conditions, *_scoped(scope_host),
                        read_deleted=read_deleted, context=context).order_by(
        _INSTANCES.c.id)
    return _dicts(context.connection, statement, joins, _params(scope_host))


@db_session.core_reader
def instance_get_all(context, columns_to_join=None, *, scope_host=None):
    """Every instance (read_deleted as the context says; a caller that is
    not admin: its project's), oldest first; only those in
    ``scope_host``'s scope when given."""
    return _list(context, _project_only(context), columns_to_join,
                 scope_host)


@db_session.core_reader
def instance_get_all_by_host(context, host, columns_to_join=None):
    """The instances on ``host``, oldest first."""
    return _list(context, [_INSTANCES.c.host == host], columns_to_join,
                 None)


@db_session.core_reader
def instance_get_all_by_host_and_node(context, host, node,
                                      columns_to_join=None):
    """The instances on ``host`` and ``node``; nova's default joins here
    are info_cache and security_groups, without metadata."""
    return _list(context, [_INSTANCES.c.host == host,
                           _INSTANCES.c.node == node], columns_to_join,
                 None, default=('info_cache', 'security_groups'))


@db_session.core_reader
def instance_get_all_by_host_and_not_type(context, host, type_id=None):
    """The instances on ``host`` whose ``instance_type_id`` is not
    ``type_id``; ``type_id`` None: those that have one (nova's
    ``!= None`` is SQL's ``IS NOT NULL``)."""
    return _list(context, [_INSTANCES.c.host == host,
                           _INSTANCES.c.instance_type_id != type_id], None,
                 None)


@db_session.core_reader
def instance_get_all_hung_in_rebooting(context, reboot_window, *,
                                       scope_host=None):
    """The instances in task_state ``rebooting`` not updated for
    ``reboot_window`` seconds, without joins."""
    reboot_window = _values.integer(reboot_window)
    cutoff = db_session.utcnow() - datetime.timedelta(seconds=reboot_window)
    return _list(context, [_INSTANCES.c.updated_at <= cutoff,
                           _INSTANCES.c.task_state == states.TASK_REBOOTING],
                 [], scope_host)


@db_session.core_reader
def instance_get_all_uuids_by_hosts(context, hosts):
    """:returns: ``{host: [uuid, ...]}`` of the live instances of each of
        ``hosts`` (every host given is a key, with an empty list when it
        has none: nova's is a defaultdict, which JSON cannot carry)."""
    if not isinstance(hosts, list) or \
            not all(isinstance(h, str) for h in hosts):
        raise exception.Invalid(reason='hosts must be a list of strings')
    result = {host: [] for host in hosts}
    if hosts:
        for host, instance_uuid in context.connection.execute(
                sa.select(_INSTANCES.c.host, _INSTANCES.c.uuid).where(
                    _INSTANCES.c.deleted == 0,
                    _INSTANCES.c.host.in_(hosts)).order_by(
                    _INSTANCES.c.id)):
            result[host].append(instance_uuid)
    return result


def _marker_row(context, marker):
    if not isinstance(marker, str):
        raise exception.MarkerNotFound(marker=marker)
    row = context.connection.execute(sa.select(_INSTANCES).where(
        _INSTANCES.c.uuid == marker)).first()
    if row is None:
        raise exception.MarkerNotFound(marker=marker)
    return row


def _paginated(context, statement, joins, limit, sort_keys, sort_dirs,
               marker, scope_host):
    if limit is not None:
        try:
            limit = _values.integer(limit)
        except ValueError as e:
            raise exception.Invalid(reason='limit: %s' % e) from None
        if limit < 0:
            raise exception.Invalid(reason='limit must not be negative')
    if marker is not None:
        marker = _marker_row(context, marker)
    try:
        statement = sqlalchemyutils.paginate_query(
            statement, models.Instance, limit, sort_keys, marker=marker,
            sort_dirs=sort_dirs)
    except db_exc.InvalidSortKey:
        raise exception.InvalidSortKey()
    except ValueError as e:
        raise exception.Invalid(reason=str(e))
    return _dicts(context.connection, statement, joins, _params(scope_host))


@db_session.core_reader
def instance_get_active_by_window_joined(context, begin, end=None,
                                         project_id=None, host=None,
                                         columns_to_join=None, limit=None,
                                         marker=None):
    """The instances, deleted ones included, not terminated before
    ``begin`` and launched before ``end``, of ``project_id`` and on
    ``host`` when given, by project and uuid.

    :raises: MarkerNotFound, Invalid
    """
    joins = _joins.parse(columns_to_join, _joins.LIST_DEFAULT)
    try:
        begin = _values.parse_time(begin)
        end = _values.parse_time(end)
    except ValueError as e:
        raise exception.Invalid(reason='begin/end: %s' % e) from None
    conditions = [sa.or_(_INSTANCES.c.terminated_at.is_(None),
                         _INSTANCES.c.terminated_at > begin)]
    if end:
        conditions.append(_INSTANCES.c.launched_at < end)
    if project_id:
        conditions.append(_INSTANCES.c.project_id == project_id)
    if host:
        conditions.append(_INSTANCES.c.host == host)
    return _paginated(context, sa.select(*_COLUMNS).where(*conditions),
                      joins, limit, ['project_id', 'uuid'], None, marker,
                      None)


def _sort_params(sort_keys, sort_dirs):
    """nova's ``process_sort_params`` with ``default_dir='desc'``:
    ``created_at`` and ``id`` end every order."""
    for name, value in (('sort_keys', sort_keys), ('sort_dirs', sort_dirs)):
        if value is not None and (not isinstance(value, list) or not all(
                isinstance(v, str) for v in value)):
            raise exception.Invalid(reason='%s must be a list of strings'
                                    % name)
    default_dir = sort_dirs[0] if sort_dirs else 'desc'
    keys = list(sort_keys or [])
    dirs = list(sort_dirs or [default_dir for _ in keys])
    if any(d not in ('asc', 'desc') for d in dirs):
        raise exception.Invalid(
            reason="Unknown sort direction, must be 'desc' or 'asc'")
    dirs.extend([default_dir] * (len(keys) - len(dirs)))
    if len(dirs) > len(keys):
        raise exception.Invalid(
            reason='Sort direction size exceeds sort key size')
    for key in ('created_at', 'id'):
        if key not in keys:
            keys.append(key)
            dirs.append(default_dir)
    return keys, dirs


def _has_tag(tag):
    tags = models.Tag.__table__
    return sa.exists().where(tags.c.resource_id == _INSTANCES.c.uuid,
                             tags.c.tag == tag)


def _tag_conditions(filters):
    conditions = []
    for name in ('tags', 'tags-any', 'not-tags', 'not-tags-any'):
        if name not in filters:
            continue
        tags = filters.pop(name)
        if not isinstance(tags, list) or not tags or \
                not all(isinstance(t, str) for t in tags):
            raise exception.Invalid(
                reason='filter %s must be a list of tags' % name)
        each = [_has_tag(tag) for tag in tags]
        condition = sa.and_(*each) if name in ('tags', 'not-tags') \
            else sa.or_(*each)
        conditions.append(sa.not_(condition) if name.startswith('not-')
                          else condition)
    # nova's tags join the instance's tags, which a deleted instance has
    # none of.
    if conditions:
        conditions.append(_INSTANCES.c.deleted == 0)
    return conditions


def _metadata_condition(name, value):
    model = models.InstanceMetadata if name == 'metadata' \
        else models.InstanceSystemMetadata
    items = value if isinstance(value, list) else [value]
    conditions = []
    for item in items:
        if not isinstance(item, dict):
            raise exception.Invalid(
                reason='filter %s must be a dict or a list of dicts' % name)
        for key, wanted in item.items():
            # As nova: some row has the key, and some row has the value.
            for column, match in ((model.key, key), (model.value, wanted)):
                conditions.append(sa.exists().where(
                    model.instance_uuid == _INSTANCES.c.uuid,
                    column == match))
    return conditions


def _exact_conditions(filters):
    """nova's exact filters (popped from ``filters``), or None when one
    is an empty list (nothing can match)."""
    conditions = []
    for name in _EXACT_FILTERS:
        if name not in filters:
            continue
        value = filters.pop(name)
        if name in ('metadata', 'system_metadata'):
            conditions.extend(_metadata_condition(name, value))
        elif isinstance(value, list):
            if not value:
                return None
            conditions.append(_INSTANCES.c[name].in_(value))
        else:
            conditions.append(_INSTANCES.c[name] == value)
    return conditions


def _regex_conditions(connection, filters):
    """nova's regular-expression filters: every other filter naming a
    column (unknown names are ignored, as nova ignores them)."""
    conditions = []
    for name, value in filters.items():
        column = _INSTANCES.c.get(name) if isinstance(name, str) else None
        if column is None or name == 'internal_id':
            continue
        pattern = value if isinstance(value, str) else str(value)
        try:
            re.compile(pattern)
        except re.error as e:
            raise exception.Invalid(
                reason='filter %s is not a regular expression: %s'
                       % (name, e)) from None
        if connection.dialect.name in ('mysql', 'mariadb'):
            # As nova: a bare | is an error to MySQL's REGEXP.
            pattern = pattern.replace('|', '\\|')
        conditions.append(sa.cast(column, sa.String).regexp_match(pattern))
    return conditions


def _filter_conditions(context, filters):
    """The WHERE conditions of nova's ``filters`` (see
    ``instance_get_all_by_filters_sort``), or None for none can match."""
    if not isinstance(filters, dict):
        raise exception.Invalid(reason='filters must be a dict')
    filters = dict(filters)
    conditions = []
    try:
        for name, compare in (('changes-since', sa.Column.__ge__),
                              ('changes-before', sa.Column.__le__)):
            if filters.get(name):
                conditions.append(compare(_INSTANCES.c.updated_at,
                                          _values.parse_time(filters[name])))
    except ValueError as e:
        raise exception.Invalid(reason='changes-since/before: %s' % e)
    filters.pop('changes-since', None)
    filters.pop('changes-before', None)
    if 'deleted' in filters:
        soft_deleted = _INSTANCES.c.vm_state == states.VM_SOFT_DELETED
        if filters.pop('deleted'):
            if filters.pop('soft_deleted', True):
                conditions.append(sa.or_(
                    _INSTANCES.c.deleted == _INSTANCES.c.id, soft_deleted))
            else:
                conditions.append(_INSTANCES.c.deleted == _INSTANCES.c.id)
        else:
            conditions.append(_INSTANCES.c.deleted == 0)
            if not filters.pop('soft_deleted', False):
                conditions.append(sa.or_(
                    _INSTANCES.c.vm_state != states.VM_SOFT_DELETED,
                    _INSTANCES.c.vm_state.is_(None)))
    filters.pop('soft_deleted', None)
    if 'cleaned' in filters:
        conditions.append(
            _INSTANCES.c.cleaned == (1 if filters.pop('cleaned') else 0))
    conditions.extend(_tag_conditions(filters))
    if not getattr(context, 'is_admin', True):
        if getattr(context, 'project_id', None):
            filters['project_id'] = context.project_id
        else:
            filters['user_id'] = getattr(context, 'user_id', None)
    if filters.pop('hidden', False):
        conditions.append(_INSTANCES.c.hidden.is_(True))
    else:
        conditions.append(sa.or_(_INSTANCES.c.hidden.is_(False),
                                 _INSTANCES.c.hidden.is_(None)))
    exact = _exact_conditions(filters)
    if exact is None:
        return None
    return conditions + exact + _regex_conditions(context.connection,
                                                  filters)


@db_session.core_reader
def instance_get_all_by_filters_sort(context, filters, limit=None,
                                     marker=None, columns_to_join=None,
                                     sort_keys=None, sort_dirs=None, *,
                                     scope_host=None):
    """The instances matching every one of nova's ``filters``, deleted
    ones included unless ``deleted`` says otherwise, hidden ones only with
    ``hidden``, sorted by ``sort_keys``/``sort_dirs`` (then ``created_at``
    and ``id``, descending unless the first direction says otherwise),
    from after ``marker`` (an instance uuid), at most ``limit``.

    Filters: exact ``project_id``, ``user_id``, ``image_ref``,
    ``vm_state``, ``instance_type_id``, ``uuid``, ``host``,
    ``task_state``, ``locked`` (a list: any of), ``metadata`` and
    ``system_metadata`` (a dict or a list of dicts); ``changes-since``,
    ``changes-before``; ``deleted`` with ``soft_deleted``; ``cleaned``;
    ``tags``, ``tags-any``, ``not-tags``, ``not-tags-any``; any other
    column a regular expression (PostgreSQL ``~``, MySQL ``REGEXP``);
    other names are ignored. ``scope_host``: only instances in its scope.

    :raises: MarkerNotFound, InvalidSortKey, Invalid
    """
    if limit == 0:
        return []
    sort_keys, sort_dirs = _sort_params(sort_keys, sort_dirs)
    joins = _joins.parse(columns_to_join, _joins.LIST_DEFAULT)
    conditions = _filter_conditions(context, filters)
    if conditions is None:
        return []
    return _paginated(context, sa.select(*_COLUMNS).where(
        *conditions, *_scoped(scope_host)), joins, limit, sort_keys,
        sort_dirs, marker, scope_host)


@db_session.core_reader
def instance_get_all_by_filters(context, filters, sort_key='created_at',
                                sort_dir='desc', limit=None, marker=None,
                                columns_to_join=None, *, scope_host=None):
    """``instance_get_all_by_filters_sort`` with one sort key."""
    return instance_get_all_by_filters_sort(
        context, filters, limit=limit, marker=marker,
        columns_to_join=columns_to_join, sort_keys=[sort_key],
        sort_dirs=[sort_dir], scope_host=scope_host)


# -- metadata --------------------------------------------------------------

@db_session.core_reader
def instances_fill_metadata(context, instances, manual_joins=None, *,
                            scope_host=None):
    """``instances`` (dicts with a ``uuid``) with their ``metadata`` and
    ``system_metadata`` (nova's default ``manual_joins``), ``pci_devices``
    when named, and ``fault``: the latest fault when named, else None.
    An instance that is not there gets empty ones, as in nova.

    :raises: Invalid, HostScopeViolation (an instance there but not in
        ``scope_host``'s scope)
    """
    if not isinstance(instances, list) or not all(
            isinstance(i, dict) and isinstance(i.get('uuid'), str)
            for i in instances):
        raise exception.Invalid(
            reason='instances must be a list of dicts with a uuid')
    if manual_joins is None:
        manual_joins = ['metadata', 'system_metadata']
    joins = _joins.parse([j for j in manual_joins if j != 'fault'], ())
    if joins.names - {'metadata', 'system_metadata', 'pci_devices'}:
        raise exception.Invalid(
            reason='manual_joins: metadata, system_metadata, pci_devices '
                   'or fault')
    uuids = [i['uuid'] for i in instances]
    connection = context.connection
    if scope_host is not None and uuids:
        # Not NOT(scope): an instance without a host makes the scope
        # NULL, and NOT NULL would let it through.
        out_of_scope = sa.case((_scope.SCOPE_CONDITION, 1), else_=0) == 0
        for row in connection.execute(sa.select(
                _INSTANCES.c.uuid, _INSTANCES.c.host).where(
                _INSTANCES.c.uuid.in_(uuids), out_of_scope),
                {'scope_host': scope_host}):
            raise exception.HostScopeViolation(
                caller=scope_host, resource='instance %s' % row.uuid,
                owner=row.host)
    shells = [{'uuid': u, 'deleted': 0, 'host': None,
               'metadata': {}, 'system_metadata': {}} for u in uuids]
    if joins.metadata:
        _instance_rows.fill_metadata(connection, shells)
    _joins.fill(connection, shells, joins)
    faults = {}
    if 'fault' in manual_joins and uuids:
        faults = _latest_faults(connection, uuids)
    result = []
    for instance, shell in zip(instances, shells):
        filled = dict(instance)
        filled['metadata'] = shell.get('metadata', {})
        filled['system_metadata'] = shell.get('system_metadata', {})
        if 'pci_devices' in joins.names:
            filled['pci_devices'] = shell['pci_devices']
        filled['fault'] = faults.get(instance['uuid'])
        result.append(filled)
    return result


def _latest_faults(connection, uuids):
    faults = models.InstanceFault.__table__
    latest = {}
    for row in _values.rows(connection, sa.select(faults).where(
            faults.c.instance_uuid.in_(uuids), faults.c.deleted == 0).order_by(
            faults.c.created_at.desc(), faults.c.id.desc())):
        latest.setdefault(row['instance_uuid'], row)
    return latest


@db_session.core_writer
def instance_metadata_delete(context, instance_uuid, key, *,
                             scope_host=None):
    """Delete one metadata item of a live instance; nothing to delete is
    no error, as in nova. The instance's ``updated_at`` is set in the same
    transaction, in an UPDATE that carries ``scope_host``'s scope: every
    write of an instance's metadata writes its row (see
    ``_dialect.SNAPSHOT_GUARDED``).

    :raises: InvalidUUID, HostScopeViolation
    """
    _values.validate_uuid(instance_uuid)
    if not isinstance(key, str):
        raise exception.Invalid(reason='key must be a string')
    connection = context.connection
    touched = connection.execute(sa.update(_INSTANCES).where(
        _INSTANCES.c.uuid == instance_uuid, _INSTANCES.c.deleted == 0,
        *_scoped(scope_host)).values(updated_at=db_session.utcnow()),
        _params(scope_host))
    if touched.rowcount != 1:
        if scope_host is not None:
            try:
                _scope.scoped_instance(connection, instance_uuid, scope_host)
            except exception.InstanceNotFound:
                pass
        return
    table = models.InstanceMetadata.__table__
    connection.execute(sa.delete(table).where(
        table.c.instance_uuid == instance_uuid, table.c.key == key))
