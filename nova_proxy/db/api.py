"""The database API that nova-compute used to call directly.

Function names and arguments follow nova's DB API. Every function takes a
request context first and returns plain, JSON-safe dicts: times are ISO 8601
UTC strings, an instance carries ``metadata`` and ``system_metadata`` as
dicts. These dicts are exactly what the proxy sends on the wire.

``instance_update`` is a compare-and-swap in one conditional UPDATE; see its
docstring. Only allow-listed fields may be written; anything else raises
``InvalidUpdate`` naming the field, before anything is written.
"""

import datetime
import functools

from oslo_db import exception as db_exc
from oslo_utils import uuidutils
import sqlalchemy as sa

from nova_proxy.common import utils
from nova_proxy import conf
from nova_proxy import exception
from nova_proxy.db import models
from nova_proxy.db import session as db_session

writer = db_session.writer
reader = db_session.reader
core_writer = db_session.core_writer
core_reader = db_session.core_reader
utcnow = db_session.utcnow
CONF = conf.CONF

# task_states and vm_states that the API treats specially.
DELETING = 'deleting'

# Migration statuses after which a migration is no longer in progress.
MIGRATION_DONE_STATUSES = ('confirmed', 'reverted', 'error', 'failed',
                           'completed', 'done', 'cancelled')


# -- values ---------------------------------------------------------------

def _to_iso(value):
    if value is None:
        return None
    return value.replace(tzinfo=datetime.timezone.utc).isoformat()


def _parse_time(value):
    if value is None or isinstance(value, datetime.datetime):
        result = value
    elif isinstance(value, str):
        result = datetime.datetime.fromisoformat(value.replace('Z', '+00:00'))
    else:
        raise ValueError('not an ISO 8601 time')
    if result is not None and result.tzinfo is not None:
        try:
            result = result.astimezone(datetime.timezone.utc).replace(
                tzinfo=None)
        except OverflowError:
            # 0001-01-01T00:00+01:00 is before year 1 in UTC.
            raise ValueError('out of range in UTC') from None
    return result


# Integer columns are 32-bit signed on every backend we support.
_INT_MIN = -2 ** 31
_INT_MAX = 2 ** 31 - 1


