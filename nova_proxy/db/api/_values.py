"""Checking and converting the values callers give, and rows to dicts.

Every writer checks its ``values`` with ``check_values`` against a table
of field converters (``integer``, ``string``, ``text``, ...) and the
columns of its table, so a value no backend can store is refused by name,
the same on SQLite, PostgreSQL and MariaDB. ``row_to_dict`` gives a row as
the wire carries it: times as ISO 8601 UTC strings.
"""

import datetime
import functools
import re

import sqlalchemy as sa

from nova_proxy.common import utils
from nova_proxy.db import _driver
from nova_proxy import exception


def to_iso(value):
    if value is None:
        return None
    if value.__class__ is datetime.datetime and value.tzinfo is None:
        # The same text as below for the naive UTC times the database
        # gives, in a third of the CPU (an instance has six).
        return value.isoformat() + '+00:00'
    return value.replace(tzinfo=datetime.timezone.utc).isoformat()


def parse_time(value):
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


def integer(value):
    if value is None:
        return None
    # "5" is refused too: a caller that sends text where a number belongs
    # has a bug worth seeing.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError('not an integer')
    if not _INT_MIN <= value <= _INT_MAX:
        raise ValueError('out of range')
    return value


def text(value):
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError('not a string')
    problem = utils.text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def string(value):
    value = text(value)
    if value is not None and len(value) > 255:
        raise ValueError('longer than 255 characters')
    return value


def truncated(value):
    """A string column where a long value is cut, as nova cuts fault
    messages, rather than refused."""
    value = text(value)
    return value[:255] if value is not None else None


def boolean(value):
    if not isinstance(value, bool):
        raise ValueError('not a boolean')
    return value


def metadata_dict(value):
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
            text(key)
        except ValueError as e:
            raise ValueError('key %r %s' % (key, e)) from None
        if item is not None and not isinstance(item, (str, int, float, bool)):
            raise ValueError('value of %r is not a scalar' % key)
        result[key] = None if item is None else text(str(item))
        if result[key] is not None and len(result[key]) > METADATA_LENGTH:
            raise ValueError('value of %r is longer than %d characters'
                             % (key, METADATA_LENGTH))
    return result


# -- bounds: what no caller may store, whatever it claims -----------------

# nova's metadata tables hold keys and values of up to 255 characters.
METADATA_LENGTH = 255
# nova's quota allows 128 metadata items per instance by default
# ([quota] metadata_items); an instance that has more did not come
# through nova's API. System metadata also carries the image properties
# and flavor details nova copies into it: more room, still bounded.
METADATA_MAX_ITEMS = 128
SYSTEM_METADATA_MAX_ITEMS = 512


def _non_negative(convert):
    """``convert``, and refused below zero."""
    def check(value):
        value = convert(value)
        if value is not None and value < 0:
            raise ValueError('is negative')
        return value
    return check


# An integer that counts or sizes something (memory_mb, vcpus, root_gb,
# ids, ...): never negative.
count = _non_negative(integer)


def percent(value):
    value = integer(value)
    if value is not None and not 0 <= value <= 100:
        raise ValueError('not between 0 and 100')
    return value


def _bounded_metadata(max_items):
    def convert(value):
        if isinstance(value, dict) and len(value) > max_items:
            raise ValueError('more than %d items' % max_items)
        return metadata_dict(value)
    return convert


metadata = _bounded_metadata(METADATA_MAX_ITEMS)
system_metadata = _bounded_metadata(SYSTEM_METADATA_MAX_ITEMS)
# The converter of each of an instance's metadata dicts, by its key.
METADATA_CONVERTERS = {'metadata': metadata,
                       'system_metadata': system_metadata}


# What str(uuid.UUID(value)) gives back: lower-case hex, dashed 8-4-4-4-12.
_CANONICAL_UUID = re.compile(
    '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')


def canonical_uuid(value):
    """True if ``value`` is a UUID as nova stores it: lower case, dashed.
    Upper case, braces or no dashes would store a second row for one
    UUID that canonical reads never find."""
    return isinstance(value, str) and _CANONICAL_UUID.fullmatch(value) \
        is not None


