"""nova's instance calls of the DB API (wire 2.x), on SQLite, PostgreSQL
and MariaDB: the results, joins, filters and errors nova's own DB API
gives, and the host scope in the statements."""

import datetime

import pytest
import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy.db import api
from nova_proxy.db import models
from nova_proxy.db import session as db_session
from nova_proxy import exception

MISSING = '2c7c3c5e-0000-4000-8000-000000000000'
DEFAULT_JOINS = {'metadata', 'system_metadata', 'info_cache',
                 'security_groups'}
JOINED = DEFAULT_JOINS | {'extra', 'tags', 'pci_devices', 'services'}


def _create(ctx, **values):
    values.setdefault('host', 'h1')
    values.setdefault('node', 'n1')
    return api.instance_create(ctx, values)


def _joined(instance):
    return set(instance) & JOINED


def _rows(model, **where):
    table = model.__table__
    with db_session.get_engine().connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).where(
            *[table.c[k] == v for k, v in where.items()]))]


def _insert(model, **values):
    with db_session.get_engine().begin() as conn:
        conn.execute(sa.insert(model.__table__).values(**values))


# -- create ----------------------------------------------------------------

def test_create_writes_what_nova_writes_and_reads_it_back(db_all,
                                                          admin_context):
    ctx = np_context.RequestContext(user_id='u1', project_id='p1')
    inst = api.instance_create(ctx, {
        'host': 'h1', 'node': 'n1', 'compute_id': 7, 'deleted': 0,
        'locked': False, 'launched_at': '2026-01-02T03:04:05Z',
        'access_ip_v4': '192.0.2.1', 'reservation_id': 'r-1',
        'metadata': {'a': '1'}, 'system_metadata': {'s': 'x'},
        'info_cache': {'network_info': '[]'},
        'extra': {'numa_topology': None, 'pci_requests': None,
                  'pci_devices': None, 'flavor': '{"cur": {}}',
                  'migration_context': None},
        'security_groups': ['default'], 'old_flavor': None})
    # What nova's Instance.create reads back from the returned row.
    assert _joined(inst) == DEFAULT_JOINS | {'extra'}
    assert (inst['compute_id'], inst['reservation_id'], inst['locked'],
            inst['access_ip_v4']) == (7, 'r-1', False, '192.0.2.1')
    assert inst['launched_at'] == '2026-01-02T03:04:05+00:00'
    assert inst['info_cache']['network_info'] == '[]'
    assert inst['info_cache']['instance_uuid'] == inst['uuid']
    assert inst['extra']['flavor'] == '{"cur": {}}'
    assert inst['extra']['numa_topology'] is None
    assert [g['name'] for g in inst['security_groups']] == ['default']
    assert (inst['metadata'], inst['system_metadata']) == ({'a': '1'},
                                                           {'s': 'x'})
    # A second instance of the project reuses its default group.
    other = api.instance_create(ctx, {'host': 'h1',
                                      'security_groups': ['default']})
    assert other['security_groups'] == inst['security_groups']
    assert api.instance_create(ctx, {'host': 'h1'})['info_cache'][
        'network_info'] is None


@pytest.mark.parametrize('values, field', [
    ({'deleted': 1}, 'deleted'), ({'id': 4}, 'id'), ({'bogus': 1}, 'bogus'),
    ({'tags': ['t']}, 'tags'), ({'extra': {'nope': '1'}}, 'nope'),
    ({'info_cache': {'id': 1}}, 'info_cache'),
    ({'security_groups': 'default'}, 'security_groups'),
    ({'vcpus': 'many'}, 'vcpus'), ({'locked_by': 'someone'}, 'locked_by')])
def test_create_refuses_by_name(db_all, admin_context, values, field):
    with pytest.raises(exception.InvalidUpdate) as raised:
        _create(admin_context, **values)
    assert raised.value.kwargs['field'] == field
    assert api.instance_get_all(admin_context) == []


def test_create_with_a_group_the_project_lacks(db_all):
    ctx = np_context.RequestContext(user_id='u1', project_id='p1')
    with pytest.raises(exception.SecurityGroupNotFoundForProject) as raised:
        _create(ctx, security_groups=['web'])
    assert raised.value.kwargs == {'project_id': 'p1',
                                   'security_group_id': 'web'}


