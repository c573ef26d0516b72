"""Rows of the per-host tables (services, compute nodes).

A row belongs to its ``host``: a caller confined to ``scope_host`` updates
only its own rows, in one UPDATE whose condition carries the host, and may
not move a row to another host.
"""

import functools

from oslo_db import exception as db_exc
from oslo_utils import uuidutils
import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _values
from nova_proxy.db import session as db_session


CREATE_PROTECTED = ('id', 'created_at', 'updated_at', 'deleted',
                    'deleted_at')
UPDATE_PROTECTED = CREATE_PROTECTED + ('uuid',)


def create_host_row(connection, table, values, allowed, required, exists):
    """Insert a row of a per-host table (services, compute nodes); returns
    the new row's dict.

    :param required: fields that must be given and not empty.
    :param exists: the error class for a duplicate, built from the
        ``required`` fields.
    """
    values = _values.check_values(values, allowed,
                                  protected=CREATE_PROTECTED, table=table)
    _values.require(values, *required)
    values.setdefault('uuid', uuidutils.generate_uuid())
    now = db_session.utcnow()
    try:
        return _dialect.insert_row(connection, table, dict(
            values, created_at=now, updated_at=now, deleted=0))
    except db_exc.DBDuplicateEntry:
        raise exists(**{field: values[field] for field in required})


def host_row_where(table, scoped):
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
        *host_row_where(table, scoped)).values(
            _dialect.bound_values(table, fields))
    if returning:
        statement = statement.returning(*table.c)
    return statement


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


def update_host_row(connection, model, row_id, values, scope_host,
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
    values['updated_at'] = db_session.utcnow()
    params = dict(_dialect.value_params(values), w_id=row_id,
                  scope_host=scope_host)
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
    return host_row_result(connection, table, row_id, result, returning,
                           scope_host, resource, not_found)


def host_row_result(connection, table, row_id, result, returning,
                    scope_host, resource, not_found):
    """The row an UPDATE by id wrote, as a dict; a miss is explained by
    ``_host_row_miss``."""
    matched, row = _dialect.update_outcome(result, returning)
    if not matched:
        _host_row_miss(connection, table, row_id, scope_host, resource,
                       not_found)
    return _dialect.written_row(connection, table, row_id, row)


def update_nova_host_row(connection, table, row_id, values, scope_host,
                         resource, not_found):
    """As ``update_host_row``, for the 2.x calls: ``values`` may hold SQL
    expressions (nova's ``service_update`` sets ``last_seen_up`` by a
    CASE on the stored ``report_count``), so the statement is built for
    the call rather than cached by shape."""
    if isinstance(row_id, bool) or not isinstance(row_id, int):
        raise not_found()
    if scope_host is not None and \
            values.get('host', scope_host) != scope_host:
        _host_row_miss(connection, table, row_id, scope_host, resource,
                       not_found)
    values.setdefault('updated_at', db_session.utcnow())
    conditions = [table.c.id == row_id, table.c.deleted == 0]
    if scope_host is not None:
        conditions.append(table.c.host == scope_host)
    # SQL expressions first: MySQL and MariaDB evaluate SET left to right
    # with the values already assigned, so a CASE on report_count must
    # read the old count before report_count is set.
    ordered = sorted(values.items(), key=lambda item: not isinstance(
        item[1], sa.ColumnElement))
    statement = sa.update(table).where(*conditions).ordered_values(*ordered)
    returning = connection.dialect.update_returning
    if returning:
        statement = statement.returning(*table.c)
    try:
        result = connection.execute(statement)
    except db_exc.DBDuplicateEntry as e:
        raise exception.Conflict(
            reason='%s: another one has the same %s' % (
                resource, ', '.join(e.columns or ()) or 'key')) from None
    return host_row_result(connection, table, row_id, result, returning,
                           scope_host, resource, not_found)