def uuid_field(value):
    """A UUID field of a create or update: canonical, or InvalidUUID."""
    if value is not None:
        validate_uuid(value)
    return value


def check_values(values, allowed, protected=(), table=None):
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


def validate_uuid(instance_uuid):
    if not canonical_uuid(instance_uuid):
        raise exception.InvalidUUID(uuid=instance_uuid)


def row_to_dict(row, columns):
    """``columns`` of ``row`` (an ORM object or a Core row) as the wire
    gives them: times as ISO 8601 strings."""
    if isinstance(row, sa.Row):
        # A Core row's values by name from one dict: a third of the CPU
        # of an attribute lookup per column (an instance has 57); that
        # dict is the result when it holds exactly ``columns``, in order.
        # A row may carry more than ``columns`` after them (the CAS's
        # metadata aggregates): zip() stops at the last of ``columns``.
        fields = row._fields
        wanted = tuple(columns)
        if fields[:len(wanted)] == wanted:
            values = dict(zip(wanted, row))
        else:
            values = dict(zip(fields, row))
            values = {name: values[name] for name in wanted}
        for name, value in values.items():
            if isinstance(value, datetime.datetime):
                values[name] = to_iso(value)
        return values
    get = functools.partial(getattr, row)
    result = {}
    for name in columns:
        value = get(name)
        if isinstance(value, datetime.datetime):
            value = to_iso(value)
        result[name] = value
    return result


def columns(model):
    return [c.key for c in sa.inspect(model).column_attrs]


def require(values, *fields):
    for field in fields:
        if not values.get(field):
            raise exception.InvalidUpdate(field=field,
                                          reason='the field is required')


# -- nova's values: checked against the columns' own types ---------------
#
# nova's ORM takes any column in ``values``; the 2.x calls check each
# against its column's type (and, with ``check_values(..., table=)``, its
# length and NULL), so a value nova's database would fail on or store as
# something else is refused by name instead.

