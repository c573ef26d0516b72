"""Statement pieces that differ by database dialect.

Where a dialect can return the written row from the INSERT or UPDATE
(``RETURNING``: PostgreSQL, SQLite) it does; elsewhere (MariaDB) the row
is read back. Where it can aggregate an instance's metadata into the same
statement (PostgreSQL, SQLite) it does too; PostgreSQL then needs the
snapshot guard described below.
"""

import functools

import sqlalchemy as sa

from nova_proxy.db import _driver
from nova_proxy.db.api import _values
from nova_proxy.db import models


# The aggregate that returns an instance's (system) metadata with its row
# in one statement, as a JSON array of [key, value] pairs; elsewhere
# (MariaDB: JSON_ARRAYAGG needs 10.5) the metadata is a separate read
# (``_instance_rows``).
#
# Also in the statements that may wait for the instance's row lock (the
# UPDATE of the compare-and-swap, SELECT ... FOR UPDATE), so a dialect
# added here must be safe there too. SQLite starts every write
# transaction with the database's write lock (BEGIN IMMEDIATE): nothing
# commits between its reads and its writes. PostgreSQL needs a guard
# (SNAPSHOT_GUARDED): a statement that waited reads the locked row at
# its new version, but its subqueries on the snapshot it took before
# waiting, so it would return the metadata as it was before the call it
# waited for (tests/unit/db/test_concurrency.py shows it).
METADATA_AGGREGATES = {
    'postgresql': (sa.func.json_agg, sa.func.json_build_array),
    'sqlite': (sa.func.json_group_array, sa.func.json_array),
}
# Where a locking statement that carries the metadata also requires the
# row to be the version its snapshot saw (``unchanged_since_snapshot``).
# Every write of an instance's metadata updates its row in the same
# transaction, so a statement that waited for one matches nothing; the
# call then runs again without the metadata (the row, then a separate
# metadata read, on a new snapshot).
SNAPSHOT_GUARDED = frozenset(['postgresql'])


def unchanged_since_snapshot(table):
    """PostgreSQL: the row being locked or updated is the version this
    statement's snapshot saw. ``xmin`` names the transaction that wrote a
    row version; the condition is checked again on the new version after
    a wait for the row lock, and the subquery still reads the old one."""
    seen = table.alias('seen')
    return sa.literal_column(table.name + '.xmin') == sa.select(
        sa.literal_column('seen.xmin')).where(
            seen.c.id == table.c.id).scalar_subquery()


def returned_metadata(dialect_name, table):
    """The columns ``_md`` and ``_smd`` (metadata, system metadata) to add
    to a SELECT from or an UPDATE ... RETURNING of ``table`` (instances),
    or () where the dialect has no aggregate."""
    if dialect_name not in METADATA_AGGREGATES:
        return ()
    aggregate, pair = METADATA_AGGREGATES[dialect_name]
    return tuple(
        sa.select(aggregate(pair(model.key, model.value), type_=sa.JSON))
        .where(model.instance_uuid == table.c.uuid)
        .scalar_subquery().label(label)
        for label, model in (('_md', models.InstanceMetadata),
                             ('_smd', models.InstanceSystemMetadata)))


def pairs(value):
    """A ``returned_metadata`` column as a dict (no rows: NULL on
    PostgreSQL, an empty array on SQLite)."""
    return {key: item for key, item in value or ()}


def aggregating_dialect(dialect_name):
    """``dialect_name`` where a statement may bring the metadata with the
    row, else None."""
    return dialect_name if dialect_name in METADATA_AGGREGATES else None


def bound_values(table, fields):
    """The SET clause of ``fields``, each bound as ``v_<field>``: bound
    names may not be column names in an UPDATE."""
    return {table.c[field]: sa.bindparam('v_' + field,
                                         type_=table.c[field].type)
            for field in fields}


def value_params(values):
    """The parameters of ``bound_values`` for ``values``."""
    return {'v_' + field: value for field, value in values.items()}


def update_outcome(result, returning):
    """``(matched, row)`` of an UPDATE of one row: the row RETURNING gave,
    or None where the dialect returns nothing and the row count says
    whether it matched."""
    if returning:
        row = result.first()
        return row is not None, row
    return result.rowcount == 1, None


def written_row(connection, table, row_id, row):
    """The dict of the row ``row_id`` just written: ``row`` as RETURNING
    gave it, or read back where the dialect returns nothing (MariaDB)."""
    if row is None:
        row = _driver.execute(connection, _row_by_id(table),
                              {'r_id': row_id}).one()
    return _values.row_to_dict(row, table.c.keys())


# The INSERT and UPDATE of one row, built once per table and shape, the
# values given as parameters: a statement built for each call with its
# values cost as much CPU again as running it (action events are among
# the frequent writes). Values that are SQL expressions still get a
# statement built for the call.

@functools.lru_cache(maxsize=256)
def _row_by_id(table):
    return sa.select(*table.c).where(table.c.id == sa.bindparam('r_id'))


@functools.lru_cache(maxsize=256)
def _insert(table, returning):
    statement = sa.insert(table)
    return statement.returning(*table.c) if returning else statement


@functools.lru_cache(maxsize=1024)
def _update_by_id(table, fields, returning):
    statement = sa.update(table).where(
        table.c.id == sa.bindparam('w_id')).values(
            bound_values(table, fields))
    return statement.returning(*table.c) if returning else statement


def _plain(values):
    return not any(isinstance(value, sa.ClauseElement)
                   for value in values.values())


def insert_row(connection, table, values):
    """Insert ``values`` into ``table``; returns the new row's dict."""
    returning = connection.dialect.insert_returning
    if _plain(values):
        result = _driver.execute(connection, _insert(table, returning),
                                 values)
    else:
        statement = sa.insert(table).values(**values)
        result = connection.execute(
            statement.returning(*table.c) if returning else statement)
    if returning:
        return written_row(connection, table, None, result.one())
    return written_row(connection, table, result.inserted_primary_key[0],
                       None)


def update_by_id(connection, table, row_id, values, returning=False):
    """Execute the UPDATE of the row ``row_id`` of ``table`` with
    ``values`` (``returning``: the row's columns); returns its result."""
    if _plain(values):
        return _driver.execute(
            connection,
            _update_by_id(table, tuple(sorted(values)), returning),
            dict(value_params(values), w_id=row_id))
    statement = sa.update(table).where(table.c.id == row_id).values(**values)
    return connection.execute(
        statement.returning(*table.c) if returning else statement)


def update_row(connection, table, row_id, values):
    """Update the row ``row_id`` of ``table`` with ``values``; returns the
    row's dict as written."""
    returning = connection.dialect.update_returning
    result = update_by_id(connection, table, row_id, values, returning)
    return written_row(connection, table, row_id,
                       result.one() if returning else None)
