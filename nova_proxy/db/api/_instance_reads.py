"""Reading instance rows into the dicts nova's instance calls return,
shared by the instance modules (``instances``, ``instance_lists``,
``instance_metadata``).

An instance dict is its columns (``_instance_rows.INSTANCE_COLUMNS``) with
the joins asked for (``_instance_joins``). The host scope of a confined
caller is a condition of the statement (``_scope.SCOPE_CONDITION``, with
its bound ``scope_host``: ``params``).
"""

import sqlalchemy as sa

from nova_proxy.db.api import _instance_joins as _joins
from nova_proxy.db.api import _instance_rows
from nova_proxy.db.api import _scope
from nova_proxy.db.api import _values
from nova_proxy.db import models

__all__ = ['INSTANCES', 'COLUMNS', 'select', 'params', 'dicts',
           'row_dicts', 'project_only', 'scoped']

INSTANCES = models.Instance.__table__
COLUMNS = [INSTANCES.c[name] for name in _instance_rows.INSTANCE_COLUMNS]


def select(*conditions, read_deleted='no', context=None):
    """The instance columns of the rows matching ``conditions`` and the
    context's (or ``read_deleted``'s) deletion filter."""
    return sa.select(*COLUMNS).where(
        *_values.read_deleted_filter(context, INSTANCES, read_deleted),
        *conditions)


def params(scope_host):
    """The execution parameters of a statement with ``scoped``."""
    # Only where the statement has the parameter: an UPDATE takes any
    # other key for a column to set.
    return {'scope_host': scope_host} if scope_host is not None else {}


def dicts(connection, statement, joins, parameters=None):
    """The instance dicts of ``statement``'s rows, with ``joins``."""
    return row_dicts(connection, connection.execute(
        statement, parameters or {}).all(), joins)


def row_dicts(connection, rows, joins):
    """``rows`` of instance columns as instance dicts, with ``joins``."""
    if not rows:
        return []
    if joins.metadata:
        instances = _instance_rows.instance_dicts(connection, rows)
    else:
        instances = [_values.row_to_dict(row, _instance_rows.INSTANCE_COLUMNS)
                     for row in rows]
    return _joins.fill(connection, instances, joins)


def owner(context):
    """Whose instances a caller sees under nova's ``project_only``: None
    for an admin, else ``(column, value)``: its project, or without one
    its user (a None user matches SQL's NULL)."""
    if getattr(context, 'is_admin', True):
        return None
    project_id = getattr(context, 'project_id', None)
    if project_id:
        return 'project_id', project_id
    return 'user_id', getattr(context, 'user_id', None)


def project_only(context):
    """nova's ``project_only``: a caller that is not admin sees its
    project's instances."""
    found = owner(context)
    if found is None:
        return []
    column, value = found
    return [INSTANCES.c[column] == value]


def scoped(scope_host):
    """The condition that an instance is in ``scope_host``'s scope, as a
    list to unpack into a WHERE clause: empty for an unconfined caller."""
    return [_scope.SCOPE_CONDITION] if scope_host is not None else []