# -- reads and joins -------------------------------------------------------

def test_reads_carry_exactly_the_joins_asked_for(db_all, admin_context):
    inst = _create(admin_context, metadata={'m': '1'},
                   extra={'flavor': 'F', 'vcpu_model': 'V'})
    uuid = inst['uuid']
    _insert(models.Tag, resource_id=uuid, tag='b')
    _insert(models.Tag, resource_id=uuid, tag='a')
    node = api.compute_node_create(admin_context, {'host': 'h1',
                                                   'node': 'n1'})
    _insert(models.PciDevice, compute_node_id=node['id'],
            address='0000:00:01.0',
            uuid='3c7c3c5e-0000-4000-8000-000000000001', instance_uuid=uuid,
            deleted=0, vendor_id='v', product_id='p', dev_type='type-PCI',
            status='allocated', dev_id='pci_1', label='l',
            extra_info='{}')
    service = api.service_create(admin_context, {
        'host': 'h1', 'binary': 'nova-compute', 'topic': 'compute'})
    got = api.instance_get_by_uuid(admin_context, uuid)
    assert _joined(got) == DEFAULT_JOINS
    assert got['metadata'] == {'m': '1'}
    assert api.instance_get(admin_context, inst['id']) == got
    bare = api.instance_get_by_uuid(admin_context, uuid, columns_to_join=[])
    assert _joined(bare) == set()
    assert {k: v for k, v in got.items() if k not in JOINED} == bare
    everything = api.instance_get_by_uuid(
        admin_context, uuid, columns_to_join=[
            'metadata', 'tags', 'pci_devices', 'services', 'fault', 'extra',
            'extra.flavor'])
    assert _joined(everything) == {'metadata', 'tags', 'pci_devices',
                                   'services', 'extra'}
    assert everything['tags'] == [{'resource_id': uuid, 'tag': 'a'},
                                  {'resource_id': uuid, 'tag': 'b'}]
    assert [d['address'] for d in everything['pci_devices']] == [
        '0000:00:01.0']
    assert [s['id'] for s in everything['services']] == [service['id']]
    # extra.<column>: that column of instance_extra, and its ids.
    assert everything['extra']['flavor'] == 'F'
    assert 'vcpu_model' not in everything['extra']
    assert everything['extra']['instance_uuid'] == uuid
    with pytest.raises(exception.Invalid):
        api.instance_get_by_uuid(admin_context, uuid,
                                 columns_to_join=['flavor'])
    with pytest.raises(exception.Invalid):
        api.instance_get_by_uuid(admin_context, uuid,
                                 columns_to_join=['extra.nope'])


def test_read_errors_are_nova_s(db_all, admin_context):
    with pytest.raises(exception.InstanceNotFound) as raised:
        api.instance_get_by_uuid(admin_context, MISSING)
    assert raised.value.kwargs == {'instance_id': MISSING}
    with pytest.raises(exception.InvalidUUID):
        api.instance_get_by_uuid(admin_context, 'nope')
    with pytest.raises(exception.InstanceNotFound) as raised:
        api.instance_get(admin_context, 12345)
    assert raised.value.kwargs == {'instance_id': 12345}
    for bad in (2 ** 40, 'x', True):
        with pytest.raises(exception.InvalidID):
            api.instance_get(admin_context, bad)


def test_read_deleted_follows_the_context(db_all, admin_context):
    inst = _create(admin_context, system_metadata={'s': '1'})
    api.instance_destroy(admin_context, inst['uuid'])
    with pytest.raises(exception.InstanceNotFound):
        api.instance_get_by_uuid(admin_context, inst['uuid'])
    deleted = np_context.RequestContext(is_admin=True, read_deleted='yes')
    gone = api.instance_get_by_uuid(deleted, inst['uuid'])
    # nova reads a deleted instance's system metadata (usage audits).
    assert gone['deleted'] == gone['id'] and gone['system_metadata'] == {
        's': '1'}
    only = np_context.RequestContext(is_admin=True, read_deleted='only')
    assert [i['uuid'] for i in api.instance_get_all(only)] == [inst['uuid']]


