"""Block device mappings: nova's calls (wire 2.x).

Each takes a keyword-only ``scope_host``: a confined caller reaches only
the mappings of instances in its scope (``_child_scope``); the one list
across instances by volume, ``block_device_mapping_get_all_by_volume_id``,
gives it only those (a multi-attached volume has mappings on other hosts,
which are not the caller's to see).

``legacy=True`` takes nova's legacy mapping format (``virtual_name``,
...) and converts it to the current one as nova does; nova's objects
always send ``legacy=False``.
"""

import re

from oslo_db import exception as db_exc
from oslo_utils import strutils
from oslo_utils import uuidutils
import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _child_scope
from nova_proxy.db.api import _instance_rows
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session

_BDM = models.BlockDeviceMapping.__table__
_INSTANCES = models.Instance.__table__

# nova's field sets of a mapping (nova.block_device): the legacy format's,
# the current format's, and those only the database has.
_LEGACY_FIELDS = frozenset([
    'device_name', 'delete_on_termination', 'virtual_name', 'snapshot_id',
    'volume_id', 'volume_size', 'no_device', 'connection_info'])
_NEW_FIELDS = frozenset([
    'source_type', 'destination_type', 'guest_format', 'device_type',
    'disk_bus', 'boot_index', 'device_name', 'delete_on_termination',
    'snapshot_id', 'volume_id', 'volume_size', 'image_id', 'no_device',
    'connection_info', 'tag', 'volume_type', 'encrypted',
    'encryption_secret_uuid', 'encryption_format', 'encryption_options'])
_DB_FIELDS = frozenset([
    'id', 'instance_uuid', 'attachment_id', 'uuid', 'created_at',
    'updated_at', 'deleted_at', 'deleted'])
# Not defaulted in a converted legacy mapping: no legacy field tells them.
_NOT_COMPUTABLE = frozenset(['boot_index', 'disk_bus', 'guest_format',
                             'device_type'])
_EPHEMERAL = re.compile(r'^ephemeral(\d|[1-9]\d+)$')

_JOINABLE = frozenset(['instance'])
# What a confined caller reading another host's mappings is refused.
_MAPPINGS_OF = 'the block device mappings of instance %(instance)s'


def _invalid_format(details):
    return exception.InvalidBDMFormat(details=details)


def _from_legacy(legacy):
    """A legacy mapping in the current format, with nova's checks."""
    bdm = {key: value for key, value in legacy.items()
           if key in (_LEGACY_FIELDS & _NEW_FIELDS) | _DB_FIELDS}
    virtual_name = legacy.get('virtual_name')
    if virtual_name == 'swap' or (isinstance(virtual_name, str) and
                                  _EPHEMERAL.match(virtual_name)):
        # nova formats an ephemeral disk with its [DEFAULT]
        # default_ephemeral_format, None unless set: the proxy has no such
        # option and leaves it None, for the compute to choose.
        bdm.update(source_type='blank', destination_type='local',
                   delete_on_termination=True,
                   guest_format='swap' if virtual_name == 'swap' else None)
    elif legacy.get('snapshot_id'):
        bdm.update(source_type='snapshot', destination_type='volume')
    elif legacy.get('volume_id'):
        bdm.update(source_type='volume', destination_type='volume')
    elif not legacy.get('no_device'):
        raise _invalid_format('Unrecognized legacy format.')
    if not bdm.get('no_device'):
        _check_new_format(bdm)
    if bdm.get('device_name'):
        # Also where nova skips the checks (a no_device mapping): a name
        # that is not a string cannot be made a device path.
        if not isinstance(bdm['device_name'], str):
            raise _invalid_format('Device name empty or too long.')
        name = bdm['device_name']
        bdm['device_name'] = '/dev/' + (name[5:] if name.startswith('/dev/')
                                        else name)
    bdm['delete_on_termination'] = bool(bdm.get('delete_on_termination'))
    converted = dict.fromkeys(_NEW_FIELDS - _NOT_COMPUTABLE)
    converted.update(bdm)
    return converted