def _int(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError('not an integer')
    value = int(value)
    if not _INT_MIN <= value <= _INT_MAX:
        raise ValueError('out of range')
    return value


def _text(value):
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError('not a string')
    problem = utils.text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _str(value):
    value = _text(value)
    if value is not None and len(value) > 255:
        raise ValueError('longer than 255 characters')
    return value


def _truncated(value):
    """A string column where a long value is cut, as nova cuts fault
    messages, rather than refused."""
    value = _text(value)
    return value[:255] if value is not None else None


def _bool(value):
    if not isinstance(value, bool):
        raise ValueError('not a boolean')
    return value


def _meta(value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError('not a dict')
    result = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > 255:
            raise ValueError('key %r is not a string of 1 to 255 characters'
                             % (key,))
        try:
            _text(key)
        except ValueError as e:
            raise ValueError('key %r %s' % (key, e)) from None
        if item is not None and not isinstance(item, (str, int, float, bool)):
            raise ValueError('value of %r is not a scalar' % key)
        result[key] = None if item is None else _text(str(item))
    return result


def _check_values(values, allowed, protected=(), table=None):
    """Validate and convert ``values`` against ``allowed``: a dict of field
    name to converter, and against ``table``'s columns if given (NULL where
    a column takes none, text longer than its column): the same error on
    every backend, where SQLite would store it and the others refuse it.
    Returns a new dict; never mutates the caller's."""
    if not isinstance(values, dict):
        raise exception.InvalidUpdate(field='values', reason='not a dict')
    result = {}
    for field, value in values.items():
        if field in protected:
            raise exception.InvalidUpdate(field=field,
                                          reason='the field is protected')
        convert = allowed.get(field)
        if convert is None:
            raise exception.InvalidUpdate(field=field,
                                          reason='unknown field')
        try:
            result[field] = convert(value)
        except (TypeError, ValueError) as e:
            raise exception.InvalidUpdate(field=field, reason=str(e))
        if table is not None:
            _check_fits(table, field, result[field])
    return result


def _check_fits(table, field, value):
    column = table.c.get(field)
    if column is None:
        return  # metadata, kept in tables of their own
    if value is None:
        if not column.nullable:
            raise exception.InvalidUpdate(field=field,
                                          reason='may not be null')
        return
    length = getattr(column.type, 'length', None)
    if length and isinstance(value, str) and len(value) > length:
        raise exception.InvalidUpdate(
            field=field, reason='longer than %d characters' % length)


def _validate_uuid(instance_uuid):
    if not isinstance(instance_uuid, str) or \
            not uuidutils.is_uuid_like(instance_uuid):
        raise exception.InvalidUUID(uuid=instance_uuid)


def _row_to_dict(row, columns):
    """``columns`` of ``row`` (an ORM object or a Core row) as the wire
    gives them: times as ISO 8601 strings."""
    result = {}
    for name in columns:
        value = getattr(row, name)
        if isinstance(value, datetime.datetime):
            value = _to_iso(value)
        result[name] = value
    return result


def _columns(model):
    return [c.key for c in sa.inspect(model).column_attrs]


# -- instances ------------------------------------------------------------

_INSTANCE_FIELDS = {
    'host': _str, 'node': _str, 'launched_on': _str,
    'availability_zone': _str, 'vm_state': _str, 'task_state': _str,
    'power_state': _int, 'instance_type_id': _int,
    'instance_type_name': _str, 'memory_mb': _int, 'vcpus': _int,
    'root_gb': _int, 'ephemeral_gb': _int, 'image_ref': _str,
    'display_name': _str, 'hostname': _str, 'progress': _int,
    'launched_at': _parse_time, 'terminated_at': _parse_time,
    'metadata': _meta, 'system_metadata': _meta,
}
_INSTANCE_CREATE_FIELDS = dict(_INSTANCE_FIELDS, uuid=_str, user_id=_str,
                               project_id=_str)
INSTANCE_UPDATABLE_FIELDS = frozenset(_INSTANCE_FIELDS)
INSTANCE_PROTECTED_FIELDS = frozenset(
    ['id', 'uuid', 'created_at', 'updated_at', 'deleted', 'deleted_at',
     'user_id', 'project_id'])
_INSTANCE_COLUMNS = _columns(models.Instance)


def _instance_to_dict(instance):
    result = _row_to_dict(instance, _INSTANCE_COLUMNS)
    result['metadata'] = {m.key: m.value for m in instance.metadata_items}
    result['system_metadata'] = {
        m.key: m.value for m in instance.system_metadata_items}
    return result


def _instance_query(session, instance_uuid, read_deleted=False):
    query = sa.select(models.Instance).where(
        models.Instance.uuid == instance_uuid)
    if not read_deleted:
        query = query.where(models.Instance.deleted == 0)
    return session.execute(query).scalar_one_or_none()


# The instance after a compare-and-swap, as prebuilt Core statements: about
# a third less CPU per instance_update than loading the ORM object with its
# two selectin relationships (measured, see docs/benchmark.rst). The row is
# read only where the UPDATE cannot return it (MariaDB).
_LOCK_INSTANCE = sa.select(models.Instance.id).where(
    models.Instance.uuid == sa.bindparam('uuid'),
    models.Instance.deleted == 0).with_for_update()

_INSTANCE_ROW = sa.select(
    *[getattr(models.Instance, name) for name in _INSTANCE_COLUMNS]).where(
        models.Instance.uuid == sa.bindparam('uuid'),
        models.Instance.deleted == 0)


# The metadata and system metadata of instances in one statement: ``kind``
# 0 is metadata, 1 system metadata. One instance by equality (the hot
# path), several with an expanding IN.
def _all_metadata(condition):
    return sa.union_all(*[
        sa.select(sa.literal(kind).label('kind'), model.instance_uuid,
                  model.key, model.value).where(condition(model))
        for kind, model in enumerate((models.InstanceMetadata,
                                      models.InstanceSystemMetadata))])


_ALL_METADATA = _all_metadata(
    lambda model: model.instance_uuid == sa.bindparam('uuid'))
_CHUNK = 1000
_ALL_METADATA_IN = _all_metadata(
    lambda model: model.instance_uuid.in_(
        sa.bindparam('uuids', expanding=True)))


# The aggregate that returns an instance's (system) metadata with its row
# in one statement, as a JSON array of [key, value] pairs; elsewhere
# (MariaDB: JSON_ARRAYAGG needs 10.5) the metadata is a separate read
# (_ALL_METADATA).
#
# Also in the statements that may wait for the instance's row lock (the
# UPDATE of the compare-and-swap, SELECT ... FOR UPDATE), so a dialect
# added here must be safe there too. SQLite starts every write
# transaction with the database's write lock (BEGIN IMMEDIATE): nothing
# commits between its reads and its writes. PostgreSQL needs a guard
# (_SNAPSHOT_GUARDED): a statement that waited reads the locked row at
# its new version, but its subqueries on the snapshot it took before
# waiting, so it would return the metadata as it was before the call it
# waited for (tests/unit/db/test_concurrency.py shows it).
_METADATA_AGGREGATES = {
    'postgresql': (sa.func.json_agg, sa.func.json_build_array),
    'sqlite': (sa.func.json_group_array, sa.func.json_array),
}
# Where a locking statement that carries the metadata also requires the
# row to be the version its snapshot saw (``_unchanged_since_snapshot``).
# Every write of an instance's metadata updates its row in the same
# transaction, so a statement that waited for one matches nothing; the
# call then runs again without the metadata (the row, then a separate
# metadata read, on a new snapshot).
_SNAPSHOT_GUARDED = frozenset(['postgresql'])


def _unchanged_since_snapshot(table):
    """PostgreSQL: the row being locked or updated is the version this
    statement's snapshot saw. ``xmin`` names the transaction that wrote a
    row version; the condition is checked again on the new version after
    a wait for the row lock, and the subquery still reads the old one."""
    seen = table.alias('seen')
    return sa.literal_column(table.name + '.xmin') == sa.select(
        sa.literal_column('seen.xmin')).where(
            seen.c.id == table.c.id).scalar_subquery()


def _returned_metadata(dialect_name, table):
    """The columns ``_md`` and ``_smd`` (metadata, system metadata) to add
    to a SELECT from or an UPDATE ... RETURNING of ``table`` (instances),
    or () where the dialect has no aggregate."""
    if dialect_name not in _METADATA_AGGREGATES:
        return ()
    aggregate, pair = _METADATA_AGGREGATES[dialect_name]
    return tuple(
        sa.select(aggregate(pair(model.key, model.value), type_=sa.JSON))
        .where(model.instance_uuid == table.c.uuid)
        .scalar_subquery().label(label)
        for label, model in (('_md', models.InstanceMetadata),
                             ('_smd', models.InstanceSystemMetadata)))


def _pairs(value):
    """A ``_returned_metadata`` column as a dict (no rows: NULL on
    PostgreSQL, an empty array on SQLite)."""
    return {key: item for key, item in value or ()}


def _aggregating_dialect(dialect_name):
    """``dialect_name`` where a statement may bring the metadata with the
    row, else None."""
    return dialect_name if dialect_name in _METADATA_AGGREGATES else None


def _with_metadata(row, metadata, system_metadata):
    """The instance dict of an instance row, with these metadata dicts."""
    result = _row_to_dict(row, _INSTANCE_COLUMNS)
    result['metadata'] = metadata
    result['system_metadata'] = system_metadata
    return result


def _with_returned_metadata(row):
    """The instance dict of a row that carries ``_returned_metadata``."""
    return _with_metadata(row, _pairs(row._md), _pairs(row._smd))


def _instance_dicts(connection, rows):
    """Instance dicts from instance rows (``_INSTANCE_COLUMNS`` order),
    with their metadata read in one statement on ``connection``."""
    result = []
    by_uuid = {}
    for row in rows:
        item = _row_to_dict(row, _INSTANCE_COLUMNS)
        item['metadata'], item['system_metadata'] = {}, {}
        by_uuid[item['uuid']] = item
        result.append(item)
    if len(result) == 1:
        reads = [connection.execute(_ALL_METADATA,
                                    {'uuid': result[0]['uuid']})]
    else:
        # In chunks: a whole cloud's list must not exceed the bound
        # parameters a backend takes in one statement (SQLite: 32,766).
        uuids = list(by_uuid)
        reads = (connection.execute(
            _ALL_METADATA_IN, {'uuids': uuids[start:start + _CHUNK]})
            for start in range(0, len(uuids), _CHUNK))
    for metadata in reads:
        for kind, instance_uuid, key, value in metadata:
            item = by_uuid[instance_uuid]
            item['system_metadata' if kind else 'metadata'][key] = value
    return result


def _instances_where(connection, *conditions, limit=None):
    """Live instances matching ``conditions``, oldest first, as dicts:
    two Core statements whatever their number."""
    query = sa.select(*[getattr(models.Instance, name)
                        for name in _INSTANCE_COLUMNS]).where(
        models.Instance.deleted == 0, *conditions).order_by(
        models.Instance.id)
    if limit:
        query = query.limit(limit)
    return _instance_dicts(connection, connection.execute(query).all())


def _instance_get(session, instance_uuid, read_deleted=False):
    instance = _instance_query(session, instance_uuid, read_deleted)
    if instance is None:
        raise exception.InstanceNotFound(instance_id=instance_uuid)
    return instance


def _replace_metadata(connection, model, instance_uuid, metadata, now):
    """Make the (system) metadata rows of an instance ``metadata``: keys
    gone are deleted, new ones inserted, changed values updated."""
    table = model.__table__
    existing = dict(connection.execute(
        sa.select(table.c.key, table.c.value).where(
            table.c.instance_uuid == instance_uuid)).all())
    gone = [key for key in existing if key not in metadata]
    if gone:
        connection.execute(sa.delete(table).where(
            table.c.instance_uuid == instance_uuid, table.c.key.in_(gone)))
    new = [{'instance_uuid': instance_uuid, 'key': key, 'value': value,
            'created_at': now}
           for key, value in metadata.items() if key not in existing]
    if new:
        connection.execute(sa.insert(table), new)
    for key, value in metadata.items():
        if key in existing and existing[key] != value:
            connection.execute(sa.update(table).where(
                table.c.instance_uuid == instance_uuid,
                table.c.key == key).values(value=value, updated_at=now))


@writer
def instance_create(context, values):
    """Create an instance from ``values``; returns the instance dict.

    :raises: InvalidUpdate for an unknown field, InvalidUUID for a malformed
        ``uuid``, InstanceExists for a uuid in use.
    """
    if isinstance(values, dict) and 'uuid' in values and \
            values['uuid'] is None:
        values = {k: v for k, v in values.items() if k != 'uuid'}
    values = _check_values(values, _INSTANCE_CREATE_FIELDS,
                           protected=INSTANCE_PROTECTED_FIELDS - {
                               'uuid', 'user_id', 'project_id'},
                           table=models.Instance.__table__)
    instance_uuid = values.pop('uuid', None) or uuidutils.generate_uuid()
    _validate_uuid(instance_uuid)
    metadata = values.pop('metadata', {})
    system_metadata = values.pop('system_metadata', {})
    now = utcnow()
    session = context.session
    instance = models.Instance(uuid=instance_uuid, created_at=now,
                               updated_at=now, deleted=0, **values)
    if instance.user_id is None:
        instance.user_id = context.user_id
    if instance.project_id is None:
        instance.project_id = context.project_id
    session.add(instance)
    try:
        session.flush()
    except db_exc.DBDuplicateEntry:
        raise exception.InstanceExists(instance_uuid=instance_uuid)
    connection = session.connection()
    _replace_metadata(connection, models.InstanceMetadata, instance_uuid,
                      metadata, now)
    _replace_metadata(connection, models.InstanceSystemMetadata,
                      instance_uuid, system_metadata, now)
    session.expire(instance)
    return _instance_to_dict(_instance_get(session, instance_uuid))


@functools.lru_cache(maxsize=8)
def _instance_read(metadata_from, locked):
    """The read of one live instance (bound ``uuid``), with its metadata
    as ``_returned_metadata`` columns where ``metadata_from`` names a
    dialect that aggregates them; ``locked``: ``SELECT ... FOR UPDATE``."""
    table = models.Instance.__table__
    statement = _INSTANCE_ROW.add_columns(
        *_returned_metadata(metadata_from, table))
    if not locked:
        return statement
    if metadata_from in _SNAPSHOT_GUARDED:
        statement = statement.where(_unchanged_since_snapshot(table))
    return statement.with_for_update()


def _read_instance(connection, instance_uuid, locked=False):
    """The live instance ``instance_uuid`` as a dict, or None: one
    statement where the dialect aggregates the metadata (``locked``:
    under the row lock, guarded where ``_SNAPSHOT_GUARDED``), else the row
    and a metadata read. One statement also reads the row and its
    metadata from one snapshot."""
    metadata_from = _aggregating_dialect(connection.dialect.name)
    row = connection.execute(_instance_read(metadata_from, locked),
                             {'uuid': instance_uuid}).first()
    if row is None and locked and metadata_from in _SNAPSHOT_GUARDED:
        # Gone, or changed while this statement waited for its lock.
        metadata_from = None
        row = connection.execute(_instance_read(None, locked),
                                 {'uuid': instance_uuid}).first()
    if row is None:
        return None
    if metadata_from is None:
        return _instance_dicts(connection, [row])[0]
    return _with_returned_metadata(row)


@core_reader
def instance_get_by_uuid(context, instance_uuid):
    """:raises: InstanceNotFound, InvalidUUID"""
    _validate_uuid(instance_uuid)
    instance = _read_instance(context.connection, instance_uuid)
    if instance is None:
        raise exception.InstanceNotFound(instance_id=instance_uuid)
    return instance


@core_reader
def instance_get_all_by_host(context, host, node=None):
    """Live instances on ``host`` (and ``node`` if given), oldest first."""
    conditions = [models.Instance.host == host]
    if node is not None:
        conditions.append(models.Instance.node == node)
    return _instances_where(context.connection, *conditions)


@core_reader
def instance_get_all_by_filters(context, task_states=None, vm_states=None,
                                hosts=None, updated_before=None, limit=None):
    """Live instances matching every filter given; for the proxy's periodic
    tasks, not on the compute wire."""
    conditions = []
    if task_states is not None:
        conditions.append(models.Instance.task_state.in_(task_states))
    if vm_states is not None:
        conditions.append(models.Instance.vm_state.in_(vm_states))
    if hosts is not None:
        conditions.append(models.Instance.host.in_(hosts))
    if updated_before is not None:
        conditions.append(models.Instance.updated_at <
                          _parse_time(updated_before))
    return _instances_where(context.connection, *conditions, limit=limit)


def _expected_list(expected):
    if isinstance(expected, (list, tuple, set, frozenset)):
        return list(expected)
    return [expected]


# "The instance is on the caller's host or is migrating to or from it",
# built once with the host as the bound parameter ``scope_host`` given at
# execution: building it for every call was about a tenth of a proxy's CPU
# under load (measured, see docs/benchmark.rst).
_SCOPE_CONDITION = sa.or_(
    models.Instance.host == sa.bindparam('scope_host'),
    models.Instance.uuid.in_(
        sa.select(models.Migration.instance_uuid).where(
            models.Migration.deleted == 0,
            # Not NOT IN (...): a literal list is rendered into the SQL
            # at every execution (an "expanding" parameter).
            *[models.Migration.status != status
              for status in MIGRATION_DONE_STATUSES],
            sa.or_(models.Migration.source_compute ==
                   sa.bindparam('scope_host'),
                   models.Migration.dest_compute ==
                   sa.bindparam('scope_host')))))


def _check_expected_value(field, expected):
    for value in _expected_list(expected):
        if value is not None and not isinstance(value, str):
            raise exception.InvalidUpdate(
                field=field, reason='expected states are strings or None')
        try:
            _text(value)
        except ValueError as e:
            raise exception.InvalidUpdate(field=field, reason=str(e))


def _bound_values(table, fields):
    """The SET clause of ``fields``, each bound as ``v_<field>``: bound
    names may not be column names in an UPDATE."""
    return {table.c[field]: sa.bindparam('v_' + field,
                                         type_=table.c[field].type)
            for field in fields}


def _value_params(values):
    """The parameters of ``_bound_values`` for ``values``."""
    return {'v_' + field: value for field, value in values.items()}


def _update_outcome(result, returning):
    """``(matched, row)`` of an UPDATE of one row: the row RETURNING gave,
    or None where the dialect returns nothing and the row count says
    whether it matched."""
    if returning:
        row = result.first()
        return row is not None, row
    return result.rowcount == 1, None


@functools.lru_cache(maxsize=1024)
def _cas_statement(fields, task_check, vm_check, scoped, returning,
                   metadata_from=None, guarded=False):
    """The compare-and-swap UPDATE for one shape of call, built once.

    A shape is what changes the SQL: the fields set, whether each expected
    state is checked and how many values and whether NULL its list holds
    (``task_check``/``vm_check``: None, or ``(values, has_null)``), the
    host scope, and whether the dialect returns the row from the UPDATE
    (``metadata_from``: the dialect's name when the row's metadata comes
    back with it, see ``_returned_metadata``), and whether the UPDATE
    requires ``_unchanged_since_snapshot`` (``guarded``).
    Every value is a bound parameter: ``v_<field>`` for the new values,
    ``w_uuid``, ``expected_task_state_<n>``/``expected_vm_state_<n>`` and
    ``scope_host``; none is an "expanding" list, which SQLAlchemy renders
    into the SQL at every execution. Building the statement for every
    call cost more CPU than running it (measured, see
    docs/benchmark.rst).
    """
    table = models.Instance.__table__
    conditions = [table.c.uuid == sa.bindparam('w_uuid'),
                  table.c.deleted == 0]
    for column, check, name in ((table.c.task_state, task_check,
                                 'expected_task_state'),
                                (table.c.vm_state, vm_check,
                                 'expected_vm_state')):
        if check is None:
            continue
        count, has_null = check
        clauses = []
        if count:
            clauses.append(column.in_([sa.bindparam('%s_%d' % (name, i))
                                       for i in range(count)]))
        if has_null:
            clauses.append(column.is_(None))
        conditions.append(sa.or_(*clauses) if clauses else sa.false())
    if scoped:
        conditions.append(_SCOPE_CONDITION)
    if guarded:
        conditions.append(_unchanged_since_snapshot(table))
    statement = sa.update(table).where(*conditions).values(
        _bound_values(table, fields))
    if returning:
        statement = statement.returning(
            *[table.c[name] for name in _INSTANCE_COLUMNS],
            *_returned_metadata(metadata_from, table))
    return statement


def _state_check(params, name, expected):
    """The shape of an expected-state check, with its values put in
    ``params``."""
    expected = _expected_list(expected)
    values = [v for v in expected if v is not None]
    for i, value in enumerate(values):
        params['%s_%d' % (name, i)] = value
    return len(values), len(values) != len(expected)


def _instance_cas(connection, instance_uuid, values, scope_host,
                  locked_original=None):
    """The compare-and-swap: one conditional UPDATE. Returns the updated
    instance's dict; raises the error that explains a miss.

    ``locked_original``: the instance as read under its row lock in this
    transaction. Metadata is only ever written here, after this UPDATE
    (which takes the same lock), so when the call does not change it the
    original's metadata is the updated instance's, and is not read again.

    It runs as Core statements on the transaction's connection: on PostgreSQL
    and SQLite the UPDATE returns the new row (``RETURNING``) and, unless
    the call writes metadata, the row's metadata too, as JSON arrays, so a
    call is one statement there (on PostgreSQL two when the UPDATE waited
    for a change of the row: ``_SNAPSHOT_GUARDED``). MariaDB has no
    ``UPDATE ... RETURNING`` and reads the row back.
    """
    _validate_uuid(instance_uuid)
    if values is not None and not isinstance(values, dict):
        raise exception.InvalidUpdate(field='values', reason='not a dict')
    # Our own copy: the caller's dict is never changed.
    values = dict(values or {})
    has_task = 'expected_task_state' in values
    has_vm = 'expected_vm_state' in values
    expected_task = values.pop('expected_task_state', None)
    expected_vm = values.pop('expected_vm_state', None)
    if has_task:
        _check_expected_value('expected_task_state', expected_task)
    if has_vm:
        _check_expected_value('expected_vm_state', expected_vm)
    for key in ('metadata', 'system_metadata'):
        # As in nova's DB API: None leaves the dict as it is (an empty
        # dict empties it).
        if key in values and values[key] is None:
            del values[key]
    values = _check_values(values, _INSTANCE_FIELDS,
                           protected=INSTANCE_PROTECTED_FIELDS,
                           table=models.Instance.__table__)
    metadata = values.pop('metadata', None)
    system_metadata = values.pop('system_metadata', None)
    if scope_host is not None and values.get('host', scope_host) not in (
            scope_host, None):
        _check_host_move(connection, instance_uuid, scope_host,
                         values['host'])
    now = utcnow()
    values['updated_at'] = now

    params = dict(_value_params(values), w_uuid=instance_uuid)
    task_check = vm_check = None
    if has_task:
        task_check = _state_check(params, 'expected_task_state',
                                  expected_task)
    if has_vm:
        vm_check = _state_check(params, 'expected_vm_state', expected_vm)
    if scope_host is not None:
        params['scope_host'] = scope_host
    dialect = connection.dialect
    returning = dialect.update_returning
    # The metadata comes back with the row unless this call writes it
    # (after the UPDATE) or the caller has it already.
    metadata_from = None
    if returning and metadata is None and system_metadata is None and \
            locked_original is None:
        metadata_from = _aggregating_dialect(dialect.name)
    shape = (tuple(sorted(values)), task_check, vm_check,
             scope_host is not None, returning)
    # Guarded where a statement that waited for the row's lock would read
    # its subqueries from before the wait: the metadata it returns, and
    # the migrations of the host scope (one ended by the writer it waited
    # for would still open the instance to the caller).
    guarded = dialect.name in _SNAPSHOT_GUARDED and (
        metadata_from is not None or scope_host is not None)
    matched, row = _update_outcome(
        connection.execute(_cas_statement(*shape, metadata_from, guarded),
                           params), returning)
    if not matched and guarded:
        # A miss, or the row changed while the UPDATE waited for its
        # lock: again without the guard (and so without the metadata).
        metadata_from = None
        if scope_host is not None:
            # Under the row's lock first: the UPDATE then waits for
            # nothing, and its snapshot, taken after the lock, holds what
            # every writer of the row committed, the migrations included.
            connection.execute(_LOCK_INSTANCE, {'uuid': instance_uuid})
        matched, row = _update_outcome(
            connection.execute(_cas_statement(*shape), params), returning)
    if not matched:
        _raise_cas_miss(connection, instance_uuid, has_task, expected_task,
                        has_vm, expected_vm, scope_host)
    if metadata is not None:
        _replace_metadata(connection, models.InstanceMetadata,
                          instance_uuid, metadata, now)
    if system_metadata is not None:
        _replace_metadata(connection, models.InstanceSystemMetadata,
                          instance_uuid, system_metadata, now)
    if row is None:
        row = connection.execute(_INSTANCE_ROW,
                                 {'uuid': instance_uuid}).one()
    if metadata_from is not None:
        return _with_returned_metadata(row)
    if locked_original is not None and metadata is None and \
            system_metadata is None:
        return _with_metadata(row, dict(locked_original['metadata']),
                              dict(locked_original['system_metadata']))
    return _instance_dicts(connection, [row])[0]


def _check_host_move(connection, instance_uuid, scope_host, new_host):
    """A confined caller hands an instance to another host only as one end
    of a migration of it in progress, to the other end (nova's source
    sets the destination in ``resize_instance``). Its own host and None
    (giving the instance up) need no migration."""
    m = models.Migration
    found = connection.execute(
        sa.select(m.id).where(
            m.instance_uuid == instance_uuid, m.deleted == 0,
            m.status.not_in(MIGRATION_DONE_STATUSES),
            sa.or_(sa.and_(m.source_compute == scope_host,
                           m.dest_compute == new_host),
                   sa.and_(m.dest_compute == scope_host,
                           m.source_compute == new_host)))
        .limit(1)).first()
    if found is None:
        raise exception.Forbidden(
            reason='compute host %s may not move instance %s to host %s: '
                   'no migration between them is in progress'
                   % (scope_host, instance_uuid, new_host))


def _raise_cas_miss(connection, instance_uuid, has_task, expected_task,
                    has_vm, expected_vm, scope_host):
    """Nothing was written; say why. The row may have changed since the
    UPDATE, so this explains the miss, it never retries the write."""
    row = connection.execute(
        sa.select(models.Instance.task_state, models.Instance.vm_state,
                  models.Instance.host)
        .where(models.Instance.uuid == instance_uuid,
               models.Instance.deleted == 0)).one_or_none()
    if row is None:
        raise exception.InstanceNotFound(instance_id=instance_uuid)
    task_state, vm_state, host = row
    if has_task and task_state not in _expected_list(expected_task):
        cls = (exception.UnexpectedDeletingTaskStateError
               if task_state == DELETING else
               exception.UnexpectedTaskStateError)
        raise cls(instance_uuid=instance_uuid, expected=expected_task,
                  actual=task_state)
    if has_vm and vm_state not in _expected_list(expected_vm):
        raise exception.UnexpectedVMStateError(
            instance_uuid=instance_uuid, expected=expected_vm,
            actual=vm_state)
    if scope_host is not None:
        raise exception.HostScopeViolation(
            caller=scope_host, resource='instance %s' % instance_uuid,
            owner=host)
    # The row matched nothing we can name: it changed between the UPDATE
    # and this read. Report it as the task_state race it almost surely is.
    raise exception.UnexpectedTaskStateError(
        instance_uuid=instance_uuid, expected=expected_task,
        actual=task_state)


@core_writer
def instance_update(context, instance_uuid, values, scope_host=None):
    """Update an instance with a compare-and-swap; returns the new instance.

    ``values`` may carry ``expected_task_state`` and ``expected_vm_state``: a
    value or a list, where None means NULL. The update is one conditional
    UPDATE statement; on a mismatch nothing is written.
    ``metadata`` and ``system_metadata`` replace the whole dict.
    ``scope_host``, set by the proxy for a compute caller, adds "the
    instance is on this host or migrating to or from it" to the condition.

    :raises: InstanceNotFound, InvalidUUID, InvalidUpdate,
        UnexpectedTaskStateError, UnexpectedDeletingTaskStateError,
        UnexpectedVMStateError, HostScopeViolation
    """
    return _instance_cas(context.connection, instance_uuid, values,
                         scope_host)


@core_writer
def instance_update_and_get_original(context, instance_uuid, values,
                                     scope_host=None):
    """As ``instance_update``; returns ``[original, updated]``.

    The original is read under a row lock (``SELECT ... FOR UPDATE``; on
    SQLite the transaction holds the write lock), so it is exactly the row
    the compare-and-swap replaced.
    """
    _validate_uuid(instance_uuid)
    connection = context.connection
    original = _read_instance(connection, instance_uuid, locked=True)
    if original is None:
        raise exception.InstanceNotFound(instance_id=instance_uuid)
    updated = _instance_cas(connection, instance_uuid, values, scope_host,
                            locked_original=original)
    return [original, updated]


@writer
def instance_destroy(context, instance_uuid, scope_host=None):
    """Soft-delete an instance; returns it as deleted (``deleted`` set to
    its id, ``deleted_at`` set). Its metadata rows stay with it until
    ``purge_deleted_instances`` removes both.

    :raises: InstanceNotFound, InvalidUUID, HostScopeViolation
    """
    _validate_uuid(instance_uuid)
    session = context.session
    instance = _instance_get(session, instance_uuid)
    if scope_host is not None and instance.host != scope_host:
        raise exception.HostScopeViolation(
            caller=scope_host, resource='instance %s' % instance_uuid,
            owner=instance.host)
    now = utcnow()
    conditions = [models.Instance.id == instance.id,
                  models.Instance.deleted == 0]
    if scope_host is not None:
        # In the statement too: the instance may have moved since the
        # check above.
        conditions.append(models.Instance.host == scope_host)
    result = session.execute(
        sa.update(models.Instance).where(*conditions)
        .values(deleted=models.Instance.id, deleted_at=now, updated_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        # Deleted meanwhile (NotFound), or moved away from the caller.
        session.expire_all()
        moved = _instance_get(session, instance_uuid)
        raise exception.HostScopeViolation(
            caller=scope_host, resource='instance %s' % instance_uuid,
            owner=moved.host)
    session.expire_all()
    return _instance_to_dict(_instance_get(session, instance_uuid,
                                           read_deleted=True))


def _purge_soft_deleted(session, model, before, limit):
    ids = session.execute(
        sa.select(model.id).where(model.deleted != 0,
                                  model.deleted_at < before)
        .order_by(model.id).limit(limit)).scalars().all()
    if ids:
        session.execute(sa.delete(model).where(model.id.in_(ids)))
    return ids


@writer
def purge_deleted_instances(context, before, limit):
    """Hard-delete up to ``limit`` instances soft-deleted before ``before``,
    with their metadata, faults and actions. Returns the purged uuids."""
    session = context.session
    rows = session.execute(
        sa.select(models.Instance.id, models.Instance.uuid)
        .where(models.Instance.deleted != 0,
               models.Instance.deleted_at < _parse_time(before))
        .order_by(models.Instance.id).limit(limit)).all()
    uuids = [r.uuid for r in rows]
    if not uuids:
        return []
    for model in (models.InstanceMetadata, models.InstanceSystemMetadata,
                  models.InstanceFault):
        session.execute(sa.delete(model).where(
            model.instance_uuid.in_(uuids)))
    action_ids = sa.select(models.InstanceAction.id).where(
        models.InstanceAction.instance_uuid.in_(uuids))
    session.execute(sa.delete(models.InstanceActionEvent).where(
        models.InstanceActionEvent.action_id.in_(action_ids)))
    session.execute(sa.delete(models.InstanceAction).where(
        models.InstanceAction.instance_uuid.in_(uuids)))
    session.execute(sa.delete(models.Instance).where(
        models.Instance.id.in_([r.id for r in rows])))
    return uuids


# -- migrations -----------------------------------------------------------

_MIGRATION_FIELDS = {
    'instance_uuid': _str, 'source_compute': _str, 'dest_compute': _str,
    'source_node': _str, 'dest_node': _str, 'dest_host': _str,
    'old_instance_type_id': _int, 'new_instance_type_id': _int,
    'status': _str, 'migration_type': _str, 'hidden': _bool,
    'progress': _int,
}
_MIGRATION_CREATE_FIELDS = dict(_MIGRATION_FIELDS, uuid=_str)
_MIGRATION_COLUMNS = _columns(models.Migration)


def _migration_get(session, migration_id, lock=False):
    if isinstance(migration_id, bool) or not isinstance(migration_id, int):
        raise exception.MigrationNotFound(migration_id=migration_id)
    query = sa.select(models.Migration).where(
        models.Migration.id == migration_id, models.Migration.deleted == 0)
    if lock:
        query = query.with_for_update()
    migration = session.execute(query).scalar_one_or_none()
    if migration is None:
        raise exception.MigrationNotFound(migration_id=migration_id)
    return migration


@writer
def migration_create(context, values):
    """:raises: InvalidUpdate, InvalidUUID"""
    values = _check_values(values, _MIGRATION_CREATE_FIELDS,
                           protected=('id', 'created_at', 'updated_at',
                                      'deleted', 'deleted_at'),
                           table=models.Migration.__table__)
    if 'instance_uuid' not in values:
        raise exception.InvalidUpdate(field='instance_uuid',
                                      reason='the field is required')
    _validate_uuid(values['instance_uuid'])
    values.setdefault('uuid', uuidutils.generate_uuid())
    now = utcnow()
    migration = models.Migration(created_at=now, updated_at=now, deleted=0,
                                 **values)
    context.session.add(migration)
    context.session.flush()
    return _row_to_dict(migration, _MIGRATION_COLUMNS)


@reader
def migration_get(context, migration_id):
    """:raises: MigrationNotFound"""
    return _row_to_dict(_migration_get(context.session, migration_id),
                        _MIGRATION_COLUMNS)


@writer
def migration_update(context, migration_id, values, scope_host=None):
    """:raises: MigrationNotFound, InvalidUpdate, HostScopeViolation"""
    values = _check_values(values, _MIGRATION_FIELDS,
                           protected=('id', 'uuid', 'created_at',
                                      'updated_at', 'deleted', 'deleted_at'),
                           table=models.Migration.__table__)
    # Locked for a confined caller: what is checked below is what the
    # update changes.
    migration = _migration_get(context.session, migration_id,
                               lock=scope_host is not None)
    if scope_host is not None:
        _check_migration_scope(migration, values, scope_host)
    values['updated_at'] = utcnow()
    for key, value in values.items():
        setattr(migration, key, value)
    context.session.flush()
    return _row_to_dict(migration, _MIGRATION_COLUMNS)


# The fields that say which instance a migration opens to which hosts.
_MIGRATION_SCOPE_FIELDS = ('instance_uuid', 'source_compute',
                           'dest_compute')


def _check_migration_scope(migration, values, scope_host):
    """A confined caller updates only a migration of its own host, still
    in progress, and leaves alone what gives hosts their scope: an
    unfinished migration opens its instance to both ends (``_SCOPE_
    CONDITION``), so re-targeting one, or reopening a finished one, would
    open another host's instance to the caller."""
    if scope_host not in (migration.source_compute,
                          migration.dest_compute):
        raise exception.HostScopeViolation(
            caller=scope_host, resource='migration %s' % migration.id,
            owner=migration.source_compute)
    if migration.status in MIGRATION_DONE_STATUSES:
        raise exception.Forbidden(
            reason='compute host %s may not change migration %s, which is '
                   '%s' % (scope_host, migration.id, migration.status))
    changed = [f for f in _MIGRATION_SCOPE_FIELDS
               if f in values and values[f] != getattr(migration, f)]
    if changed:
        raise exception.Forbidden(
            reason='compute host %s may not change %s of migration %s'
                   % (scope_host, ', '.join(changed), migration.id))


@reader
def migration_get_in_progress_by_host_and_node(context, host, node):
    """Migrations to or from ``host``/``node`` not yet in a final status."""
    m = models.Migration
    query = sa.select(m).where(
        m.deleted == 0, m.status.not_in(MIGRATION_DONE_STATUSES),
        sa.or_(sa.and_(m.source_compute == host, m.source_node == node),
               sa.and_(m.dest_compute == host, m.dest_node == node))
    ).order_by(m.id)
    return [_row_to_dict(r, _MIGRATION_COLUMNS)
            for r in context.session.execute(query).scalars()]


@reader
def migration_get_by_instance(context, instance_uuid):
    """All live migrations of an instance, oldest first."""
    m = models.Migration
    query = sa.select(m).where(m.deleted == 0,
                               m.instance_uuid == instance_uuid
                               ).order_by(m.id)
    return [_row_to_dict(r, _MIGRATION_COLUMNS)
            for r in context.session.execute(query).scalars()]


_CREATE_PROTECTED = ('id', 'created_at', 'updated_at', 'deleted',
                     'deleted_at')
_UPDATE_PROTECTED = _CREATE_PROTECTED + ('uuid',)


def _create_host_row(context, model, values, allowed, required, exists):
    """Insert a row of a per-host table (services, compute nodes).

    :param required: fields that must be given and not empty.
    :param exists: the error class for a duplicate, built from the
        ``required`` fields.
    """
    values = _check_values(values, allowed, protected=_CREATE_PROTECTED,
                           table=model.__table__)
    _require(values, *required)
    values.setdefault('uuid', uuidutils.generate_uuid())
    now = utcnow()
    row = model(created_at=now, updated_at=now, deleted=0, **values)
    context.session.add(row)
    try:
        context.session.flush()
    except db_exc.DBDuplicateEntry:
        raise exists(**{field: values[field] for field in required})
    return row


def _host_row_where(table, scoped):
    """The live row ``w_id`` of a per-host table, on host ``scope_host``
    when ``scoped``."""
    conditions = [table.c.id == sa.bindparam('w_id'), table.c.deleted == 0]
    if scoped:
        conditions.append(table.c.host == sa.bindparam('scope_host'))
    return conditions


@functools.lru_cache(maxsize=256)
def _host_row_update(table, fields, scoped, returning):
    """The UPDATE of one row of a per-host table by id, built once per
    shape: ``v_<field>`` for the new values, ``w_id`` and ``scope_host``."""
    statement = sa.update(table).where(
        *_host_row_where(table, scoped)).values(_bound_values(table, fields))
    if returning:
        statement = statement.returning(*table.c)
    return statement


def _written_row(connection, table, row_id, row):
    """The dict of the row ``row_id`` just written: ``row`` as RETURNING
    gave it, or read back where the dialect returns nothing (MariaDB)."""
    if row is None:
        row = connection.execute(sa.select(*table.c).where(
            table.c.id == row_id)).one()
    return _row_to_dict(row, table.c.keys())


def _host_row_miss(connection, table, row_id, scope_host, resource,
                   not_found):
    """Nothing was written to a per-host row: raise ``not_found`` if it is
    not there, else HostScopeViolation naming its host."""
    owner = connection.execute(
        sa.select(table.c.host).where(table.c.id == row_id,
                                      table.c.deleted == 0)).scalar()
    if owner is None:
        raise not_found()
    raise exception.HostScopeViolation(caller=scope_host, resource=resource,
                                       owner=owner)


def _update_host_row(connection, model, row_id, values, scope_host,
                     resource, not_found):
    """Apply checked ``values`` to the row ``row_id`` of a per-host table
    (services, compute nodes) in one UPDATE, confined to ``scope_host``:
    the row must be its own and stay its own. Returns the row's dict.

    :param not_found: raises the table's not-found error when called.
    """
    if isinstance(row_id, bool) or not isinstance(row_id, int):
        raise not_found()
    table = model.__table__
    moving = values.get('host', scope_host) != scope_host
    if scope_host is not None and moving:
        # Moving the row to another host: refused whoever owns it now.
        _host_row_miss(connection, table, row_id, scope_host, resource,
                       not_found)
    values['updated_at'] = utcnow()
    params = dict(_value_params(values), w_id=row_id, scope_host=scope_host)
    returning = connection.dialect.update_returning
    try:
        result = connection.execute(_host_row_update(
            table, tuple(sorted(values)), scope_host is not None,
            returning), params)
    except db_exc.DBDuplicateEntry as e:
        # Renamed onto another live row's host and binary (or node).
        raise exception.Conflict(
            reason='%s: another one has the same %s' % (
                resource, ', '.join(e.columns or ()) or 'key')) from None
    return _host_row_result(connection, table, row_id, result, returning,
                            scope_host, resource, not_found)


def _host_row_result(connection, table, row_id, result, returning,
                     scope_host, resource, not_found):
    """The row an UPDATE by id wrote, as a dict; a miss is explained by
    ``_host_row_miss``."""
    matched, row = _update_outcome(result, returning)
    if not matched:
        _host_row_miss(connection, table, row_id, scope_host, resource,
                       not_found)
    return _written_row(connection, table, row_id, row)


# -- services -------------------------------------------------------------

@core_writer
def service_heartbeat(context, service_id, scope_host=None):
    """Record that a service is up: one UPDATE that increments
    ``report_count`` and sets ``last_seen_up`` to the database's clock.

    :raises: ServiceNotFound, HostScopeViolation
    """
    if isinstance(service_id, bool) or not isinstance(service_id, int):
        raise exception.ServiceNotFound(service_id=service_id)
    table = models.Service.__table__
    connection = context.connection
    returning = connection.dialect.update_returning
    result = connection.execute(
        _heartbeat_statement(scope_host is not None, returning),
        {'w_id': service_id, 'scope_host': scope_host, 'now': utcnow()})
    return _host_row_result(
        connection, table, service_id, result, returning, scope_host,
        'service %s' % service_id,
        lambda: exception.ServiceNotFound(service_id=service_id))


@functools.lru_cache(maxsize=4)
def _heartbeat_statement(scoped, returning):
    table = models.Service.__table__
    statement = sa.update(table).where(
        *_host_row_where(table, scoped)).values(
        report_count=table.c.report_count + 1,
        last_seen_up=db_session.db_utcnow(),
        updated_at=sa.bindparam('now', type_=table.c.updated_at.type))
    if returning:
        statement = statement.returning(*table.c)
    return statement


# -- compute nodes --------------------------------------------------------

_NODE_FIELDS = {
    'host': _str, 'node': _str, 'hypervisor_type': _str, 'vcpus': _int,
    'memory_mb': _int, 'local_gb': _int, 'vcpus_used': _int,
    'memory_mb_used': _int, 'local_gb_used': _int, 'running_vms': _int,
}
_NODE_CREATE_FIELDS = dict(_NODE_FIELDS, uuid=_str)
_NODE_COLUMNS = _columns(models.ComputeNode)


def _node_dict(node):
    return _row_to_dict(node, _NODE_COLUMNS)


@reader
def compute_node_get_by_host_and_node(context, host, node):
    """:raises: ComputeHostNotFound"""
    row = context.session.execute(sa.select(models.ComputeNode).where(
        models.ComputeNode.host == host, models.ComputeNode.node == node,
        models.ComputeNode.deleted == 0)).scalar_one_or_none()
    if row is None:
        raise exception.ComputeHostNotFound(host=host, node=node)
    return _node_dict(row)


@reader
def compute_node_get_all(context):
    return [_node_dict(n) for n in context.session.execute(
        sa.select(models.ComputeNode).where(models.ComputeNode.deleted == 0)
        .order_by(models.ComputeNode.id)).scalars()]


@writer
def compute_node_create(context, values):
    """:raises: InvalidUpdate, ComputeNodeExists"""
    return _node_dict(_create_host_row(
        context, models.ComputeNode, values, _NODE_CREATE_FIELDS,
        ('host', 'node'), exception.ComputeNodeExists))


@core_writer
def compute_node_update(context, compute_node_id, values, scope_host=None):
    """:raises: ComputeHostNotFound, InvalidUpdate, HostScopeViolation,
        Conflict"""
    values = _check_values(values, _NODE_FIELDS, protected=_UPDATE_PROTECTED,
                           table=models.ComputeNode.__table__)
    return _update_host_row(
        context.connection, models.ComputeNode, compute_node_id, values,
        scope_host, 'compute node %s' % compute_node_id,
        lambda: exception.ComputeHostNotFound(host=compute_node_id,
                                              node=None))


# -- faults, actions and events -------------------------------------------

_FAULT_FIELDS = {'instance_uuid': _str, 'code': _int, 'message': _truncated,
                 'details': _text, 'host': _str}
_FAULT_COLUMNS = _columns(models.InstanceFault)
_ACTION_FIELDS = {'instance_uuid': _str, 'action': _str, 'request_id': _str,
                  'user_id': _str, 'project_id': _str,
                  'start_time': _parse_time, 'finish_time': _parse_time,
                  'message': _str}
_ACTION_COLUMNS = _columns(models.InstanceAction)
_EVENT_FIELDS = {'instance_uuid': _str, 'request_id': _str, 'event': _str,
                 'start_time': _parse_time, 'finish_time': _parse_time,
                 'result': _str, 'traceback': _text, 'host': _str,
                 'details': _text}
_EVENT_COLUMNS = _columns(models.InstanceActionEvent)


# The instance's host, and whether it is in the scope of ``scope_host``
# (on that host or migrating to or from it): one statement, without loading
# the instance and its metadata.
_INSTANCE_SCOPE = sa.select(
    models.Instance.host,
    sa.case((_SCOPE_CONDITION, 1), else_=0)).where(
        models.Instance.uuid == sa.bindparam('uuid'),
        models.Instance.deleted == 0)


def _scoped_instance(connection, instance_uuid, scope_host):
    """Check that the live instance exists and, for a caller confined to
    ``scope_host``, is in its scope.

    :raises: InvalidUUID, InstanceNotFound, HostScopeViolation
    """
    _validate_uuid(instance_uuid)
    row = connection.execute(
        _INSTANCE_SCOPE,
        {'uuid': instance_uuid, 'scope_host': scope_host}).first()
    if row is None:
        raise exception.InstanceNotFound(instance_id=instance_uuid)
    host, in_scope = row
    if scope_host is not None and not in_scope:
        raise exception.HostScopeViolation(
            caller=scope_host, resource='instance %s' % instance_uuid,
            owner=host)


def _require(values, *fields):
    for field in fields:
        if not values.get(field):
            raise exception.InvalidUpdate(field=field,
                                          reason='the field is required')


@core_writer
def instance_fault_create(context, values, scope_host=None):
    """Record a fault of an instance; returns the fault.

    :raises: InvalidUpdate, InstanceNotFound, HostScopeViolation
    """
    return _instance_fault_create(context.connection, values, scope_host)


def _instance_fault_create(connection, values, scope_host):
    values = _check_values(values, _FAULT_FIELDS,
                           table=models.InstanceFault.__table__)
    _require(values, 'instance_uuid')
    _scoped_instance(connection, values['instance_uuid'], scope_host)
    if values.get('code') is None:
        values['code'] = 500
    now = utcnow()
    return _insert_row(connection, models.InstanceFault.__table__,
                       dict(values, created_at=now, updated_at=now,
                            deleted=0))


@reader
def instance_fault_get_by_instance_uuids(context, instance_uuids):
    """Faults of the given instances: ``{uuid: [fault, ...]}``, newest
    first."""
    result = {u: [] for u in instance_uuids}
    for fault in context.session.execute(
            sa.select(models.InstanceFault)
            .where(models.InstanceFault.instance_uuid.in_(instance_uuids),
                   models.InstanceFault.deleted == 0)
            .order_by(models.InstanceFault.created_at.desc(),
                      models.InstanceFault.id.desc())).scalars():
        result[fault.instance_uuid].append(
            _row_to_dict(fault, _FAULT_COLUMNS))
    return result


def _action_get(session, instance_uuid, request_id):
    action = session.execute(
        sa.select(models.InstanceAction)
        .where(models.InstanceAction.instance_uuid == instance_uuid,
               models.InstanceAction.request_id == request_id,
               models.InstanceAction.deleted == 0)
        .order_by(models.InstanceAction.id.desc()).limit(1)
    ).scalar_one_or_none()
    if action is None:
        raise exception.InstanceActionNotFound(
            action=None, request_id=request_id, instance_uuid=instance_uuid)
    return action


@writer
def instance_action_start(context, values, scope_host=None):
    """Start an action (``instance_uuid``, ``action``, ``request_id``...);
    returns it.

    :raises: InvalidUpdate, InstanceNotFound, HostScopeViolation
    """
    values = _check_values(values, _ACTION_FIELDS,
                           table=models.InstanceAction.__table__)
    _require(values, 'instance_uuid', 'action', 'request_id')
    _scoped_instance(context.session.connection(), values['instance_uuid'],
                     scope_host)
    now = utcnow()
    values.setdefault('start_time', now)
    values.setdefault('user_id', context.user_id)
    values.setdefault('project_id', context.project_id)
    action = models.InstanceAction(created_at=now, updated_at=now,
                                   deleted=0, **values)
    context.session.add(action)
    context.session.flush()
    return _row_to_dict(action, _ACTION_COLUMNS)


@writer
def instance_action_finish(context, values, scope_host=None):
    """Finish the newest action of (``instance_uuid``, ``request_id``).

    :raises: InvalidUpdate, InstanceActionNotFound, HostScopeViolation
    """
    values = _check_values(values, _ACTION_FIELDS,
                           table=models.InstanceAction.__table__)
    _require(values, 'instance_uuid', 'request_id')
    _scoped_instance(context.session.connection(), values['instance_uuid'],
                     scope_host)
    action = _action_get(context.session, values['instance_uuid'],
                         values['request_id'])
    action.finish_time = values.get('finish_time') or utcnow()
    if 'message' in values:
        action.message = values['message']
    action.updated_at = utcnow()
    context.session.flush()
    return _row_to_dict(action, _ACTION_COLUMNS)


@reader
def actions_get(context, instance_uuid):
    """Actions of an instance with their events, oldest first."""
    session = context.session
    actions = session.execute(
        sa.select(models.InstanceAction)
        .where(models.InstanceAction.instance_uuid == instance_uuid,
               models.InstanceAction.deleted == 0)
        .order_by(models.InstanceAction.id)).scalars().all()
    result = []
    for action in actions:
        item = _row_to_dict(action, _ACTION_COLUMNS)
        item['events'] = [
            _row_to_dict(e, _EVENT_COLUMNS) for e in session.execute(
                sa.select(models.InstanceActionEvent)
                .where(models.InstanceActionEvent.action_id == action.id)
                .order_by(models.InstanceActionEvent.id)).scalars()]
        result.append(item)
    return result


_ACTIONS = models.InstanceAction.__table__
_EVENTS = models.InstanceActionEvent.__table__
# The newest live action of (instance, request) and its live event of a
# name, if any, in one statement (an action has at most one live event of
# a name: the unique constraint).
_ACTION_AND_EVENT = sa.select(
    _ACTIONS.c.id.label('found_action_id'), *_EVENTS.c).select_from(
        _ACTIONS.outerjoin(_EVENTS, sa.and_(
            _EVENTS.c.action_id == _ACTIONS.c.id,
            _EVENTS.c.event == sa.bindparam('event'),
            _EVENTS.c.deleted == 0))).where(
        _ACTIONS.c.instance_uuid == sa.bindparam('uuid'),
        _ACTIONS.c.request_id == sa.bindparam('request_id'),
        _ACTIONS.c.deleted == 0).order_by(_ACTIONS.c.id.desc()).limit(1)


def _event_lookup(connection, values, scope_host):
    """Check event ``values``; returns them without the action's keys, the
    action's id and request id, and its live event of that name (a row) or
    None."""
    values = _check_values(values, _EVENT_FIELDS,
                           table=models.InstanceActionEvent.__table__)
    _require(values, 'instance_uuid', 'request_id', 'event')
    _scoped_instance(connection, values['instance_uuid'], scope_host)
    instance_uuid = values.pop('instance_uuid')
    request_id = values.pop('request_id')
    row = connection.execute(_ACTION_AND_EVENT, {
        'uuid': instance_uuid, 'request_id': request_id,
        'event': values['event']}).first()
    if row is None:
        raise exception.InstanceActionNotFound(
            action=None, request_id=request_id, instance_uuid=instance_uuid)
    event = row if row.id is not None else None
    return values, row.found_action_id, request_id, event


def _insert_row(connection, table, values):
    """Insert ``values`` into ``table``; returns the new row's dict."""
    statement = sa.insert(table).values(**values)
    if connection.dialect.insert_returning:
        return _written_row(connection, table, None, connection.execute(
            statement.returning(*table.c)).one())
    result = connection.execute(statement)
    return _written_row(connection, table, result.inserted_primary_key[0],
                        None)


def _write_event(connection, event, values):
    """Insert the event ``values`` (``event`` None) or update the
    ``event`` row with them; returns the event's dict."""
    if event is None:
        return _insert_row(connection, _EVENTS, dict(values, deleted=0))
    statement = sa.update(_EVENTS).where(
        _EVENTS.c.id == event.id).values(**values)
    returning = connection.dialect.update_returning
    if returning:
        statement = statement.returning(*_EVENTS.c)
    result = connection.execute(statement)
    return _written_row(connection, _EVENTS, event.id,
                        result.one() if returning else None)


@core_writer
def action_event_start(context, values, scope_host=None):
    """Start an event (``event``) of the action of (``instance_uuid``,
    ``request_id``); returns the event.

    An action has at most one event of a name. Starting it again (a retried
    step of the same request) restarts that event: new ``start_time``, no
    ``finish_time``/``result``/``traceback``; so a repeated call leaves one
    event, as one call would.

    :raises: InvalidUpdate, InstanceActionNotFound, HostScopeViolation,
        Conflict when another call starts the same event at the same moment
    """
    return _action_event_start(context.connection, values, scope_host)


def _action_event_start(connection, values, scope_host):
    values, action_id, request_id, event = _event_lookup(
        connection, values, scope_host)
    now = utcnow()
    values.setdefault('start_time', now)
    # Started again (a retried step): the same event, restarted.
    values = dict({'finish_time': None, 'result': None, 'traceback': None},
                  **values)
    values['updated_at'] = now
    if event is None:
        values.update(action_id=action_id, created_at=now)
    try:
        return _write_event(connection, event, values)
    except db_exc.DBDuplicateEntry:
        raise exception.Conflict(
            reason='event %s of request %s is being started concurrently'
                   % (values['event'], request_id))


@core_writer
def action_event_finish(context, values, scope_host=None):
    """Finish an event; a ``result`` of ``Error`` marks the action's
    message ``Error`` as nova does.

    :raises: InvalidUpdate, InstanceActionNotFound, HostScopeViolation
    """
    return _action_event_finish(context.connection, values, scope_host)


def _action_event_finish(connection, values, scope_host):
    values, action_id, _, event = _event_lookup(connection, values,
                                                scope_host)
    now = utcnow()
    if values.get('finish_time') is None:
        # Not given (or None): an event finished before keeps its time.
        given = 'finish_time' in values
        values['finish_time'] = (
            event.finish_time if event is not None and not given and
            event.finish_time is not None else now)
    values['updated_at'] = now
    if event is None:
        values.update(action_id=action_id, created_at=now)
    result = _write_event(connection, event, values)
    if (values.get('result') or '').lower() == 'error':
        connection.execute(
            sa.update(_ACTIONS).where(_ACTIONS.c.id == action_id)
            .values(message='Error', updated_at=now))
    return result


# -- a state change with its bookkeeping ----------------------------------

def _check_part(name, values):
    if values is not None and not isinstance(values, dict):
        raise exception.InvalidUpdate(field=name, reason='not a dict')


@core_writer
def instance_update_and_record(context, instance_uuid, values,
                               event_start=None, event_finish=None,
                               fault=None, scope_host=None):
    """A compare-and-swap ``instance_update`` with its action event and
    fault, in one transaction; returns the updated instance.

    The parts run in the order nova-compute makes the separate calls:
    ``action_event_start(event_start)``, ``instance_fault_create(fault)``,
    ``instance_update(instance_uuid, values)``,
    ``action_event_finish(event_finish)``; each part given as None is
    skipped. Each dict is exactly what its separate function takes, and
    each part applies ``scope_host`` as that function does. All or
    nothing: when any part raises, the error is the one the separate call
    raises (a compare-and-swap miss raises what ``instance_update`` raises)
    and nothing of any part is written.

    :raises: InvalidUpdate (also for a part that is not a dict),
        InstanceNotFound, InvalidUUID, UnexpectedTaskStateError,
        UnexpectedDeletingTaskStateError, UnexpectedVMStateError,
        HostScopeViolation, InstanceActionNotFound, Conflict
    """
    for name, part in (('event_start', event_start), ('fault', fault),
                       ('event_finish', event_finish)):
        _check_part(name, part)
    connection = context.connection
    if event_start is not None:
        _action_event_start(connection, event_start, scope_host)
    if fault is not None:
        _instance_fault_create(connection, fault, scope_host)
    instance = _instance_cas(connection, instance_uuid, values, scope_host)
    if event_finish is not None:
        _action_event_finish(connection, event_finish, scope_host)
    return instance


# -- nova's database API (wire 2.x) ---------------------------------------
#
# The functions below have the names, arguments and semantics of nova 34's
# ``nova.db.main.api``, and a keyword-only ``scope_host`` where the host
# scope goes into the statement. Values are checked against the columns'
# own types (``column_converters``), as nova's ORM would store them, but
# refused by name instead of failing in the database.

def _bigint(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError('not an integer')
    if not -2 ** 63 <= value < 2 ** 63:
        raise ValueError('out of range')
    return value


def _float(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError('not a number')
    return float(value)


def _converter(column):
    kind = column.type
    if isinstance(kind, sa.Enum):
        choices = frozenset(kind.enums)

        def one_of(value):
            value = _text(value)
            if value is not None and value not in choices:
                raise ValueError('not one of %s' % ', '.join(sorted(choices)))
            return value
        return one_of
    if isinstance(kind, sa.Boolean):
        return _bool
    if isinstance(kind, sa.BigInteger):
        return _bigint
    if isinstance(kind, sa.Integer):
        return _int
    if isinstance(kind, sa.Float):
        return _float
    if isinstance(kind, sa.DateTime):
        return _parse_time
    return _text


# Never written from values: the row's identity and its soft deletion.
NOVA_PROTECTED = frozenset(['id', 'deleted', 'deleted_at'])


@functools.lru_cache(maxsize=None)
def column_converters(table, protected=NOVA_PROTECTED):
    """Field name -> converter for every column of ``table`` but
    ``protected``, from the column's type; with ``_check_values(...,
    table=table)`` lengths and NULLs are checked too."""
    return {c.key: _converter(c) for c in table.c if c.key not in protected}


def check_nova_values(table, values, protected=NOVA_PROTECTED):
    """``values`` checked and converted as nova's ORM would take them for
    ``table``: unknown fields, bad types, text too long and NULL where the
    column takes none are ``InvalidUpdate``, naming the field."""
    return _check_values(values, column_converters(table, protected),
                         protected=protected, table=table)


def read_deleted_filter(context, table, read_deleted=None):
    """The conditions of nova's ``model_query`` for soft-deleted rows:
    ``read_deleted`` (or the context's: ``no``, ``yes``, ``only``)."""
    mode = read_deleted or getattr(context, 'read_deleted', None) or 'no'
    if mode == 'no':
        return [table.c.deleted == 0]
    if mode == 'yes':
        return []
    if mode == 'only':
        return [table.c.deleted != 0]
    raise exception.Invalid(
        reason="read_deleted must be 'no', 'yes' or 'only', not %r"
               % (mode,))


def _rows(connection, statement, params=None):
    """Every row of ``statement`` as the wire's dicts."""
    result = connection.execute(statement, params or {})
    keys = list(result.keys())
    return [_row_to_dict(row, keys) for row in result]


_SERVICES = models.Service.__table__


def _services(context, *conditions, read_deleted=None):
    statement = sa.select(_SERVICES).where(
        *read_deleted_filter(context, _SERVICES, read_deleted),
        *conditions).order_by(_SERVICES.c.id)
    return _rows(context.connection, statement)


def _one_service(context, not_found, *conditions, read_deleted=None):
    rows = _services(context, *conditions, read_deleted=read_deleted)
    if not rows:
        raise not_found
    return rows[0]


@core_reader
def service_get(context, service_id):
    """:raises: ServiceNotFound"""
    return _one_service(
        context, exception.ServiceNotFound(service_id=service_id),
        _SERVICES.c.id == service_id)


@core_reader
def service_get_by_uuid(context, service_uuid):
    """:raises: ServiceNotFound"""
    return _one_service(
        context, exception.ServiceNotFound(service_id=service_uuid),
        _SERVICES.c.uuid == service_uuid)


@core_reader
def service_get_minimum_version(context, binaries):
    """:returns: ``{binary: lowest version}`` of the live services of
    ``binaries`` that are not forced down (binaries with none are left
    out).

    :raises: Invalid when ``binaries`` is not a list of strings
    """
    if not all(isinstance(b, str) for b in binaries):
        raise exception.Invalid(reason='binaries must be strings')
    statement = sa.select(
        _SERVICES.c.binary, sa.func.min(_SERVICES.c.version)).where(
        _SERVICES.c.binary.in_(list(binaries)), _SERVICES.c.deleted == 0,
        _SERVICES.c.forced_down.is_(False)).group_by(_SERVICES.c.binary)
    return {binary: version for binary, version in
            context.connection.execute(statement)}


@core_reader
def service_get_all(context, disabled=None):
    conditions = []
    if disabled is not None:
        conditions.append(_SERVICES.c.disabled.is_(bool(disabled)))
    return _services(context, *conditions)


@core_reader
def service_get_all_by_topic(context, topic):
    return _services(context, _SERVICES.c.disabled.is_(False),
                     _SERVICES.c.topic == topic, read_deleted='no')


@core_reader
def service_get_by_host_and_topic(context, host, topic):
    """:returns: the service, or None (as nova)."""
    rows = _services(context, _SERVICES.c.disabled.is_(False),
                     _SERVICES.c.host == host, _SERVICES.c.topic == topic,
                     read_deleted='no')
    return rows[0] if rows else None


@core_reader
def service_get_all_by_binary(context, binary, include_disabled=False):
    conditions = [_SERVICES.c.binary == binary]
    if not include_disabled:
        conditions.append(_SERVICES.c.disabled.is_(False))
    return _services(context, *conditions)


@core_reader
def service_get_all_computes_by_hv_type(context, hv_type,
                                        include_disabled=False):
    nodes = models.ComputeNode.__table__
    conditions = [_SERVICES.c.binary == 'nova-compute',
                  _SERVICES.c.host.in_(sa.select(nodes.c.host).where(
                      nodes.c.hypervisor_type == hv_type,
                      nodes.c.deleted == 0))]
    if not include_disabled:
        conditions.append(_SERVICES.c.disabled.is_(False))
    return _services(context, *conditions, read_deleted='no')


@core_reader
def service_get_by_host_and_binary(context, host, binary):
    """:raises: HostBinaryNotFound"""
    return _one_service(
        context, exception.HostBinaryNotFound(host=host, binary=binary),
        _SERVICES.c.host == host, _SERVICES.c.binary == binary,
        read_deleted='no')


@core_reader
def service_get_all_by_host(context, host):
    return _services(context, _SERVICES.c.host == host, read_deleted='no')


@core_reader
def service_get_by_compute_host(context, host):
    """:raises: ComputeHostNotFound"""
    return _one_service(
        context, exception.ComputeHostNotFound(host=host, node=None),
        _SERVICES.c.host == host, _SERVICES.c.binary == 'nova-compute',
        read_deleted='no')


@core_writer
def service_create(context, values):
    """Create a service. A new ``nova-compute`` service starts disabled
    when ``[proxy] enable_new_services`` is False, as in nova.

    :raises: InvalidUpdate, ServiceBinaryExists, ServiceTopicExists
    """
    values = check_nova_values(_SERVICES, values)
    if not CONF.proxy.enable_new_services and \
            values.get('binary') == 'nova-compute':
        values['disabled'] = True
        values['disabled_reason'] = ('New compute service disabled due to '
                                     'config option.')
    now = utcnow()
    values.setdefault('uuid', uuidutils.generate_uuid())
    values.setdefault('created_at', now)
    values.setdefault('report_count', 0)
    values.setdefault('disabled', False)
    values.setdefault('forced_down', False)
    values.setdefault('version', 0)
    connection = context.connection
    try:
        # A savepoint, so that a duplicate can be told apart below: when
        # both keys are taken, databases differ in which they report.
        with connection.begin_nested():
            result = connection.execute(
                sa.insert(_SERVICES).values(deleted=0, **values))
    except db_exc.DBDuplicateEntry:
        if connection.execute(sa.select(_SERVICES.c.id).where(
                _SERVICES.c.host == values.get('host'),
                _SERVICES.c.binary == values.get('binary'),
                _SERVICES.c.deleted == 0)).first() is not None:
            raise exception.ServiceBinaryExists(
                host=values.get('host'), binary=values.get('binary'))
        raise exception.ServiceTopicExists(host=values.get('host'),
                                           topic=values.get('topic'))
    return _written_row(context.connection, _SERVICES,
                        result.inserted_primary_key[0], None)


@core_writer
def service_update(context, service_id, values, *, scope_host=None):
    """Set ``values`` on a live service, in one UPDATE confined to
    ``scope_host``. As in nova, a ``report_count`` above the stored one
    sets ``last_seen_up`` (the database's clock) in the same statement.

    :raises: ServiceNotFound, InvalidUpdate, HostScopeViolation, Conflict
    """
    values = check_nova_values(_SERVICES, values,
                               protected=NOVA_PROTECTED | {'uuid'})
    report_count = values.get('report_count')
    if report_count is not None:
        values['last_seen_up'] = sa.case(
            (_SERVICES.c.report_count < report_count, db_session.db_utcnow()),
            else_=_SERVICES.c.last_seen_up)
    return _update_nova_host_row(
        context.connection, _SERVICES, service_id, values, scope_host,
        'service %s' % service_id,
        lambda: exception.ServiceNotFound(service_id=service_id))


def _update_nova_host_row(connection, table, row_id, values, scope_host,
                          resource, not_found):
    """``values`` (checked; may hold SQL expressions) on the live row
    ``row_id`` of a per-host table, in one UPDATE confined to
    ``scope_host``: the row must be its own and stay its own."""
    if isinstance(row_id, bool) or not isinstance(row_id, int):
        raise not_found()
    if scope_host is not None and values.get('host', scope_host) != \
            scope_host:
        _host_row_miss(connection, table, row_id, scope_host, resource,
                       not_found)
    values.setdefault('updated_at', utcnow())
    conditions = [table.c.id == row_id, table.c.deleted == 0]
    if scope_host is not None:
        conditions.append(table.c.host == scope_host)
    returning = connection.dialect.update_returning
    # SQL expressions first: MySQL and MariaDB evaluate SET left to right
    # with the values already assigned, so a CASE on report_count must
    # read the old count before report_count is set.
    ordered = sorted(values.items(), key=lambda item: not isinstance(
        item[1], sa.ColumnElement))
    statement = sa.update(table).where(*conditions).ordered_values(*ordered)
    if returning:
        statement = statement.returning(*table.c)
    try:
        result = connection.execute(statement)
    except db_exc.DBDuplicateEntry as e:
        raise exception.Conflict(
            reason='%s: another one has the same %s' % (
                resource, ', '.join(e.columns or ()) or 'key')) from None
    return _host_row_result(connection, table, row_id, result, returning,
                            scope_host, resource, not_found)


@core_writer
def service_destroy(context, service_id, *, scope_host=None):
    """Soft-delete a service; a ``nova-compute`` one takes its compute
    nodes (by service id or host) with it, unmapped, as in nova.

    :raises: ServiceNotFound, HostScopeViolation
    """
    connection = context.connection
    service = _one_service(
        context, exception.ServiceNotFound(service_id=service_id),
        _SERVICES.c.id == service_id, read_deleted='no')
    if scope_host is not None and service['host'] != scope_host:
        raise exception.HostScopeViolation(
            caller=scope_host, resource='service %s' % service_id,
            owner=service['host'])
    now = utcnow()
    connection.execute(sa.update(_SERVICES).where(
        _SERVICES.c.id == service_id, _SERVICES.c.deleted == 0).values(
        deleted=_SERVICES.c.id, deleted_at=now))
    if service['binary'] == 'nova-compute':
        nodes = models.ComputeNode.__table__
        owned = [nodes.c.host == service['host']]
        if 'service_id' in nodes.c:
            owned.append(nodes.c.service_id == service_id)
        values = {'deleted': nodes.c.id, 'deleted_at': now}
        if 'mapped' in nodes.c:
            values['mapped'] = 0
        connection.execute(sa.update(nodes).where(
            nodes.c.deleted == 0, sa.or_(*owned)).values(**values))