def test_a_confined_read_is_scoped_in_its_statement(db_all, admin_context):
    mine = _create(admin_context, host='h1')
    theirs = _create(admin_context, host='h2')
    assert api.instance_get_by_uuid(admin_context, mine['uuid'],
                                    scope_host='h1')['id'] == mine['id']
    with pytest.raises(exception.HostScopeViolation) as raised:
        api.instance_get_by_uuid(admin_context, theirs['uuid'],
                                 scope_host='h1')
    # Refused naming the instance, not its host (not the caller's to learn).
    assert raised.value.kwargs == {
        'caller': 'h1', 'resource': 'instance %s' % theirs['uuid']}
    with pytest.raises(exception.HostScopeViolation):
        api.instance_get(admin_context, theirs['id'], scope_host='h1')
    # Migrating to the caller opens it.
    migration = api.migration_create(admin_context, {
        'instance_uuid': theirs['uuid'], 'source_compute': 'h2',
        'dest_compute': 'h1', 'status': 'migrating'})
    assert api.instance_get_by_uuid(admin_context, theirs['uuid'],
                                    scope_host='h1')['id'] == theirs['id']
    assert [i['id'] for i in api.instance_get_all(
        admin_context, scope_host='h1')] == [mine['id'], theirs['id']]
    api.migration_update(admin_context, migration['id'],
                         {'status': 'confirmed'})
    assert [i['id'] for i in api.instance_get_all(
        admin_context, scope_host='h1')] == [mine['id']]


# -- lists -----------------------------------------------------------------

def test_lists_by_host(db_all, admin_context):
    a = _create(admin_context, host='h1', node='n1', instance_type_id=1)
    b = _create(admin_context, host='h1', node='n2', instance_type_id=2)
    c = _create(admin_context, host='h2', node='n1')
    gone = _create(admin_context, host='h1', node='n1')
    api.instance_destroy(admin_context, gone['uuid'])
    ids = lambda rows: [r['id'] for r in rows]  # noqa: E731
    by_host = api.instance_get_all_by_host(admin_context, 'h1')
    assert ids(by_host) == [a['id'], b['id']]
    assert _joined(by_host[0]) == DEFAULT_JOINS
    by_node = api.instance_get_all_by_host_and_node(admin_context, 'h1',
                                                    'n2')
    assert ids(by_node) == [b['id']]
    # nova's default here: info_cache and security groups, no metadata.
    assert _joined(by_node[0]) == {'info_cache', 'security_groups'}
    assert _joined(api.instance_get_all_by_host_and_node(
        admin_context, 'h1', 'n2', columns_to_join=[])[0]) == set()
    assert ids(api.instance_get_all_by_host_and_not_type(
        admin_context, 'h1', type_id=1)) == [b['id']]
    assert api.instance_get_all_uuids_by_hosts(
        admin_context, ['h1', 'h2', 'h3']) == {
        'h1': [a['uuid'], b['uuid']], 'h2': [c['uuid']], 'h3': []}


def test_hung_in_rebooting(db_all, admin_context):
    hung = _create(admin_context, task_state='rebooting',
                   updated_at='2020-01-01T00:00:00Z')
    _create(admin_context, task_state='rebooting')
    _create(admin_context, task_state=None,
            updated_at='2020-01-01T00:00:00Z')
    found = api.instance_get_all_hung_in_rebooting(admin_context, 60)
    assert [i['id'] for i in found] == [hung['id']]
    assert _joined(found[0]) == set()
    assert api.instance_get_all_hung_in_rebooting(
        admin_context, 60, scope_host='h9') == []


def _uuids(ctx, filters, **kwargs):
    kwargs.setdefault('sort_keys', ['id'])
    kwargs.setdefault('sort_dirs', ['asc'])
    return [i['uuid'] for i in api.instance_get_all_by_filters_sort(
        ctx, filters, **kwargs)]