def _check_new_format(bdm):
    if 'source_type' not in bdm:
        raise _invalid_format('Some required fields are missing')
    if 'delete_on_termination' in bdm:
        bdm['delete_on_termination'] = strutils.bool_from_string(
            bdm['delete_on_termination'])
    name = bdm.get('device_name')
    if name is not None:
        if not isinstance(name, str) or not 1 <= len(name) <= 255:
            raise _invalid_format('Device name empty or too long.')
        if ' ' in name:
            raise _invalid_format('Device name contains spaces.')
    if bdm.get('volume_size'):
        try:
            bdm['volume_size'] = int(bdm['volume_size'])
            if bdm['volume_size'] < 0:
                raise ValueError
        except (TypeError, ValueError):
            raise _invalid_format('Invalid volume_size.') from None


def _prepared(values, legacy, allow_updates=False):
    """nova's preparation of ``values``: an empty ``volume_size`` dropped,
    a legacy mapping converted (unless, for an update, every field is one
    both formats share), then each value checked against its column.

    :raises: InvalidUpdate, InvalidBDMFormat
    """
    if not isinstance(values, dict):
        raise exception.InvalidUpdate(field='values', reason='not a dict')
    values = dict(values)
    if values.get('volume_size') == '':
        del values['volume_size']
    if legacy and not (allow_updates and
                       set(values) <= _NEW_FIELDS | _DB_FIELDS):
        unknown = set(values) - (_LEGACY_FIELDS | _NEW_FIELDS | _DB_FIELDS)
        if unknown:
            raise _invalid_format('Following fields are invalid: %s'
                                  % ' '.join(sorted(unknown)))
        values = _from_legacy(values)
    # nova's objects send what they hold of a live row's soft deletion.
    if not values.get('deleted'):
        values.pop('deleted', None)
    if values.get('deleted_at') is None:
        values.pop('deleted_at', None)
    return _values.check_nova_values(_BDM, values)


def _checked_uuid(values):
    """nova's rule: a missing or empty uuid is made, a malformed one
    refused."""
    if not values.get('uuid'):
        values['uuid'] = uuidutils.generate_uuid()
    elif not uuidutils.is_uuid_like(values['uuid']):
        raise exception.InvalidUUID(uuid=values['uuid'])


def _checked_joins(columns_to_join):
    columns_to_join = columns_to_join or []
    if not isinstance(columns_to_join, (list, tuple)) or \
            not set(columns_to_join) <= _JOINABLE:
        raise exception.Invalid(
            reason="columns_to_join of a block device mapping may only "
                   "be ['instance']")
    return columns_to_join


def _bdms(context, *conditions, columns_to_join=(), params=None, limit=None):
    connection = context.connection
    statement = sa.select(_BDM).where(
        *_values.read_deleted_filter(context, _BDM), *conditions).order_by(
        _BDM.c.id)
    if limit:
        statement = statement.limit(limit)
    rows = _values.rows(connection, statement, params)
    if 'instance' in columns_to_join and rows:
        # nova joins the instance whatever its deletion.
        uuids = {row['instance_uuid'] for row in rows}
        instances = _instance_rows.instance_dicts(
            connection, connection.execute(sa.select(
                *[_INSTANCES.c[name]
                  for name in _instance_rows.INSTANCE_COLUMNS]).where(
                _INSTANCES.c.uuid.in_(sorted(uuids)))).all())
        by_uuid = {instance['uuid']: instance for instance in instances}
        for row in rows:
            row['instance'] = by_uuid.get(row['instance_uuid'])
    return rows


def _one(context, *conditions, **kwargs):
    rows = _bdms(context, *conditions, limit=1, **kwargs)
    return rows[0] if rows else None


def _check_instance(connection, values, scope_host):
    instance_uuid = values.get('instance_uuid')
    if instance_uuid is None:
        if scope_host is not None:
            raise exception.HostScopeViolation(
                caller=scope_host, resource='a block device mapping of no '
                                            'instance', owner=None)
        return
    _child_scope.lock_live(connection, instance_uuid, scope_host,
                           'a block device mapping of instance '
                           '%(instance)s')


def _mapping(bdm_id):
    """A mapping as HostScopeViolation names it."""
    return 'block device mapping %s' % bdm_id


def _insert(context, values):
    _checked_uuid(values)
    values.setdefault('created_at', db_session.utcnow())
    values['deleted'] = 0
    try:
        result = context.connection.execute(sa.insert(_BDM).values(values))
    except db_exc.DBDuplicateEntry:
        # The only unique key a new mapping can repeat is its uuid.
        raise exception.BlockDeviceMappingExists(uuid=values['uuid'])
    return _one(context, _BDM.c.id == result.inserted_primary_key[0])


