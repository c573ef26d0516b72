"""nova's volume usage cache: the I/O counters of an attached volume,
which nova-compute refreshes periodically and on detach."""

import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _scope
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session

_USAGE = models.VolumeUsage.__table__
_COUNTERS = ('reads', 'read_bytes', 'writes', 'write_bytes')
# What a confined caller is refused.
_USAGE_OF = 'the volume usage of instance %(instance)s'


@db_session.core_writer
def vol_usage_update(context, id, rd_req, rd_bytes, wr_req, wr_bytes,
                     instance_id, project_id, user_id, availability_zone,
                     update_totals=False, *, scope_host=None):
    """Record a volume's counters, as nova does: the current ones, or (on
    detach, ``update_totals``) added to the totals. Counters lower than
    the stored current ones mean the instance restarted: the stored ones
    go to the totals first. Creates the row when there is none.

    For a caller confined to ``scope_host``, ``instance_id`` must be in
    its scope, and so must the instance of a row already there (a host
    may not take over another instance's volume record).

    :returns: the row.
    :raises: InstanceNotFound, InvalidUUID, HostScopeViolation,
        InvalidUpdate
    """
    connection = context.connection
    # The instance's row locked: it stays in the caller's scope until the
    # record is written.
    _scope.scoped_instance(connection, instance_id, scope_host, lock=True,
                           resource=_USAGE_OF)
    given = dict(zip(_COUNTERS, (rd_req, rd_bytes, wr_req, wr_bytes)))
    checked = _values.check_nova_values(_USAGE, dict(
        volume_id=id, instance_uuid=instance_id, project_id=project_id,
        user_id=user_id, availability_zone=availability_zone,
        **{'curr_' + name: value for name, value in given.items()}))
    for name, value in given.items():
        if value < 0:
            raise exception.InvalidUpdate(field=name,
                                          reason='may not be negative')
    u = _USAGE.c
    current = connection.execute(sa.select(_USAGE).where(
        u.volume_id == id).order_by(u.id).limit(1).with_for_update()).first()
    now = db_session.utcnow()
    if current is None:
        prefix = 'tot_' if update_totals else 'curr_'
        values = dict(volume_id=id, instance_uuid=instance_id,
                      project_id=project_id, user_id=user_id,
                      availability_zone=availability_zone,
                      created_at=now, deleted=0,
                      **{prefix + 'last_refreshed': now},
                      **{prefix + n: checked['curr_' + n]
                         for n in _COUNTERS})
        return _dialect.insert_row(connection, _USAGE, values)
    if current.instance_uuid not in (None, instance_id):
        _scope.scoped_instance(connection, current.instance_uuid,
                               scope_host, lock=True, resource=_USAGE_OF)
    restarted = any(given[n] < (getattr(current, 'curr_' + n) or 0)
                    for n in _COUNTERS)
    values = dict(instance_uuid=instance_id, project_id=project_id,
                  user_id=user_id, availability_zone=availability_zone,
                  updated_at=now)
    if update_totals:
        values['tot_last_refreshed'] = now
        for n in _COUNTERS:
            added = given[n]
            if restarted:
                added += getattr(current, 'curr_' + n) or 0
            values['tot_' + n] = sa.func.coalesce(
                getattr(u, 'tot_' + n), 0) + added
            values['curr_' + n] = 0
    else:
        values['curr_last_refreshed'] = now
        for n in _COUNTERS:
            values['curr_' + n] = given[n]
            if restarted:
                values['tot_' + n] = sa.func.coalesce(
                    getattr(u, 'tot_' + n), 0) + (
                    getattr(current, 'curr_' + n) or 0)
    return _dialect.update_row(connection, _USAGE, current.id, values)
