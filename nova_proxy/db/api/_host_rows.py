"""Rows of the per-host tables (services, compute nodes).

A row belongs to its ``host``: a caller confined to ``scope_host`` updates
only its own rows, in one UPDATE whose condition carries the host, and may
not move a row to another host.
"""

import functools

from oslo_db import exception as db_exc
import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db import _driver
from nova_proxy.db.api import _dialect
from nova_proxy.db import session as db_session


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
    shape: ``v_<field>`` for the new values, ``w_id`` and ``scope_host``.
    Building it for each call would cost the frequent
    ``compute_node_update`` as much CPU again as running it."""
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


def update_host_row(connection, table, row_id, values, scope_host,
                    resource, not_found, build=None):
    """Apply checked ``values`` to the live row ``row_id`` of a per-host
    table (services, compute nodes) in one UPDATE, confined to
    ``scope_host``: the row must be its own and stay its own. ``updated_at``
    is now unless ``values`` sets it. Returns the row's dict.

    The statement is cached by shape (which fields, scoped or not).

    :param not_found: raises the table's not-found error when called.
    :param build: ``build(fields, scoped, returning)``, the UPDATE for
        that shape (cached by the caller), binding the values as
        ``_host_row_update`` does; for a table whose update sets more
        than its values.
    :raises: HostScopeViolation, Conflict (a duplicate key)
    """
    if isinstance(row_id, bool) or not isinstance(row_id, int):
        raise not_found()
    if scope_host is not None and \
            values.get('host', scope_host) != scope_host:
        # Moving the row to another host: refused whoever owns it now.
        _host_row_miss(connection, table, row_id, scope_host, resource,
                       not_found)
    values.setdefault('updated_at', db_session.utcnow())
    scoped = scope_host is not None
    returning = connection.dialect.update_returning
    fields = tuple(sorted(values))
    if build is None:
        statement = _host_row_update(table, fields, scoped, returning)
    else:
        statement = build(fields, scoped, returning)
    params = dict(_dialect.value_params(values), w_id=row_id,
                  scope_host=scope_host)
    try:
        result = _driver.execute(connection, statement, params)
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