def test_filters_as_nova(db_all, admin_context):
    a = _create(admin_context, host='h1', task_state='spawning',
                vm_state='building', display_name='web-1',
                metadata={'role': 'web'})
    b = _create(admin_context, host='h2', vm_state='active',
                display_name='db-1', locked=True,
                system_metadata={'image_os': 'linux'})
    c = _create(admin_context, host='h2', task_state='spawning',
                vm_state='building', display_name='web-2')
    soft = _create(admin_context, host='h1', vm_state='soft-delete')
    gone = _create(admin_context, host='h1')
    api.instance_destroy(admin_context, gone['uuid'])
    hidden = _create(admin_context, host='h1', hidden=True)
    A, B, C, S, G = (i['uuid'] for i in (a, b, c, soft, gone))
    ctx = admin_context
    # Deleted instances are listed unless a filter says otherwise.
    assert _uuids(ctx, {}) == [A, B, C, S, G]
    assert _uuids(ctx, {'deleted': False}) == [A, B, C]
    assert _uuids(ctx, {'deleted': False, 'soft_deleted': True}) == [
        A, B, C, S]
    assert _uuids(ctx, {'deleted': True}) == [S, G]
    assert _uuids(ctx, {'deleted': True, 'soft_deleted': False}) == [G]
    assert _uuids(ctx, {'hidden': True}) == [hidden['uuid']]
    # Exact, lists as IN, an empty list matching nothing.
    assert _uuids(ctx, {'task_state': 'spawning', 'host': 'h2'}) == [C]
    assert _uuids(ctx, {'vm_state': ['active', 'building']}) == [A, B, C]
    assert _uuids(ctx, {'uuid': []}) == []
    assert _uuids(ctx, {'locked': True}) == [B]
    assert _uuids(ctx, {'metadata': {'role': 'web'}}) == [A]
    assert _uuids(ctx, {'system_metadata': [{'image_os': 'linux'}]}) == [B]
    # Others are regular expressions on their column; unknown names are
    # ignored.
    assert _uuids(ctx, {'display_name': 'web'}) == [A, C]
    assert _uuids(ctx, {'display_name': '^web-2$', 'bogus': 1}) == [C]
    with pytest.raises(exception.Invalid):
        _uuids(ctx, {'display_name': '('})
    # changes-since / changes-before on updated_at.
    assert _uuids(ctx, {'changes-since': '2999-01-01T00:00:00Z'}) == []
    assert len(_uuids(ctx, {'changes-before': '2999-01-01T00:00:00Z'})) \
        == 5
    # Order, limit, marker; nova's defaults sort newest first.
    assert [i['uuid'] for i in api.instance_get_all_by_filters(
        ctx, {'deleted': False})] == [C, B, A]
    assert _uuids(ctx, {'deleted': False}, limit=2) == [A, B]
    assert _uuids(ctx, {'deleted': False}, marker=A) == [B, C]
    assert _uuids(ctx, {'deleted': False}, sort_keys=['display_name'],
                  sort_dirs=['asc']) == [B, A, C]
    assert api.instance_get_all_by_filters(ctx, {}, limit=0) == []
    with pytest.raises(exception.Invalid):
        _uuids(ctx, {}, limit=-1)
    with pytest.raises(exception.MarkerNotFound) as raised:
        _uuids(ctx, {}, marker=MISSING)
    assert raised.value.kwargs == {'marker': MISSING}
    with pytest.raises(exception.InvalidSortKey):
        _uuids(ctx, {}, sort_keys=['bogus'])
    with pytest.raises(exception.Invalid):
        _uuids(ctx, {}, sort_dirs=['sideways'])
    # Scoped: only the instances of the caller's scope.
    assert _uuids(ctx, {'deleted': False}, scope_host='h1') == [A]
    # The default joins, or exactly those asked for.
    listed = api.instance_get_all_by_filters(ctx, {'uuid': A})
    assert _joined(listed[0]) == DEFAULT_JOINS
    assert _joined(api.instance_get_all_by_filters(
        ctx, {'uuid': A}, columns_to_join=['extra.flavor'])[0]) == {'extra'}


