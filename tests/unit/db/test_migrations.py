"""Migrations in the DB API (``db/api/migrations.py``), on SQLite,
PostgreSQL and MariaDB: the 1.x calls, and nova's (wire 2.x) with the
results and errors nova's own DB API gives."""

from oslo_utils import uuidutils
import pytest
import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy.common import states
from nova_proxy.db import api
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session
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


# -- nova's calls (wire 2.x) --------------------------------------------

INSTANCE = 'a3c1d6a4-1c1f-4c2e-9f57-2b1b1b1b1b1b'
OTHER = 'b3c1d6a4-1c1f-4c2e-9f57-2b1b1b1b1b1b'


def _migration(ctx, instance_uuid=INSTANCE, **values):
    # A migration in progress, with the type nova's objects always give.
    values.setdefault('status', 'migrating')
    values.setdefault('migration_type', 'migration')
    return factories.migration(ctx, instance_uuid, **values)


def _ids(rows):
    return [row['id'] for row in rows]


def test_create_takes_what_nova_objects_send(db_all, admin_context):
    # nova's Migration.create: every field it has set, its uuid, who asked.
    uuid = uuidutils.generate_uuid()
    mig = _migration(admin_context, uuid=uuid, dest_compute_id=7,
                     dest_host='192.0.2.7', old_instance_type_id=1,
                     new_instance_type_id=2, user_id='u', project_id='p',
                     memory_total=2 ** 40, cross_cell_move=False)
    assert (mig['uuid'], mig['dest_compute_id'], mig['memory_total'],
            mig['user_id'], mig['hidden'], mig['deleted']) == (
        uuid, 7, 2 ** 40, 'u', False, 0)
    assert api.migration_get(admin_context, mig['id']) == mig
    assert api.migration_get_by_uuid(admin_context, uuid) == mig


@pytest.mark.parametrize('values, field', [
    ({'migration_type': 'teleport'}, 'migration_type'),
    ({'hidden': 'no'}, 'hidden'), ({'bogus': 1}, 'bogus'),
    ({'id': 3}, 'id'), ({'dest_compute': 'x' * 256}, 'dest_compute')])
def test_create_checks_values_by_name(db_all, admin_context, values, field):
    with pytest.raises(exception.InvalidUpdate) as raised:
        _migration(admin_context, **values)
    assert raised.value.kwargs['field'] == field
    assert api.migration_get_in_progress_by_instance(
        admin_context, INSTANCE) == []


def test_a_taken_uuid_is_a_conflict(db_all, admin_context):
    mig = _migration(admin_context)
    with pytest.raises(exception.Conflict):
        _migration(admin_context, uuid=mig['uuid'])


def test_reads_by_id_and_uuid_find_deleted_ones_as_nova(db_all,
                                                        admin_context):
    mig = _migration(admin_context)
    api.migration_update(admin_context, mig['id'], {'status': 'error'})
    _soft_delete(admin_context, mig['id'])
    assert api.migration_get(admin_context, mig['id'])['deleted'] == mig['id']
    assert api.migration_get_by_uuid(admin_context,
                                     mig['uuid'])['id'] == mig['id']
    assert api.migration_get_by_instance_and_status(
        admin_context, INSTANCE, 'error')['id'] == mig['id']
    # by id and instance honours read_deleted, as nova's model_query.
    with pytest.raises(exception.MigrationNotFoundForInstance):
        api.migration_get_by_id_and_instance(admin_context, mig['id'],
                                             INSTANCE)
    deleted = np_context.RequestContext(is_admin=True, read_deleted='yes')
    assert api.migration_get_by_id_and_instance(
        deleted, mig['id'], INSTANCE)['id'] == mig['id']


@db_session.core_writer
def _soft_delete(context, migration_id):
    # nova soft-deletes migrations with their instance, not by a call.
    m = models.Migration.__table__
    context.connection.execute(sa.update(m).where(
        m.c.id == migration_id).values(deleted=m.c.id))


