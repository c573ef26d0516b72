"""Migrations in the DB API (``db/api/migrations.py``), on SQLite,
PostgreSQL and MariaDB."""

import pytest

from nova_proxy.common import states
from nova_proxy.db import api
from nova_proxy.db.api import _values
from nova_proxy import exception
from tests.unit.db import factories


def test_migration_create_get_update(db_all, admin_context):
    inst = factories.instance(admin_context, host='src')
    mig = factories.migration(
        admin_context, inst['uuid'], migration_type='resize',
        old_instance_type_id=1, new_instance_type_id=2)
    assert isinstance(mig['id'], int)
    assert _values.validate_uuid(mig['uuid']) is None
    assert (mig['status'], mig['migration_type'], mig['deleted']) == (
        'pre-migrating', 'resize', 0)
    factories.iso(mig['created_at'])
    assert api.migration_get(admin_context, mig['id']) == mig
    new = api.migration_update(admin_context, mig['id'],
                               {'status': 'migrating', 'progress': 40})
    assert (new['status'], new['progress']) == ('migrating', 40)
    assert factories.iso(new['updated_at']) >= factories.iso(mig['updated_at'])
    assert api.migration_get(admin_context, mig['id']) == new
    assert [m['id'] for m in api.migration_get_by_instance(
        admin_context, inst['uuid'])] == [mig['id']]


def test_migration_errors(db_all, admin_context):
    inst = factories.instance(admin_context, host='src')
    for bad_id in (999999, 'abc', None, True):
        with pytest.raises(exception.MigrationNotFound):
            api.migration_get(admin_context, bad_id)
        with pytest.raises(exception.MigrationNotFound):
            api.migration_update(admin_context, bad_id, {'status': 'x'})
    with pytest.raises(exception.InvalidUpdate) as e:
        api.migration_create(admin_context, {'status': 'x'})
    assert e.value.kwargs['field'] == 'instance_uuid'
    with pytest.raises(exception.InvalidUUID):
        api.migration_create(admin_context, {'instance_uuid': 'nope'})
    mig = factories.migration(admin_context, inst['uuid'])
    for field in ('id', 'uuid', 'deleted', 'bogus'):
        with pytest.raises(exception.InvalidUpdate) as e:
            api.migration_update(admin_context, mig['id'],
                                 {'status': 'done', field: 1})
        assert e.value.kwargs['field'] == field
    with pytest.raises(exception.InvalidUpdate) as e:
        api.migration_update(admin_context, mig['id'], {'hidden': 'yes'})
    assert api.migration_get(admin_context, mig['id']) == mig


def test_migration_in_progress_by_host_and_node(db_all, admin_context):
    inst = factories.instance(admin_context, host='src')
    out = factories.migration(admin_context, inst['uuid'], status='migrating')
    into = factories.migration(
        admin_context, inst['uuid'], source_compute='other',
        source_node='other-n', dest_compute='src', dest_node='src-n',
        status='post-migrating')
    factories.migration(
        admin_context, inst['uuid'], source_node='another-node')
    for status in states.MIGRATION_DONE_STATUSES:
        factories.migration(admin_context, inst['uuid'], status=status)
    assert [m['id'] for m in
            api.migration_get_in_progress_by_host_and_node(
                admin_context, 'src', 'src-n')] == [out['id'], into['id']]
    assert [m['id'] for m in
            api.migration_get_in_progress_by_host_and_node(
                admin_context, 'dst', 'dst-n')][0] == out['id']
    assert api.migration_get_in_progress_by_host_and_node(
        admin_context, 'src', 'nowhere') == []
    api.migration_update(admin_context, out['id'], {'status': 'confirmed'})
    assert [m['id'] for m in
            api.migration_get_in_progress_by_host_and_node(
                admin_context, 'src', 'src-n')] == [into['id']]