def test_tag_filters(db_all, admin_context):
    a, b, c = (_create(admin_context) for _ in range(3))
    for inst, tags in ((a, ['x', 'y']), (b, ['x']), (c, [])):
        for tag in tags:
            _insert(models.Tag, resource_id=inst['uuid'], tag=tag)
    A, B, C = a['uuid'], b['uuid'], c['uuid']
    assert _uuids(admin_context, {'tags': ['x', 'y']}) == [A]
    assert _uuids(admin_context, {'tags-any': ['y', 'x']}) == [A, B]
    assert _uuids(admin_context, {'not-tags': ['x', 'y']}) == [B, C]
    assert _uuids(admin_context, {'not-tags-any': ['y']}) == [B, C]


def test_active_by_window(db_all, admin_context):
    early = _create(admin_context, launched_at='2026-01-01T00:00:00Z',
                    terminated_at='2026-01-02T00:00:00Z', project_id='p')
    running = _create(admin_context, launched_at='2026-01-03T00:00:00Z',
                      project_id='p')
    later = _create(admin_context, launched_at='2026-02-01T00:00:00Z',
                    project_id='p', host='h2')
    api.instance_destroy(admin_context, later['uuid'])
    found = api.instance_get_active_by_window_joined(
        admin_context, '2026-01-02T12:00:00Z')
    # Deleted instances too, as nova (the usage audit counts them).
    assert {i['uuid'] for i in found} == {running['uuid'], later['uuid']}
    assert [i['uuid'] for i in api.instance_get_active_by_window_joined(
        admin_context, datetime.datetime(2026, 1, 1).isoformat(),
        end='2026-01-15T00:00:00Z', host='h1')] == sorted(
        [early['uuid'], running['uuid']])
    with pytest.raises(exception.MarkerNotFound):
        api.instance_get_active_by_window_joined(
            admin_context, '2026-01-01T00:00:00Z', marker=MISSING)


# -- metadata --------------------------------------------------------------

def test_fill_metadata(db_all, admin_context):
    a = _create(admin_context, metadata={'m': '1'},
                system_metadata={'s': '1'})
    api.instance_fault_create(admin_context, {
        'instance_uuid': a['uuid'], 'code': 500, 'message': 'old'})
    api.instance_fault_create(admin_context, {
        'instance_uuid': a['uuid'], 'code': 500, 'message': 'new'})
    filled = api.instances_fill_metadata(
        admin_context, [{'uuid': a['uuid'], 'x': 1}, {'uuid': MISSING}])
    assert filled[0]['x'] == 1
    assert (filled[0]['metadata'], filled[0]['system_metadata']) == (
        {'m': '1'}, {'s': '1'})
    assert filled[0]['fault'] is None
    assert (filled[1]['metadata'], filled[1]['system_metadata']) == ({}, {})
    only = api.instances_fill_metadata(
        admin_context, [{'uuid': a['uuid']}],
        manual_joins=['system_metadata', 'fault'])[0]
    assert (only['metadata'], only['system_metadata']) == ({}, {'s': '1'})
    assert only['fault']['message'] == 'new'
    other = _create(admin_context, host='h2')
    unhosted = _create(admin_context, host=None)
    for theirs in (other, unhosted):
        with pytest.raises(exception.HostScopeViolation):
            api.instances_fill_metadata(
                admin_context, [{'uuid': theirs['uuid']}], scope_host='h1')


def test_metadata_delete(db_all, admin_context):
    inst = _create(admin_context, metadata={'a': '1', 'b': '2'})
    api.instance_metadata_delete(admin_context, inst['uuid'], 'a')
    api.instance_metadata_delete(admin_context, inst['uuid'], 'nope')
    after = api.instance_get_by_uuid(admin_context, inst['uuid'])
    assert after['metadata'] == {'b': '2'}
    # It writes the instance's row (see _dialect.SNAPSHOT_GUARDED).
    assert after['updated_at'] > inst['updated_at']
    # Nothing to delete is no error, as in nova.
    assert api.instance_metadata_delete(admin_context, MISSING, 'a') is None
    with pytest.raises(exception.HostScopeViolation):
        api.instance_metadata_delete(admin_context, inst['uuid'], 'b',
                                     scope_host='h2')
    assert api.instance_get_by_uuid(admin_context, inst['uuid'])[
        'metadata'] == {'b': '2'}


