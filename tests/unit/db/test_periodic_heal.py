"""The heal of a stuck instance (``db/api/periodic.py``) on nova's
columns: an instance moved back to a node gets that node's
``compute_id`` with it."""

from nova_proxy.db.api import periodic as db_periodic
from nova_proxy.db import api
from tests.unit.db import factories


def _heal_to(ctx, uuid, host, node):
    def plan(instance, operations, migrations, now):
        assert [m.status for m in migrations] == ['migrating']
        return db_periodic.Healing(
            values={'task_state': None, 'host': host, 'node': node},
            migrations={migrations[0].id: 'error'},
            fault_message='healed', fault_details='test', outcome='rb')
    return db_periodic.instance_heal(ctx, uuid, plan)


def test_a_heal_to_a_node_sets_its_compute_id(db_all, admin_context):
    source = factories.compute_node(admin_context, 'src', 'src-n')
    instance = factories.instance(admin_context, 'dst', 'dst-n',
                                  task_state='resize_migrating')
    migration = factories.migration(admin_context, instance['uuid'],
                                    status='migrating')
    assert _heal_to(admin_context, instance['uuid'], 'src', 'src-n') == 'rb'
    healed = api.instance_get_by_uuid(admin_context, instance['uuid'])
    assert (healed['host'], healed['node'], healed['compute_id'],
            healed['task_state']) == ('src', 'src-n', source['id'], None)
    assert api.migration_get(admin_context, migration['id'])['status'] == \
        'error'


def test_a_heal_to_an_unknown_node_clears_compute_id(db, admin_context):
    instance = factories.instance(admin_context, 'dst', 'dst-n',
                                  task_state='resize_migrating',
                                  compute_id=7)
    factories.migration(admin_context, instance['uuid'], status='migrating')
    _heal_to(admin_context, instance['uuid'], 'gone', 'gone-n')
    healed = api.instance_get_by_uuid(admin_context, instance['uuid'])
    assert (healed['host'], healed['compute_id']) == ('gone', None)
