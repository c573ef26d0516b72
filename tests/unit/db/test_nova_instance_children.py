"""nova's calls of an instance's extra, info cache and tags (wire 2.x), on
SQLite, PostgreSQL and MariaDB: nova's results and errors, and the host
scope of the instance's children."""

import pytest
import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy.db.api import _child_scope
from nova_proxy.db import api
from nova_proxy.db import models
from nova_proxy.db import session as db_session
from nova_proxy import exception

UNKNOWN = '00000000-0000-4000-8000-000000000000'


def _instance(ctx, host='h1'):
    """An instance without an extra or info cache row, as one created
    before those tables (nova's instance_create makes both)."""
    instance = api.instance_create(ctx, {'host': host,
                                         'node': host + '-node'})
    with db_session.get_engine().begin() as conn:
        for model in (models.InstanceExtra, models.InstanceInfoCache):
            conn.execute(sa.delete(model).where(
                model.instance_uuid == instance['uuid']))
    return instance


def test_extra_is_made_on_first_update_then_updated(db_all, admin_context):
    uuid = _instance(admin_context)['uuid']
    assert api.instance_extra_get_by_instance_uuid(admin_context,
                                                   uuid) is None
    assert api.instance_extra_update_by_uuid(
        admin_context, uuid, {'numa_topology': '{"a": 1}'}) == 1
    # The same values again: still one row (a row count of rows changed,
    # as MariaDB gives, would have made a second).
    assert api.instance_extra_update_by_uuid(
        admin_context, uuid, {'numa_topology': '{"a": 1}',
                              'flavor': '{"f": 2}'}) == 1
    extra = api.instance_extra_get_by_instance_uuid(admin_context, uuid)
    assert (extra['instance_uuid'], extra['numa_topology'],
            extra['flavor'], extra['pci_requests'],
            extra['deleted']) == (uuid, '{"a": 1}', '{"f": 2}', None, 0)
    # nova's default columns, not those it leaves deferred.
    assert 'device_metadata' not in extra and 'keypairs' not in extra
    only = api.instance_extra_get_by_instance_uuid(
        admin_context, uuid, columns=['numa_topology', 'device_metadata'])
    assert set(only) == {'id', 'instance_uuid', 'created_at', 'updated_at',
                         'deleted_at', 'deleted', 'numa_topology',
                         'device_metadata'}
    assert 'numa_topology' not in api.instance_extra_get_by_instance_uuid(
        admin_context, uuid, columns=[])


def test_extra_refuses_unknown_columns_and_fields(db_all, admin_context):
    uuid = _instance(admin_context)['uuid']
    with pytest.raises(exception.Invalid):
        api.instance_extra_get_by_instance_uuid(admin_context, uuid,
                                                columns=['nope'])
    with pytest.raises(exception.InvalidUpdate) as raised:
        api.instance_extra_update_by_uuid(admin_context, uuid,
                                          {'instance_uuid': UNKNOWN})
    assert raised.value.kwargs['field'] == 'instance_uuid'
    with pytest.raises(exception.InstanceNotFound):
        api.instance_extra_update_by_uuid(admin_context, UNKNOWN,
                                          {'flavor': '{}'})


def test_info_cache_is_made_updated_and_soft_deleted(db_all, admin_context):
    uuid = _instance(admin_context)['uuid']
    assert api.instance_info_cache_get(admin_context, uuid) is None
    made = api.instance_info_cache_update(admin_context, uuid,
                                          {'network_info': '[]'})
    assert (made['instance_uuid'], made['network_info'],
            made['deleted']) == (uuid, '[]', 0)
    updated = api.instance_info_cache_update(
        admin_context, uuid, {'network_info': '[{"id": "port"}]'})
    assert updated['id'] == made['id'] and updated['updated_at']
    assert api.instance_info_cache_get(admin_context, uuid) == updated
    api.instance_info_cache_delete(admin_context, uuid)
    assert api.instance_info_cache_get(admin_context, uuid) is None
    # nova: a deleted cache the context reads is not found on update.
    reads_deleted = np_context.RequestContext(is_admin=True,
                                              read_deleted='yes')
    with pytest.raises(exception.InstanceInfoCacheNotFound) as raised:
        api.instance_info_cache_update(reads_deleted, uuid,
                                       {'network_info': '[]'})
    assert raised.value.kwargs == {'instance_uuid': uuid}
    # nova: one the context does not see is recreated, which the unique
    # key refuses; the values come back unwritten.
    transient = api.instance_info_cache_update(admin_context, uuid,
                                               {'network_info': 'x'})
    assert (transient['id'], transient['network_info']) == (None, 'x')
    assert api.instance_info_cache_get(reads_deleted, uuid)['deleted']