def _update(context, current, values, scope_host):
    values.setdefault('updated_at', db_session.utcnow())
    try:
        _child_scope.scoped_write(
            context.connection, sa.update(_BDM).where(
                _BDM.c.id == current['id']).values(values),
            _BDM.c.instance_uuid, current['instance_uuid'], scope_host,
            _mapping(current['id']))
    except db_exc.DBDuplicateEntry:
        raise exception.BlockDeviceMappingExists(uuid=values.get('uuid'))
    return _one(context, _BDM.c.id == current['id'])


@db_session.core_writer
def block_device_mapping_create(context, values, legacy=True, *,
                                scope_host=None):
    """Create a mapping; returns its row.

    :raises: InvalidUpdate, InvalidBDMFormat, InvalidUUID,
        InstanceNotFound, HostScopeViolation, BlockDeviceMappingExists
        (another mapping has the ``uuid``)
    """
    values = _prepared(values, legacy)
    _check_instance(context.connection, values, scope_host)
    return _insert(context, values)


@db_session.core_writer
def block_device_mapping_update(context, bdm_id, values, legacy=True, *,
                                scope_host=None):
    """Set ``values`` on mapping ``bdm_id``; returns its row, or None when
    there is no such mapping (as nova; its object raises BDMNotFound).

    :raises: InvalidUpdate, InvalidBDMFormat, InstanceNotFound,
        HostScopeViolation, BlockDeviceMappingExists
    """
    values = _prepared(values, legacy, allow_updates=True)
    if isinstance(bdm_id, bool) or not isinstance(bdm_id, int):
        return None
    current = _one(context, _BDM.c.id == bdm_id)
    if current is None:
        return None
    connection = context.connection
    if scope_host is not None:
        _child_scope.lock_live(connection, current['instance_uuid'],
                               scope_host, _mapping(bdm_id))
    if values.get('instance_uuid', current['instance_uuid']) != \
            current['instance_uuid']:
        _check_instance(connection, values, scope_host)
    return _update(context, current, values, scope_host)


@db_session.core_writer
def block_device_mapping_update_or_create(context, values, legacy=True, *,
                                          scope_host=None):
    """nova's update-or-create: the instance's mapping of the same
    ``uuid``, else of the same ``device_name``, is updated, else one is
    created; a swap mapping replaces (soft-deletes) the instance's other
    swap mappings. Returns the row written.

    :raises: InvalidUpdate, InvalidBDMFormat, InvalidUUID,
        InstanceNotFound, HostScopeViolation, BlockDeviceMappingExists
    """
    values = _prepared(values, legacy, allow_updates=True)
    _values.require(values, 'instance_uuid')
    instance_uuid = values['instance_uuid']
    _check_instance(context.connection, values, scope_host)
    found = None
    if 'uuid' in values:
        found = _one(context, _BDM.c.instance_uuid == instance_uuid,
                     _BDM.c.uuid == values['uuid'])
    if found is None and values.get('device_name'):
        found = _one(context, _BDM.c.instance_uuid == instance_uuid,
                     _BDM.c.device_name == values['device_name'])
    if found is not None:
        result = _update(context, found, values, scope_host)
    else:
        result = _insert(context, values)
    if (values.get('source_type'), values.get('destination_type'),
            values.get('guest_format')) == ('blank', 'local', 'swap'):
        context.connection.execute(sa.update(_BDM).where(
            _BDM.c.instance_uuid == instance_uuid,
            _BDM.c.source_type == 'blank', _BDM.c.guest_format == 'swap',
            _BDM.c.id != result['id'],
            *_values.read_deleted_filter(context, _BDM)).values(
            deleted=_BDM.c.id, deleted_at=db_session.utcnow()))
    return result


@db_session.hot_reader
def block_device_mapping_get_all_by_instance_uuids(context, instance_uuids,
                                                   *, scope_host=None):
    """The mappings of ``instance_uuids``, all of which a confined caller
    must have in its scope.

    :raises: Invalid, HostScopeViolation
    """
    if not instance_uuids:
        return []
    if not isinstance(instance_uuids, (list, tuple)) or \
            not all(isinstance(u, str) for u in instance_uuids):
        raise exception.Invalid(reason='instance_uuids must be strings')
    _child_scope.check_readable(context.connection, instance_uuids,
                                scope_host, _MAPPINGS_OF)
    # Built once (the resource tracker's call each period); the list is
    # SQLAlchemy's expanding IN.
    return _values.table_rows_by(
        context, _BDM, 'by instance uuids',
        lambda bind: [_BDM.c.instance_uuid.in_(
            sa.bindparam('uuids', expanding=True))],
        {'uuids': list(instance_uuids)})