# -- compare-and-swap ------------------------------------------------------

def test_update_and_get_original_takes_nova_s_values(db_all,
                                                     admin_context):
    inst = _create(admin_context, vm_state='building', task_state='spawning',
                   metadata={'m': '1'})
    old, new = api.instance_update_and_get_original(
        admin_context, inst['uuid'], {
            'vm_state': 'active', 'task_state': None, 'cleaned': 1,
            'locked': True, 'locked_by': 'admin', 'compute_id': 3,
            'launched_at': '2026-03-04T05:06:07Z',
            'expected_task_state': ['spawning'],
            'expected_vm_state': 'building'})
    assert (old['vm_state'], new['vm_state'], new['cleaned'],
            new['locked_by'], new['compute_id']) == (
        'building', 'active', 1, 'admin', 3)
    assert _joined(old) == _joined(new) == DEFAULT_JOINS
    assert new['info_cache'] == old['info_cache']
    assert new['metadata'] == {'m': '1'}
    old, new = api.instance_update_and_get_original(
        admin_context, inst['uuid'], {'metadata': {'n': '2'}},
        columns_to_join=['metadata', 'extra.flavor'])
    assert _joined(new) == {'metadata', 'extra'}
    assert (old['metadata'], new['metadata']) == ({'m': '1'}, {'n': '2'})
    # Its own id and uuid are no change, as in nova.
    assert api.instance_update_and_get_original(
        admin_context, inst['uuid'], {'id': inst['id'], 'uuid': inst['uuid'],
                                      'progress': 4})[1]['progress'] == 4
    for values in ({'uuid': MISSING}, {'id': inst['id'] + 1},
                   {'deleted': 1}, {'vcpus': 'x'}, {'bogus': 1}):
        with pytest.raises(exception.InvalidUpdate):
            api.instance_update_and_get_original(admin_context,
                                                 inst['uuid'], values)


def test_update_and_get_original_joins_are_the_updated_one_s_own(
        db_all, admin_context):
    """The updated instance's joins equal the original's and are copies
    of them: nova changes one without the other."""
    inst = _create(admin_context, security_groups=['default'],
                   info_cache={'network_info': '[]'},
                   extra={'flavor': '{"a": 1}'})
    joins = ['info_cache', 'security_groups', 'extra', 'extra.flavor']
    old, new = api.instance_update_and_get_original(
        admin_context, inst['uuid'], {'progress': 5}, columns_to_join=joins)
    assert new['security_groups'] and new['info_cache'] and new['extra']
    for name in ('info_cache', 'security_groups', 'extra'):
        assert new[name] == old[name]
    new['info_cache']['network_info'] = 'changed'
    new['extra']['flavor'] = 'changed'
    new['security_groups'][0]['name'] = 'changed'
    new['security_groups'].append({})
    again = api.instance_get_by_uuid(admin_context, inst['uuid'],
                                     columns_to_join=joins)
    for name in ('info_cache', 'security_groups', 'extra'):
        assert old[name] == again[name]