def test_not_found_errors_are_nova_s(db_all, admin_context):
    mig = _migration(admin_context)
    with pytest.raises(exception.MigrationNotFound) as raised:
        api.migration_get(admin_context, 99999)
    assert raised.value.kwargs == {'migration_id': 99999}
    with pytest.raises(exception.MigrationNotFound) as raised:
        api.migration_get_by_uuid(admin_context, OTHER)
    assert raised.value.kwargs == {'migration_id': OTHER}
    with pytest.raises(exception.MigrationNotFoundForInstance) as raised:
        api.migration_get_by_id_and_instance(admin_context, mig['id'], OTHER)
    assert raised.value.kwargs == {'migration_id': mig['id'],
                                   'instance_id': OTHER}
    with pytest.raises(exception.MigrationNotFoundByStatus) as raised:
        api.migration_get_by_instance_and_status(admin_context, INSTANCE,
                                                 'finished')
    assert raised.value.kwargs == {'instance_id': INSTANCE,
                                   'status': 'finished'}
    # Both are MigrationNotFound, which nova's callers also catch.
    assert issubclass(exception.MigrationNotFoundByStatus,
                      exception.MigrationNotFound)


def test_in_progress_by_host_and_node_and_with_errors(db_all,
                                                      admin_context):
    out = _migration(admin_context, status='migrating')
    into = _migration(admin_context, source_compute='other',
                      source_node='other-n', dest_compute='src',
                      dest_node='src-n', status='finished')
    error = _migration(admin_context, status='error')
    for status in ('confirmed', 'reverted', 'failed', 'completed',
                   'cancelled', 'done'):
        _migration(admin_context, status=status)
    _migration(admin_context, source_node='elsewhere')
    assert _ids(api.migration_get_in_progress_by_host_and_node(
        admin_context, 'src', 'src-n')) == [out['id'], into['id']]
    assert _ids(api.migration_get_in_progress_and_error_by_host_and_node(
        admin_context, 'src', 'src-n')) == [out['id'], into['id'],
                                            error['id']]
    assert _ids(api.migration_get_in_progress_by_host_and_node(
        admin_context, 'dst', 'dst-n'))[0] == out['id']
    # Only the migration's columns: nova's MigrationList reads no more.
    assert set(api.migration_get_in_progress_by_host_and_node(
        admin_context, 'src', 'src-n')[0]) == set(out)


def test_in_progress_by_instance(db_all, admin_context):
    live = _migration(admin_context, status='running',
                      migration_type='live-migration')
    queued = _migration(admin_context, status='queued')
    _migration(admin_context, status='migrating')
    _migration(admin_context, OTHER, status='running')
    assert _ids(api.migration_get_in_progress_by_instance(
        admin_context, INSTANCE)) == [live['id'], queued['id']]
    assert _ids(api.migration_get_in_progress_by_instance(
        admin_context, INSTANCE, 'live-migration')) == [live['id']]
    # A type that is none of nova's matches nothing (PostgreSQL's enum
    # refused the comparison: a ProxyInternalError on the wire).
    assert api.migration_get_in_progress_by_instance(
        admin_context, INSTANCE, 'if') == []


def test_unconfirmed_by_dest_compute(db_all, admin_context):
    old = _migration(admin_context, status='finished',
                     updated_at='2020-01-01T00:00:00Z')
    _migration(admin_context, status='finished')  # updated now
    _migration(admin_context, status='migrating',
               updated_at='2020-01-01T00:00:00Z')
    _migration(admin_context, status='finished', dest_compute='else',
               updated_at='2020-01-01T00:00:00Z')
    assert _ids(api.migration_get_unconfirmed_by_dest_compute(
        admin_context, 600, 'dst')) == [old['id']]
    assert len(api.migration_get_unconfirmed_by_dest_compute(
        admin_context, 0, 'dst')) == 2


