"""Purging soft-deleted instances (``db/api/purge.py``), on SQLite,
PostgreSQL and MariaDB."""

import sqlalchemy as sa

from nova_proxy.db import api
from nova_proxy.db import models
from nova_proxy.db import session as db_session
from tests.unit.db import factories


def test_purge_deleted_instances(db_all, admin_context):
    keep = factories.instance(admin_context)
    old = factories.instance(
        admin_context, metadata={'a': '1'}, system_metadata={'b': '2'})
    api.instance_fault_create(admin_context, {'instance_uuid': old['uuid'],
                                              'message': 'boom'})
    factories.migration(admin_context, old['uuid'], status='confirmed')
    kept_migration = factories.migration(admin_context, keep['uuid'])
    api.instance_action_start(admin_context, {
        'instance_uuid': old['uuid'], 'action': 'create',
        'request_id': 'req-1'})
    api.action_event_start(admin_context, {
        'instance_uuid': old['uuid'], 'request_id': 'req-1',
        'event': 'build'})
    api.instance_destroy(admin_context, old['uuid'])
    assert api.purge_deleted_instances(
        admin_context, '2000-01-01T00:00:00Z', 10) == []
    assert api.purge_deleted_instances(
        admin_context, '2999-01-01T00:00:00Z', 10) == [old['uuid']]
    engine = db_session.get_engine()
    with engine.connect() as conn:
        for model in (models.Instance, models.InstanceMetadata,
                      models.InstanceSystemMetadata, models.InstanceFault,
                      models.InstanceAction, models.Migration):
            uuids = conn.execute(sa.select(
                model.uuid if model is models.Instance
                else model.instance_uuid)).scalars().all()
            assert old['uuid'] not in uuids
        assert conn.execute(sa.select(sa.func.count()).select_from(
            models.InstanceActionEvent)).scalar() == 0
    api.instance_get_by_uuid(admin_context, keep['uuid'])
    assert api.migration_get(admin_context, kept_migration['id'])[
        'instance_uuid'] == keep['uuid']