def big_integer(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError('not an integer')
    if not -2 ** 63 <= value < 2 ** 63:
        raise ValueError('out of range')
    return value


def number(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError('not a number')
    return float(value)


def _boolean_or_null(value):
    # NULL is refused by name where the column takes none (_check_fits).
    return None if value is None else boolean(value)


def _one_of(choices):
    def convert(value):
        value = text(value)
        if value is not None and value not in choices:
            raise ValueError('not one of %s' % ', '.join(sorted(choices)))
        return value
    return convert


# nova's integer columns that count or size something: never negative
# (free_ram_mb, free_disk_gb and disk_available_least may be).
NON_NEGATIVE_COLUMNS = frozenset([
    'memory_mb', 'vcpus', 'root_gb', 'ephemeral_gb', 'swap', 'local_gb',
    'vcpus_used', 'memory_mb_used', 'local_gb_used', 'running_vms',
    'current_workload', 'report_count', 'version', 'power_state',
    'instance_type_id', 'old_instance_type_id', 'new_instance_type_id',
    'memory_total', 'memory_processed', 'memory_remaining', 'disk_total',
    'disk_processed', 'disk_remaining', 'volume_size',
])
# nova's columns that hold a UUID: canonical, as nova writes them.
UUID_COLUMNS = frozenset(['uuid', 'instance_uuid'])


def _converter(column):
    kind = column.type
    if column.key in UUID_COLUMNS:
        return uuid_field
    if column.key == 'progress' and isinstance(kind, sa.Integer):
        return percent
    convert = _type_converter(kind)
    if column.key in NON_NEGATIVE_COLUMNS and isinstance(kind, sa.Integer):
        return _non_negative(convert)
    return convert


def _type_converter(kind):
    if isinstance(kind, sa.Enum):
        return _one_of(frozenset(kind.enums))
    if isinstance(kind, sa.Boolean):
        return _boolean_or_null
    if isinstance(kind, sa.BigInteger):
        return big_integer
    if isinstance(kind, sa.Integer):
        return integer
    if isinstance(kind, sa.Float):
        return number
    if isinstance(kind, sa.DateTime):
        return parse_time
    return text


# Never written from values: a row's identity and its soft deletion.
NOVA_PROTECTED = frozenset(['id', 'deleted', 'deleted_at'])


@functools.lru_cache(maxsize=None)
def column_converters(table, protected=NOVA_PROTECTED):
    """Field name -> converter for every column of ``table`` but
    ``protected``, from the column's type."""
    return {c.key: _converter(c) for c in table.c if c.key not in protected}


def check_nova_values(table, values, protected=NOVA_PROTECTED):
    """``values`` checked and converted as nova's ORM would take them for
    ``table``: an unknown field, a bad type, text too long or NULL where
    the column takes none is ``InvalidUpdate`` naming the field.

    :param protected: a frozenset of fields never written from values.
    """
    return check_values(values, column_converters(table, protected),
                        protected=protected, table=table)


READ_DELETED_MODES = ('no', 'yes', 'only')


def read_deleted_mode(context, read_deleted=None):
    """``read_deleted``, else the context's, else ``no``.

    :raises: Invalid (nova's error) for anything but ``no``, ``yes`` or
        ``only``
    """
    mode = read_deleted or getattr(context, 'read_deleted', None) or 'no'
    if mode not in READ_DELETED_MODES:
        raise exception.Invalid(
            reason="read_deleted must be 'no', 'yes' or 'only', not %r"
                   % (mode,))
    return mode


def read_deleted_filter(context, table, read_deleted=None):
    """The conditions of nova's ``model_query`` for soft-deleted rows of
    ``table`` in ``read_deleted_mode(context, read_deleted)``."""
    mode = read_deleted_mode(context, read_deleted)
    if mode == 'no':
        return [table.c.deleted == 0]
    if mode == 'yes':
        return []
    return [table.c.deleted != 0]


def table_rows(context, table, *conditions, read_deleted=None, limit=None):
    """The rows of ``table`` that meet ``conditions`` and nova's soft-delete
    rule (``read_deleted_filter``), by id, as the wire's dicts."""
    statement = sa.select(table).where(
        *read_deleted_filter(context, table, read_deleted),
        *conditions).order_by(table.c.id)
    if limit is not None:
        statement = statement.limit(limit)
    return rows(context.connection, statement)


# Statements of ``table_rows_by``: (table, shape, read_deleted) ->
# statement. Shapes are a fixed set named in the code.
_BUILT = {}


def table_rows_by(context, table, shape, conditions, params,
                  read_deleted=None):
    """``table_rows`` of ``conditions(bind)``, a function that makes the
    conditions with ``bind(name)`` for each value of ``params``: the
    statement is built once per ``shape`` (a name the caller gives this
    function of conditions) and read_deleted mode, its values bound
    parameters, and run by ``_driver``. Building it at every call cost more
    CPU than running it (measured in-process on PostgreSQL for nova-compute's
    periodic reads). A None among ``params`` is compared as SQL's IS NULL,
    as the conditions with the values themselves do: that call builds its
    own statement."""
    if any(value is None for value in params.values()):
        return table_rows(context, table, *conditions(params.__getitem__),
                          read_deleted=read_deleted)
    mode = read_deleted_mode(context, read_deleted)
    key = (table.name, shape, mode)
    statement = _BUILT.get(key)
    if statement is None:
        statement = _BUILT[key] = sa.select(table).where(
            *read_deleted_filter(None, table, mode),
            *conditions(sa.bindparam)).order_by(table.c.id)
    return rows(context.connection, statement, params, run=_driver.execute)


def table_row(context, table, not_found, *conditions, read_deleted=None):
    """The first of ``table_rows``; else raise ``not_found``."""
    found = table_rows(context, table, *conditions,
                       read_deleted=read_deleted, limit=1)
    if not found:
        raise not_found
    return found[0]


def rows(connection, statement, params=None, run=None):
    """Every row of ``statement`` as the wire's dicts; ``run``: what
    executes it instead of ``connection.execute`` (``_driver.execute``)."""
    if run is None:
        result = connection.execute(statement, params or {})
        keys = list(result.keys())
        return [row_to_dict(row, keys) for row in result]
    return [row_to_dict(row, row._fields)
            for row in run(connection, statement, params or {})]
