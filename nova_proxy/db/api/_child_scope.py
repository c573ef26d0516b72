"""Host scope of an instance's children (block device mappings, info
cache, extra, tags): they belong to the instance's host, and to the other
end of a migration of the instance in progress (``_scope.SCOPE_CONDITION``).

Writes need the live instance in the caller's scope, its row locked
until the write's transaction ends (``lock_live``: an INSERT of a child
row cannot carry the condition, and the instance must not move between
the check and the insert), and an UPDATE or DELETE of a child row carries
the condition in its WHERE clause too (``scoped_write``).

Reads also reach the children of a soft-deleted instance that was the
caller's: nova-compute reads the block devices of the deleted instances it
still finds on its host, and nova answers them (with no live rows) rather
than refuses.

A refusal names what was refused (``resource``: a format where
``%(instance)s`` is the instance's uuid), the instance by default.
"""

import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _scope
from nova_proxy.db import models

_INSTANCES = models.Instance.__table__

# Instances of ``uuids`` (live or soft-deleted) outside the caller's scope.
# A CASE, not NOT: the condition is NULL, not false, for an instance of no
# host, which is no compute host's.
_OUT_OF_SCOPE = sa.select(_INSTANCES.c.uuid, _INSTANCES.c.host).where(
    _INSTANCES.c.uuid.in_(sa.bindparam('uuids', expanding=True)),
    sa.case((_scope.SCOPE_CONDITION, 0), else_=1) == 1).limit(1)


def check_live(connection, instance_uuid, scope_host, resource=None):
    """The live instance exists and, for a confined caller, is in its
    scope.

    :raises: InvalidUUID, InstanceNotFound, HostScopeViolation
    """
    _scope.scoped_instance(connection, instance_uuid, scope_host,
                           resource=resource)


def lock_live(connection, instance_uuid, scope_host, resource=None):
    """``check_live`` for a write: the instance's row stays locked until
    the transaction ends, so it stays in the caller's scope (and live)
    until the write is committed.

    :raises: InvalidUUID, InstanceNotFound, HostScopeViolation
    """
    _scope.scoped_instance(connection, instance_uuid, scope_host,
                           lock=True, resource=resource)


def check_readable(connection, instance_uuids, scope_host, resource=None):
    """For a confined caller, none of ``instance_uuids`` that exists (live
    or soft-deleted) is outside its scope; instances that do not exist have
    no children to protect.

    :raises: HostScopeViolation
    """
    if scope_host is None or not instance_uuids:
        return
    row = connection.execute(_OUT_OF_SCOPE, {
        'uuids': list(instance_uuids), 'scope_host': scope_host}).first()
    if row is not None:
        raise _scope.violation(scope_host, row.uuid, resource, row.host)


def in_scope(instance_uuid_column):
    """A condition on a child table: its instance is in the scope of the
    bound ``scope_host``."""
    return instance_uuid_column.in_(
        sa.select(_INSTANCES.c.uuid).where(_scope.SCOPE_CONDITION))


# The live instance is in the scope of the bound ``scope_host``.
_LIVE_IN_SCOPE = sa.select(_INSTANCES.c.uuid).where(
    _INSTANCES.c.deleted == 0, _scope.SCOPE_CONDITION)


def scoped_write(connection, statement, instance_uuid_column,
                 instance_uuid, scope_host, resource=None):
    """Execute the UPDATE or DELETE ``statement`` of child rows; for a
    confined caller with the live instance in its scope as a condition of
    the statement. When that matched nothing, the instance is checked
    again (``check_live``), which raises if it left the caller's scope.
    Returns the result."""
    if scope_host is None:
        return connection.execute(statement)
    result = connection.execute(
        statement.where(instance_uuid_column.in_(_LIVE_IN_SCOPE)),
        {'scope_host': scope_host})
    if not result.rowcount:
        check_live(connection, instance_uuid, scope_host, resource)
    return result


def checked_uuid(instance_uuid):
    """``instance_uuid`` if it is a string; nova's queries take any, and a
    non-string is the caller's mistake, refused by name."""
    if not isinstance(instance_uuid, str):
        raise exception.InvalidUUID(uuid=instance_uuid)
    return instance_uuid


def soft_delete_children(connection, instance_uuid, now):
    """What nova's ``instance_destroy`` does to the children of an
    instance: its info cache, extra and block device mappings are
    soft-deleted, its tags hard-deleted. For the caller's transaction
    (``instance_destroy``)."""
    for model in (models.InstanceInfoCache, models.InstanceExtra,
                  models.BlockDeviceMapping):
        table = model.__table__
        connection.execute(sa.update(table).where(
            table.c.instance_uuid == instance_uuid,
            table.c.deleted == 0).values(
            deleted=table.c.id, deleted_at=now))
    tags = models.Tag.__table__
    connection.execute(sa.delete(tags).where(
        tags.c.resource_id == instance_uuid))
