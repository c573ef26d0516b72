"""Host scope in SQL: what a compute host confined to ``scope_host``
may reach.

An instance is in a host's scope while it is on that host or migrating to
or from it (a migration not in ``MIGRATION_DONE_STATUSES``).
"""

import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _values
from nova_proxy.db import models


# Migration statuses after which a migration is no longer in progress.
MIGRATION_DONE_STATUSES = ('confirmed', 'reverted', 'error', 'failed',
                           'completed', 'done', 'cancelled')


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
              for status in MIGRATION_DONE_STATUSES],
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


# The instance's host, and whether it is in the scope of ``scope_host``
# (on that host or migrating to or from it): one statement, without loading
# the instance and its metadata.
_INSTANCE_SCOPE = sa.select(
    models.Instance.host,
    sa.case((SCOPE_CONDITION, 1), else_=0)).where(
        models.Instance.uuid == sa.bindparam('uuid'),
        models.Instance.deleted == 0)


def scoped_instance(connection, instance_uuid, scope_host):
    """Check that the live instance exists and, for a caller confined to
    ``scope_host``, is in its scope.

    :raises: InvalidUUID, InstanceNotFound, HostScopeViolation
    """
    _values.validate_uuid(instance_uuid)
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
