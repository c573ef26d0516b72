"""Instances, one at a time: nova's calls to create one, read one and
delete one (wire 2.x, also serving the 1.x calls of the same names).

Names, arguments, results and errors are nova's (``nova.db.main.api``);
``columns_to_join`` is served by ``_instance_joins``. Where a caller is
confined to a host (``scope_host``), the scope is in the statement: a read
of one instance says whether it is in scope in the same SELECT, and a
delete carries the host in its UPDATE. The lists are in
``instance_lists``, metadata in ``instance_metadata``, the
compare-and-swap update in ``instance_cas``.
"""

import functools

from oslo_db import exception as db_exc
from oslo_utils import uuidutils
import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db import _driver
from nova_proxy.db.api import _constraint
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _instance_joins as _joins
from nova_proxy.db.api import _instance_reads as _reads
from nova_proxy.db.api import _instance_rows
from nova_proxy.db.api import _scope
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session

__all__ = ['instance_create', 'instance_destroy', 'instance_get',
           'instance_get_by_uuid']

_INSTANCES = _reads.INSTANCES
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


@functools.lru_cache(maxsize=128)
def _one_statement(by, read_deleted, project_only, scoped, metadata_from):
    """The read of one instance for one shape of call, built once:
    building it at every call cost as much CPU as running it (measured
    in-process on PostgreSQL). ``by``: the column bound as ``key``;
    ``project_only``: None (admin), ``project_id`` or ``user_id`` bound as
    ``owner``, or ``user_id IS NULL``; ``scoped``: the ``_in_scope``
    column (bound ``scope_host``)."""
    in_scope = () if not scoped else (sa.case(
        (_scope.SCOPE_CONDITION, 1), else_=0).label('_in_scope'),)
    owner = ()
    if project_only == 'user_id IS NULL':
        owner = (_INSTANCES.c.user_id.is_(None),)
    elif project_only is not None:
        owner = (_INSTANCES.c[project_only] == sa.bindparam('owner'),)
    return sa.select(
        *_reads.COLUMNS, *in_scope,
        *_dialect.returned_metadata(metadata_from, _INSTANCES)).where(
        *_values.read_deleted_filter(None, _INSTANCES, read_deleted),
        *owner, _INSTANCES.c[by] == sa.bindparam('key')).order_by(
        _INSTANCES.c.id)


def _owner(context, params):
    """nova's ``project_only`` (``_reads.owner``) as a shape of
    ``_one_statement``, its value put in ``params``."""
    found = _reads.owner(context)
    if found is None:
        return None
    column, value = found
    if value is None:
        return 'user_id IS NULL'
    params['owner'] = value
    return column


def _one(context, by, key, missing, columns_to_join, scope_host,
         read_deleted=None):
    """The instance whose column ``by`` is ``key``, with its joins, read
    with whether it is in ``scope_host``'s scope in one statement.

    :raises: ``missing``, HostScopeViolation
    """
    joins = _joins.parse(columns_to_join, _joins.GET_DEFAULT)
    connection = context.connection
    mode = _values.read_deleted_mode(context, read_deleted)
    params = _reads.params(scope_host)
    params['key'] = key
    project_only = _owner(context, params)
    # The metadata in the same statement where the dialect aggregates it
    # (the 1.x calls read an instance this way on every operation).
    metadata_from = _dialect.aggregating_dialect(
        connection.dialect.name) if joins.metadata else None
    statement = _one_statement(by, mode, project_only,
                               scope_host is not None, metadata_from)
    row = _driver.execute(connection, statement, params).first()
    if row is None:
        raise missing
    if scope_host is not None and not row._in_scope:
        raise exception.HostScopeViolation(
            caller=scope_host, resource='instance %s' % row.uuid,
            owner=row.host)
    if metadata_from is None:
        return _reads.row_dicts(connection, [row], joins)[0]
    return _joins.fill(connection,
                       [_instance_rows.with_returned_metadata(row)],
                       joins)[0]


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
        _EXTRA, extra, protected=frozenset(_joins.EXTRA_HEAD))
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
    return _reads.dicts(
        connection, _reads.select(_INSTANCES.c.uuid == instance_uuid),
        _joins.parse(list(_joins.GET_DEFAULT) + ['extra'], ()))[0]


# -- one instance ----------------------------------------------------------

@db_session.hot_reader
def instance_get_by_uuid(context, uuid, columns_to_join=None, *,
                         scope_host=None):
    """:returns: the instance (read_deleted as the context says), with
        ``columns_to_join`` (nova's default: metadata, system_metadata,
        info_cache, security_groups).
    :raises: InstanceNotFound, InvalidUUID, HostScopeViolation (an
        instance not in ``scope_host``'s scope)
    """
    _values.validate_uuid(uuid)
    return _one(context, 'uuid', uuid,
                exception.InstanceNotFound(instance_id=uuid),
                columns_to_join, scope_host)


@db_session.hot_reader
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
    return _one(context, 'id', instance_id,
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
    instance = _one(context, 'uuid', instance_uuid, missing,
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