def test_get_all_by_filters(db_all, admin_context):
    a = _migration(admin_context, status='error', user_id='u1')
    b = _migration(admin_context, OTHER, source_compute='dst',
                   source_node='dst-n', dest_compute='src',
                   dest_node='src-n', status='error', hidden=True)
    c = _migration(admin_context, source_compute='far', source_node='f',
                   dest_compute='away', dest_node='a',
                   migration_type='evacuation', status='accepted',
                   project_id='p')
    f = lambda **filters: _ids(api.migration_get_all_by_filters(  # noqa
        admin_context, filters))
    assert f() == [a['id'], b['id'], c['id']]
    assert f(host='src', status='error') == [a['id'], b['id']]
    assert f(source_compute='src') == [a['id']]
    # host wins over source_compute, as in nova.
    assert f(host='far', source_compute='src') == [c['id']]
    assert f(node='src-n') == [a['id'], b['id']]
    assert f(status=['accepted', 'done']) == [c['id']]
    assert f(uuid=b['uuid']) == [b['id']]
    assert f(uuid=[a['uuid'], c['uuid']]) == [a['id'], c['id']]
    assert f(migration_type='evacuation') == [c['id']]
    assert f(hidden=True) == [b['id']]
    assert f(instance_uuid=OTHER) == [b['id']]
    assert f(user_id='u1') == [a['id']]
    assert f(project_id='p') == [c['id']]
    assert f(**{'changes-since': '2000-01-01T00:00:00Z'}) == [
        a['id'], b['id'], c['id']]
    assert f(**{'changes-before': '2000-01-01T00:00:00Z'}) == []
    assert f(ignored='by nova') == [a['id'], b['id'], c['id']]


def test_get_all_by_filters_sorts_and_pages_as_nova(db_all, admin_context):
    migs = [_migration(admin_context, status=s)
            for s in ('b', 'a', 'c', 'a')]
    ids = [m['id'] for m in migs]
    page = lambda **kw: _ids(api.migration_get_all_by_filters(  # noqa
        admin_context, {}, **kw))
    # By default newest first (created_at, then id, descending).
    assert page(limit=10) == ids[::-1]
    assert page(limit=2) == ids[:1:-1]
    assert page(limit=2, marker=migs[2]['uuid']) == [ids[1], ids[0]]
    assert page(limit=0) == []
    # A key and its direction; created_at and id break ties that way.
    assert page(sort_keys=['status'], sort_dirs=['asc']) == [
        ids[1], ids[3], ids[0], ids[2]]
    assert page(sort_keys=['status'], sort_dirs=['asc'],
                marker=migs[3]['uuid']) == [ids[0], ids[2]]


@pytest.mark.parametrize('kwargs, error', [
    ({'sort_keys': ['nope']}, exception.InvalidSortKey),
    ({'sort_keys': ['id'], 'sort_dirs': ['up']}, exception.InvalidInput),
    ({'sort_keys': ['id'], 'sort_dirs': ['asc', 'asc']},
     exception.InvalidInput),
    ({'limit': 1, 'marker': OTHER}, exception.MarkerNotFound),
    ({'limit': -1}, exception.InvalidInput)])
def test_get_all_by_filters_errors_are_nova_s(db_all, admin_context, kwargs,
                                              error):
    _migration(admin_context)
    with pytest.raises(error):
        api.migration_get_all_by_filters(admin_context, {}, **kwargs)


def test_update_as_nova_and_confined(db_all, admin_context):
    mig = _migration(admin_context)
    new = api.migration_update(admin_context, mig['id'], {
        'status': 'post-migrating', 'memory_processed': 5,
        'dest_compute_id': 3})
    assert (new['status'], new['memory_processed'],
            new['dest_compute_id']) == ('post-migrating', 5, 3)
    _values.parse_time(new['updated_at'])
    # nova's resource tracker writes its own host name back: no change.
    assert api.migration_update(admin_context, mig['id'], {
        'dest_compute': 'dst', 'dest_node': 'dst-n2'},
        scope_host='dst')['dest_node'] == 'dst-n2'
    for scope_host, values, error in (
            ('third', {'status': 'x'}, exception.HostScopeViolation),
            ('dst', {'dest_compute': 'third'}, exception.Forbidden),
            ('src', {'instance_uuid': OTHER}, exception.Forbidden)):
        with pytest.raises(error):
            api.migration_update(admin_context, mig['id'], values,
                                 scope_host=scope_host)
    api.migration_update(admin_context, mig['id'], {'status': 'done'},
                         scope_host='src')
    with pytest.raises(exception.Forbidden):
        api.migration_update(admin_context, mig['id'],
                             {'status': 'running'}, scope_host='src')
    # The control plane may, as nova's conductor.
    assert api.migration_update(admin_context, mig['id'], {
        'status': 'running'})['status'] == 'running'
    for field in ('uuid', 'created_at', 'deleted'):
        with pytest.raises(exception.InvalidUpdate):
            api.migration_update(admin_context, mig['id'], {field: None})