def test_conflicts_carry_nova_s_kwargs(db_all, admin_context):
    inst = _create(admin_context, vm_state='active', task_state='deleting',
                   power_state=1)
    uuid = inst['uuid']
    with pytest.raises(exception.UnexpectedDeletingTaskStateError) as e:
        api.instance_update_and_get_original(admin_context, uuid, {
            'task_state': 'x', 'expected_task_state': [None, 'spawning'],
            'expected_vm_state': 'active'})
    assert e.value.kwargs == {'instance_uuid': uuid,
                              'expected': {'task_state': [None, 'spawning']},
                              'actual': {'task_state': 'deleting'}}
    with pytest.raises(exception.UnexpectedTaskStateError) as e:
        api.instance_update_and_get_original(admin_context, uuid, {
            'task_state': None, 'expected_task_state': 'spawning',
            'expected_vm_state': 'error'})
    assert e.value.kwargs['expected'] == {'task_state': ['spawning'],
                                          'vm_state': ['error']}
    assert e.value.kwargs['actual'] == {'task_state': 'deleting',
                                        'vm_state': 'active'}
    with pytest.raises(exception.UnexpectedVMStateError) as e:
        api.instance_update_and_get_original(admin_context, uuid, {
            'progress': 1, 'expected_vm_state': ['error', 'stopped']})
    assert isinstance(e.value, exception.InstanceUpdateConflict)
    assert e.value.kwargs['actual'] == {'vm_state': 'active'}
    # nova's ``expected``: any column, InstanceUpdateConflict.
    with pytest.raises(exception.InstanceUpdateConflict) as e:
        api.instance_update_and_get_original(
            admin_context, uuid, {'progress': 1},
            expected={'power_state': [4, None]})
    assert type(e.value) is exception.InstanceUpdateConflict
    assert e.value.kwargs['expected'] == {'power_state': [4, None]}
    assert e.value.kwargs['actual'] == {'power_state': 1}
    old, new = api.instance_update_and_get_original(
        admin_context, uuid, {'progress': 2},
        expected={'power_state': 1, 'host': ['h1']})
    assert (old['progress'], new['progress']) == (None, 2)
    with pytest.raises(exception.InvalidUpdate):
        api.instance_update_and_get_original(
            admin_context, uuid, {}, expected={'bogus': 1})
    # Nothing was written by the misses.
    assert api.instance_get_by_uuid(admin_context, uuid)['progress'] == 2