@db_session.core_reader
def block_device_mapping_get_all_by_instance(context, instance_uuid, *,
                                             scope_host=None):
    """:raises: HostScopeViolation"""
    _child_scope.check_readable(
        context.connection, [_child_scope.checked_uuid(instance_uuid)],
        scope_host, _MAPPINGS_OF)
    return _bdms(context, _BDM.c.instance_uuid == instance_uuid)


@db_session.core_reader
def block_device_mapping_get_all_by_volume_id(context, volume_id,
                                              columns_to_join=None, *,
                                              scope_host=None):
    """The volume's mappings; for a confined caller only those of
    instances in its scope."""
    conditions = [_BDM.c.volume_id == volume_id]
    params = None
    if scope_host is not None:
        conditions.append(_child_scope.in_scope(_BDM.c.instance_uuid))
        params = {'scope_host': scope_host}
    return _bdms(context, *conditions, params=params,
                 columns_to_join=_checked_joins(columns_to_join))


@db_session.core_reader
def block_device_mapping_get_by_instance_and_volume_id(
        context, volume_id, instance_uuid, columns_to_join=None, *,
        scope_host=None):
    """The instance's mapping of the volume, or None.

    :raises: HostScopeViolation
    """
    _child_scope.check_readable(
        context.connection, [_child_scope.checked_uuid(instance_uuid)],
        scope_host, _MAPPINGS_OF)
    return _one(context, _BDM.c.volume_id == volume_id,
                _BDM.c.instance_uuid == instance_uuid,
                columns_to_join=_checked_joins(columns_to_join))


@db_session.core_writer
def block_device_mapping_destroy(context, bdm_id, *, scope_host=None):
    """Soft-delete mapping ``bdm_id`` (nothing when there is none, as
    nova).

    :raises: InstanceNotFound, HostScopeViolation
    """
    if isinstance(bdm_id, bool) or not isinstance(bdm_id, int):
        return
    current = _one(context, _BDM.c.id == bdm_id)
    if current is None:
        return
    if scope_host is not None:
        _child_scope.lock_live(context.connection, current['instance_uuid'],
                               scope_host, _mapping(bdm_id))
    _child_scope.scoped_write(
        context.connection, sa.update(_BDM).where(
            _BDM.c.id == bdm_id, _BDM.c.deleted == 0).values(
            deleted=_BDM.c.id, deleted_at=db_session.utcnow()),
        _BDM.c.instance_uuid, current['instance_uuid'], scope_host,
        _mapping(bdm_id))


@db_session.core_writer
def block_device_mapping_create_uuid(context, bdm_id, uuid, *,
                                     scope_host=None):
    """Give mapping ``bdm_id`` the uuid ``uuid`` unless it has one
    (compare-and-swap); returns the uuid it has then. Idempotent. For
    nova's ``BlockDeviceMapping._create_uuid``, which writes a uuid where
    a row has none (rows here always have one; an empty one is replaced).

    :raises: InvalidUUID, BDMNotFound, InstanceNotFound,
        HostScopeViolation
    """
    if not isinstance(uuid, str) or not uuidutils.is_uuid_like(uuid):
        raise exception.InvalidUUID(uuid=uuid)
    if isinstance(bdm_id, bool) or not isinstance(bdm_id, int):
        raise exception.BDMNotFound(id=bdm_id)
    connection = context.connection
    current = connection.execute(sa.select(
        _BDM.c.instance_uuid).where(_BDM.c.id == bdm_id)).first()
    if current is None:
        raise exception.BDMNotFound(id=bdm_id)
    if scope_host is not None:
        _child_scope.lock_live(connection, current.instance_uuid,
                               scope_host, _mapping(bdm_id))
    connection.execute(sa.update(_BDM).where(
        _BDM.c.id == bdm_id,
        sa.or_(_BDM.c.uuid.is_(None), _BDM.c.uuid == '')).values(
        uuid=uuid))
    return connection.execute(sa.select(_BDM.c.uuid).where(
        _BDM.c.id == bdm_id)).scalar()
