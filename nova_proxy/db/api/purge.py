"""Hard-deleting what was soft-deleted long enough ago.

An instance goes with what hangs off it: metadata, faults, actions and
their events and migrations (tables without a foreign key to it), and,
through ``ON DELETE CASCADE``, nova's newer tables (extra, info cache,
tags, block device mappings, ...).
"""

import sqlalchemy as sa

from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session

__all__ = ['purge_deleted_instances']


@db_session.core_writer
def purge_deleted_instances(context, before, limit):
    """Hard-delete up to ``limit`` instances soft-deleted before ``before``,
    with their metadata, faults, actions and migrations (nova's
    ``instance_destroy`` soft-deleted those with it). Returns the purged
    uuids."""
    connection = context.connection
    rows = connection.execute(
        sa.select(models.Instance.id, models.Instance.uuid)
        .where(models.Instance.deleted != 0,
               models.Instance.deleted_at < _values.parse_time(before))
        .order_by(models.Instance.id).limit(limit)).all()
    uuids = [r.uuid for r in rows]
    if not uuids:
        return []
    for model in (models.InstanceMetadata, models.InstanceSystemMetadata,
                  models.InstanceFault, models.Migration):
        connection.execute(sa.delete(model).where(
            model.instance_uuid.in_(uuids)))
    action_ids = sa.select(models.InstanceAction.id).where(
        models.InstanceAction.instance_uuid.in_(uuids))
    connection.execute(sa.delete(models.InstanceActionEvent).where(
        models.InstanceActionEvent.action_id.in_(action_ids)))
    connection.execute(sa.delete(models.InstanceAction).where(
        models.InstanceAction.instance_uuid.in_(uuids)))
    connection.execute(sa.delete(models.Instance).where(
        models.Instance.id.in_([r.id for r in rows])))
    return uuids