def test_the_compare_and_swap_is_one_update_with_the_scope(
        db_all, admin_context):
    inst = _create(admin_context, host='h1', task_state='spawning')
    sent = []

    def record(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith('UPDATE'):
            sent.append(statement)

    engine = db_session.get_engine()
    sa.event.listen(engine, 'before_cursor_execute', record)
    try:
        api.instance_update_and_get_original(
            admin_context, inst['uuid'], {'task_state': None},
            expected={'task_state': 'spawning'}, scope_host='h1')
        assert len(sent) == 1
        with pytest.raises(exception.HostScopeViolation):
            api.instance_update_and_get_original(
                admin_context, inst['uuid'], {'progress': 1},
                scope_host='h2')
    finally:
        sa.event.remove(engine, 'before_cursor_execute', record)
    # (PostgreSQL sends a miss again without its snapshot guard:
    # _dialect.SNAPSHOT_GUARDED.)
    for statement in sent:
        assert 'migrations' in statement  # the scope, in its WHERE
    assert 'task_state in' in sent[0].lower()
    assert api.instance_get_by_uuid(admin_context, inst['uuid'])[
        'progress'] is None


# -- destroy ---------------------------------------------------------------

def test_destroy_cascades_as_nova(db_all, admin_context):
    inst = _create(admin_context, metadata={'m': '1'},
                   system_metadata={'s': '1'}, security_groups=['default'])
    uuid = inst['uuid']
    api.instance_fault_create(admin_context, {'instance_uuid': uuid,
                                              'code': 1, 'message': 'm'})
    api.migration_create(admin_context, {
        'instance_uuid': uuid, 'source_compute': 'h1', 'dest_compute': 'h2',
        'status': 'migrating'})
    _insert(models.Tag, resource_id=uuid, tag='t')
    _insert(models.BlockDeviceMapping, instance_uuid=uuid, deleted=0,
            uuid='4c7c3c5e-0000-4000-8000-000000000001',
            source_type='image', destination_type='local')
    gone = api.instance_destroy(admin_context, uuid)
    assert gone['deleted'] == gone['id'] and gone['deleted_at']
    assert _joined(gone) == DEFAULT_JOINS
    # nova's soft delete leaves updated_at as it was.
    assert gone['updated_at'] == inst['updated_at']
    for model in (models.InstanceInfoCache, models.InstanceExtra,
                  models.InstanceFault, models.Migration,
                  models.BlockDeviceMapping,
                  models.SecurityGroupInstanceAssociation):
        rows = _rows(model, instance_uuid=uuid)
        assert rows and all(r['deleted'] == r['id'] for r in rows), model
    assert _rows(models.Tag, resource_id=uuid) == []
    # Metadata stays with the soft-deleted instance.
    assert len(_rows(models.InstanceSystemMetadata, instance_uuid=uuid)) == 1
    with pytest.raises(exception.InstanceNotFound):
        api.instance_destroy(admin_context, uuid)
    with pytest.raises(exception.InvalidUUID):
        api.instance_destroy(admin_context, 'nope')


def test_hard_destroy_leaves_nothing(db_all, admin_context):
    inst = _create(admin_context, metadata={'m': '1'})
    uuid = inst['uuid']
    api.instance_fault_create(admin_context, {'instance_uuid': uuid,
                                              'code': 1, 'message': 'm'})
    api.instance_action_start(admin_context, {
        'instance_uuid': uuid, 'action': 'create', 'request_id': 'r1'})
    api.action_event_start(admin_context, {
        'instance_uuid': uuid, 'request_id': 'r1', 'event': 'e'})
    api.instance_destroy(admin_context, uuid, hard_delete=True)
    for model in (models.InstanceInfoCache, models.InstanceExtra,
                  models.InstanceFault, models.InstanceMetadata,
                  models.InstanceAction):
        assert _rows(model, instance_uuid=uuid) == [], model
    assert _rows(models.Instance, uuid=uuid) == []
    assert _rows(models.InstanceActionEvent) == []


def test_destroy_with_nova_s_constraint_and_the_scope(db_all,
                                                      admin_context):
    unscheduled = _create(admin_context, host=None)
    placed = _create(admin_context, host='h1')
    no_host = {'__constraint__': {'host': {'equal_any': [None]}}}
    with pytest.raises(exception.ConstraintNotMet):
        api.instance_destroy(admin_context, placed['uuid'],
                             constraint=no_host)
    assert api.instance_destroy(admin_context, unscheduled['uuid'],
                                constraint=no_host)['deleted']
    with pytest.raises(exception.ConstraintNotMet):
        api.instance_destroy(admin_context, placed['uuid'], constraint={
            '__constraint__': {'host': {'not_equal': ['h1']}}})
    for bad in ({'host': 'h1'}, {'__constraint__': {'nope': {
            'equal_any': [1]}}}, {'__constraint__': {'host': {
                'like': ['h']}}}):
        with pytest.raises(exception.Invalid):
            api.instance_destroy(admin_context, placed['uuid'],
                                 constraint=bad)
    with pytest.raises(exception.HostScopeViolation) as raised:
        api.instance_destroy(admin_context, placed['uuid'], scope_host='h2')
    assert raised.value.kwargs['caller'] == 'h2'
    assert 'owner' not in raised.value.kwargs
    assert api.instance_destroy(admin_context, placed['uuid'],
                                constraint={'__constraint__': {
                                    'host': {'equal_any': ['h1']}}},
                                scope_host='h1')['deleted']


def test_a_read_with_metadata_is_one_statement_where_it_can_be(
        db_all, admin_context):
    # PostgreSQL and SQLite aggregate the metadata into the instance's
    # SELECT; MariaDB reads it after. Each asked-for join is one more.
    inst = _create(admin_context, metadata={'m': '1'},
                   system_metadata={'s': '2'})
    sent = []

    def record(conn, cursor, statement, *args):
        sent.append(statement.split(None, 1)[0].upper())

    engine = db_session.get_engine()
    sa.event.listen(engine, 'before_cursor_execute', record)
    try:
        got = api.instance_get_by_uuid(
            admin_context, inst['uuid'],
            columns_to_join=['metadata', 'system_metadata'])
        plain = len([s for s in sent if s == 'SELECT'])
        del sent[:]
        api.instance_get_by_uuid(admin_context, inst['uuid'],
                                 columns_to_join=['metadata', 'tags'])
        tagged = len([s for s in sent if s == 'SELECT'])
    finally:
        sa.event.remove(engine, 'before_cursor_execute', record)
    backend = sa.engine.make_url(db_all).get_backend_name()
    assert plain == (2 if backend == 'mysql' else 1)
    assert tagged == plain + 1
    assert (got['metadata'], got['system_metadata']) == ({'m': '1'},
                                                         {'s': '2'})
