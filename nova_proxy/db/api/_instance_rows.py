"""Instance rows with their metadata, shared by the instance modules.

The fields an instance has on the wire, the prebuilt statements that read
one instance or many, with their metadata and system metadata, and the
write of a metadata dict.
"""

import functools

import sqlalchemy as sa

from nova_proxy.db import _driver
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _values
from nova_proxy.db import models


_string, _count, _time = (_values.string, _values.count,
                          _values.parse_time)
INSTANCE_FIELDS = {
    'host': _string, 'node': _string, 'launched_on': _string,
    'availability_zone': _string, 'vm_state': _string, 'task_state': _string,
    'power_state': _count, 'instance_type_id': _count,
    'instance_type_name': _string, 'memory_mb': _count, 'vcpus': _count,
    'root_gb': _count, 'ephemeral_gb': _count, 'image_ref': _string,
    'display_name': _string, 'hostname': _string,
    'progress': _values.percent,
    'launched_at': _time, 'terminated_at': _time,
    'metadata': _values.metadata,
    'system_metadata': _values.system_metadata,
}
INSTANCE_CREATE_FIELDS = dict(INSTANCE_FIELDS, uuid=_values.uuid_field,
                              user_id=_string,
                              project_id=_string)
INSTANCE_UPDATABLE_FIELDS = frozenset(INSTANCE_FIELDS)
INSTANCE_PROTECTED_FIELDS = frozenset(
    ['id', 'uuid', 'created_at', 'updated_at', 'deleted', 'deleted_at',
     'user_id', 'project_id'])
INSTANCE_COLUMNS = _values.columns(models.Instance)


# The instance after a compare-and-swap, as prebuilt Core statements: about
# a third less CPU per instance_update than loading the ORM object with its
# two selectin relationships (measured, see docs/benchmark.rst). The row is
# read only where the UPDATE cannot return it (MariaDB).
LOCK_INSTANCE = sa.select(models.Instance.id).where(
    models.Instance.uuid == sa.bindparam('uuid'),
    models.Instance.deleted == 0).with_for_update()

INSTANCE_ROW = sa.select(
    *[getattr(models.Instance, name) for name in INSTANCE_COLUMNS]).where(
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
CHUNK = 1000
_ALL_METADATA_IN = _all_metadata(
    lambda model: model.instance_uuid.in_(
        sa.bindparam('uuids', expanding=True)))


def with_metadata(row, metadata, system_metadata):
    """The instance dict of an instance row, with these metadata dicts."""
    result = _values.row_to_dict(row, INSTANCE_COLUMNS)
    result['metadata'] = metadata
    result['system_metadata'] = system_metadata
    return result


def with_returned_metadata(row):
    """The instance dict of a row that carries
    ``_dialect.returned_metadata``."""
    return with_metadata(row, _dialect.pairs(row._md),
                         _dialect.pairs(row._smd))


def instance_dicts(connection, rows):
    """Instance dicts from instance rows (``INSTANCE_COLUMNS`` order),
    with their metadata read in one statement on ``connection``."""
    result = []
    for row in rows:
        item = _values.row_to_dict(row, INSTANCE_COLUMNS)
        item['metadata'], item['system_metadata'] = {}, {}
        result.append(item)
    return fill_metadata(connection, result)


def fill_metadata(connection, instances):
    """Fill the ``metadata`` and ``system_metadata`` dicts of
    ``instances`` (dicts with a ``uuid``), in place: one statement per
    thousand instances. Returns ``instances``."""
    by_uuid = {item['uuid']: item for item in instances}
    if len(instances) == 1:
        reads = [connection.execute(_ALL_METADATA,
                                    {'uuid': instances[0]['uuid']})]
    else:
        # In chunks: a whole cloud's list must not exceed the bound
        # parameters a backend takes in one statement (SQLite: 32,766).
        uuids = list(by_uuid)
        reads = (connection.execute(
            _ALL_METADATA_IN, {'uuids': uuids[start:start + CHUNK]})
            for start in range(0, len(uuids), CHUNK))
    for metadata in reads:
        for kind, instance_uuid, key, value in metadata:
            item = by_uuid[instance_uuid]
            item['system_metadata' if kind else 'metadata'][key] = value
    return instances


def replace_metadata(connection, model, instance_uuid, metadata, now):
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


@functools.lru_cache(maxsize=8)
def _instance_read(metadata_from, locked):
    """The read of one live instance (bound ``uuid``), with its metadata
    as ``_dialect.returned_metadata`` columns where ``metadata_from``
    names a dialect that aggregates them; ``locked``: ``SELECT ... FOR
    UPDATE``."""
    table = models.Instance.__table__
    statement = INSTANCE_ROW.add_columns(
        *_dialect.returned_metadata(metadata_from, table))
    if not locked:
        return statement
    if metadata_from in _dialect.SNAPSHOT_GUARDED:
        statement = statement.where(_dialect.unchanged_since_snapshot(table))
    return statement.with_for_update()


def read_instance(connection, instance_uuid, locked=False):
    """The live instance ``instance_uuid`` as a dict, or None: one
    statement where the dialect aggregates the metadata (``locked``:
    under the row lock, guarded where ``_dialect.SNAPSHOT_GUARDED``), else
    the row and a metadata read. One statement also reads the row and its
    metadata from one snapshot."""
    metadata_from = _dialect.aggregating_dialect(connection.dialect.name)
    row = _driver.execute(connection, _instance_read(metadata_from, locked),
                          {'uuid': instance_uuid}).first()
    if row is None and locked and metadata_from in _dialect.SNAPSHOT_GUARDED:
        # Gone, or changed while this statement waited for its lock.
        metadata_from = None
        row = _driver.execute(connection, _instance_read(None, locked),
                              {'uuid': instance_uuid}).first()
    if row is None:
        return None
    if metadata_from is None:
        return instance_dicts(connection, [row])[0]
    return with_returned_metadata(row)