def test_tags_as_nova(db_all, admin_context):
    uuid = _instance(admin_context)['uuid']
    assert api.instance_tag_add(admin_context, uuid, 'a') == {
        'resource_id': uuid, 'tag': 'a'}
    api.instance_tag_add(admin_context, uuid, 'a')  # no error, one row
    assert api.instance_tag_exists(admin_context, uuid, 'a') is True
    assert api.instance_tag_exists(admin_context, uuid, 'b') is False
    assert [t['tag'] for t in api.instance_tag_set(
        admin_context, uuid, ['b', 'c', 'b'])] == ['b', 'c']
    assert api.instance_tag_get_by_instance_uuid(admin_context, uuid) == [
        {'resource_id': uuid, 'tag': 'b'}, {'resource_id': uuid, 'tag': 'c'}]
    api.instance_tag_delete(admin_context, uuid, 'b')
    with pytest.raises(exception.InstanceTagNotFound) as raised:
        api.instance_tag_delete(admin_context, uuid, 'b')
    assert raised.value.kwargs == {'instance_id': uuid, 'tag': 'b'}
    api.instance_tag_delete_all(admin_context, uuid)
    assert api.instance_tag_get_by_instance_uuid(admin_context, uuid) == []
    with pytest.raises(exception.Invalid):
        api.instance_tag_add(admin_context, uuid, 'x' * 81)
    for call in (lambda: api.instance_tag_add(admin_context, UNKNOWN, 'a'),
                 lambda: api.instance_tag_exists(admin_context, UNKNOWN,
                                                 'a'),
                 lambda: api.instance_tag_get_by_instance_uuid(
                     admin_context, UNKNOWN)):
        with pytest.raises(exception.InstanceNotFound):
            call()


def test_scope_reaches_the_host_and_the_migration_ends(db_all,
                                                       admin_context):
    mine = _instance(admin_context, 'h1')['uuid']
    theirs = _instance(admin_context, 'h2')['uuid']
    api.instance_info_cache_update(admin_context, theirs,
                                   {'network_info': '[]'})
    with pytest.raises(exception.HostScopeViolation):
        api.instance_info_cache_get(admin_context, theirs, scope_host='h1')
    with pytest.raises(exception.HostScopeViolation):
        api.instance_tag_add(admin_context, theirs, 'a', scope_host='h1')
    assert api.instance_info_cache_get(admin_context, mine,
                                       scope_host='h1') is None
    # A migration of theirs to h1 in progress: h1 is an end of it.
    migration = api.migration_create(admin_context, {
        'instance_uuid': theirs, 'source_compute': 'h2',
        'dest_compute': 'h1', 'status': 'migrating'})
    assert api.instance_info_cache_get(admin_context, theirs,
                                       scope_host='h1')['network_info'] == '[]'
    api.instance_tag_add(admin_context, theirs, 'moving', scope_host='h1')
    api.migration_update(admin_context, migration['id'],
                         {'status': 'confirmed'})
    with pytest.raises(exception.HostScopeViolation):
        api.instance_tag_exists(admin_context, theirs, 'moving',
                                scope_host='h1')
    # An unknown instance has nothing to protect: nova's None.
    assert api.instance_info_cache_get(admin_context, UNKNOWN,
                                       scope_host='h1') is None


