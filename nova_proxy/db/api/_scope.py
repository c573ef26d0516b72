"""Host scope in SQL: what a compute host confined to ``scope_host``
may reach.

An instance is in a host's scope while it is on that host or migrating to
or from it (a migration not in ``MIGRATION_DONE_STATUSES``).
"""

import sqlalchemy as sa

from nova_proxy.common import states
from nova_proxy import exception
from nova_proxy.db import _driver
from nova_proxy.db.api import _values
from nova_proxy.db import models


# "The instance is on the caller's host or is migrating to or from it",
# built once with the host as the bound parameter ``scope_host`` given at
# execution: building it for every call was about a tenth of a proxy's CPU
# under load (measured, see docs/benchmark.rst).
SCOPE_CONDITION = sa.or_(
    models.Instance.host == sa.bindparam('scope_host'),
    models.Instance.uuid.in_(
        sa.select(models.Migration.instance_uuid).where(
            models.Migration.deleted == 0,
            # Not NOT IN (...): a literal list is rendered into the SQL
            # at every execution (an "expanding" parameter).
            *[models.Migration.status != status
              for status in states.MIGRATION_DONE_STATUSES],
            sa.or_(models.Migration.source_compute ==
                   sa.bindparam('scope_host'),
                   models.Migration.dest_compute ==
                   sa.bindparam('scope_host')))))


def check_host_move(connection, instance_uuid, scope_host, new_host):
    """A confined caller hands an instance to another host only as one end
    of a migration of it in progress, to the other end (nova's source
    sets the destination in ``resize_instance``). Its own host and None
    (giving the instance up) need no migration."""
    m = models.Migration
    found = connection.execute(
        sa.select(m.id).where(
            m.instance_uuid == instance_uuid, m.deleted == 0,
            m.status.not_in(states.MIGRATION_DONE_STATUSES),
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


# The instance's host, and whether it is in the scope of ``scope_host``
# (on that host or migrating to or from it): one statement, without loading
# the instance and its metadata.
_INSTANCE_SCOPE = sa.select(
    models.Instance.host,
    sa.case((SCOPE_CONDITION, 1), else_=0)).where(
        models.Instance.uuid == sa.bindparam('uuid'),
        models.Instance.deleted == 0)


# The same, also for a soft-deleted instance (the live row first): nova's
# compute cleans up after an instance it has just destroyed (its BDMs, its
# console tokens), and a soft-deleted instance is in the scope of the host
# it was on.
_ANY_INSTANCE_SCOPE = sa.select(
    models.Instance.host,
    sa.case((SCOPE_CONDITION, 1), else_=0)).where(
        models.Instance.uuid == sa.bindparam('uuid')).order_by(
        models.Instance.deleted).limit(1)

# For a write: the instance's row locked until the transaction ends, so
# that it cannot move to another host (or be deleted) between this check
# and the write it allows. PostgreSQL reads a row updated meanwhile again
# after the wait, and MariaDB's locking read reads the latest row;
# SQLite's writers hold the database's write lock from BEGIN IMMEDIATE.
_STATEMENTS = {
    (False, False): _INSTANCE_SCOPE,
    (True, False): _ANY_INSTANCE_SCOPE,
    (False, True): _INSTANCE_SCOPE.with_for_update(),
    (True, True): _ANY_INSTANCE_SCOPE.with_for_update(),
}


def scoped_instance(connection, instance_uuid, scope_host,
                    deleted_too=False, lock=False, resource=None):
    """Check that the live instance exists and, for a caller confined to
    ``scope_host``, is in its scope.

    :param deleted_too: a soft-deleted instance counts too (in the scope
        of the host it was on).
    :param lock: lock the instance's row until the transaction ends (a
        write's check: the instance stays where it is until the write is
        committed).
    :param resource: what the caller is refused, as
        HostScopeViolation's ``resource`` (``%(instance)s`` the instance's
        uuid); the instance by default.
    :raises: InvalidUUID, InstanceNotFound, HostScopeViolation
    """
    _values.validate_uuid(instance_uuid)
    row = _driver.execute(
        connection, _STATEMENTS[bool(deleted_too), bool(lock)],
        {'uuid': instance_uuid, 'scope_host': scope_host}).first()
    if row is None:
        raise exception.InstanceNotFound(instance_id=instance_uuid)
    host, in_scope = row
    if scope_host is not None and not in_scope:
        raise violation(scope_host, instance_uuid, resource, host)


def violation(scope_host, instance_uuid, resource=None, owner=None):
    """The HostScopeViolation of ``scope_host`` refused ``resource`` (the
    instance by default), a thing of instance ``instance_uuid``."""
    return exception.HostScopeViolation(
        caller=scope_host,
        resource=(resource or 'instance %(instance)s')
        % {'instance': instance_uuid}, owner=owner)


def instance_in_scope(uuid_column, scope_host):
    """The condition "the live instance ``uuid_column`` names is in the
    scope of ``scope_host``", for the rows of a list that a confined
    caller may see: none when ``scope_host`` is None."""
    if scope_host is None:
        return sa.true()
    return uuid_column.in_(
        sa.select(models.Instance.uuid).where(
            models.Instance.deleted == 0,
            SCOPE_CONDITION).params(scope_host=scope_host))