def test_soft_delete_children_is_nova_s_destroy_cascade(db_all,
                                                        admin_context):
    uuid = _instance(admin_context)['uuid']
    api.instance_info_cache_update(admin_context, uuid,
                                   {'network_info': '[]'})
    api.instance_extra_update_by_uuid(admin_context, uuid, {'flavor': '{}'})
    api.instance_tag_add(admin_context, uuid, 'a')
    bdm = api.block_device_mapping_create(admin_context, {
        'instance_uuid': uuid, 'source_type': 'image'}, legacy=False)

    @db_session.core_writer
    def destroy_children(context):
        _child_scope.soft_delete_children(context.connection, uuid,
                                          db_session.utcnow())

    destroy_children(admin_context)
    assert api.instance_info_cache_get(admin_context, uuid) is None
    assert api.instance_extra_get_by_instance_uuid(admin_context,
                                                   uuid) is None
    assert api.instance_tag_get_by_instance_uuid(admin_context, uuid) == []
    assert api.block_device_mapping_get_all_by_instance(admin_context,
                                                        uuid) == []
    reads_deleted = np_context.RequestContext(is_admin=True,
                                              read_deleted='only')
    assert [b['deleted'] for b in
            api.block_device_mapping_get_all_by_instance(
                reads_deleted, uuid)] == [bdm['id']]


def test_the_instance_reads_join_the_children_these_calls_write(
        db_all, admin_context):
    # One join builder (_instance_joins) serves every instance read.
    a = _instance(admin_context)['uuid']
    b = _instance(admin_context)['uuid']
    api.instance_info_cache_update(admin_context, a, {'network_info': '[]'})
    api.instance_extra_update_by_uuid(admin_context, a, {
        'flavor': '{"f": 1}', 'numa_topology': '{"n": 1}'})
    api.instance_tag_set(admin_context, a, ['y', 'x'])
    from nova_proxy.db.api import _instance_joins

    @db_session.core_reader
    def joined(context, columns):
        shells = [{'uuid': uuid, 'deleted': 0, 'host': None}
                  for uuid in (a, b)]
        return _instance_joins.fill(
            context.connection, shells, _instance_joins.parse(columns, ()))

    first, second = joined(admin_context, ['info_cache', 'extra.flavor',
                                           'tags'])
    assert {k: second[k] for k in ('info_cache', 'extra', 'tags')} == {
        'info_cache': None, 'extra': None, 'tags': []}
    assert first['info_cache']['network_info'] == '[]'
    assert first['extra']['flavor'] == '{"f": 1}'
    assert 'numa_topology' not in first['extra']
    assert [t['tag'] for t in first['tags']] == ['x', 'y']
    extra = joined(admin_context, ['extra'])[0]['extra']
    assert extra['instance_uuid'] == a
    assert extra['numa_topology'] == '{"n": 1}'
    assert joined(admin_context, [])[1] == {'uuid': b, 'deleted': 0,
                                            'host': None}
    # As the public reads give them.
    listed = {i['uuid']: i for i in api.instance_get_all(
        admin_context, columns_to_join=['extra.flavor', 'tags'])}
    assert listed[a]['extra']['flavor'] == '{"f": 1}'
    assert [t['tag'] for t in listed[a]['tags']] == ['x', 'y']


def test_a_scoped_write_carries_the_scope_in_its_statement(db_all,
                                                           admin_context):
    # Without the check before it (an instance that moved away between
    # the check and the write): the statement itself writes nothing, and
    # the refusal names the instance's host.
    theirs = _instance(admin_context, 'h2')['uuid']
    api.instance_tag_add(admin_context, theirs, 'keep')
    from nova_proxy.db import models
    tags = models.Tag.__table__

    @db_session.core_writer
    def delete_tags(context):
        return _child_scope.scoped_write(
            context.connection, tags.delete().where(
                tags.c.resource_id == theirs), tags.c.resource_id, theirs,
            'h1')

    with pytest.raises(exception.HostScopeViolation) as raised:
        delete_tags(admin_context)
    assert raised.value.kwargs['caller'] == 'h1'
    assert 'owner' not in raised.value.kwargs
    assert [t['tag'] for t in api.instance_tag_get_by_instance_uuid(
        admin_context, theirs)] == ['keep']
