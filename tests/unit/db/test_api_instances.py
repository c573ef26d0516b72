"""The instance part of the DB API, on SQLite, PostgreSQL and MariaDB.

``instance_update`` is the heart of the proxy: a compare-and-swap in one
conditional UPDATE. These tests pin each rule of the 1.x calls, with
instances in the shape the 1.x calls give them (their columns, metadata
and system metadata); nova's calls of the same names (2.x) are pinned in
test_nova_instances.py.
"""

import copy
import datetime

import pytest
import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy.db import api
from nova_proxy.db.api import _instance_rows
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session
from nova_proxy import exception

MISSING = '2c7c3c5e-0000-4000-8000-000000000000'


V1_JOINS = ['metadata', 'system_metadata']


def _v1(instance):
    """An instance of nova's calls in the 1.x shape."""
    return {k: v for k, v in instance.items()
            if k not in ('info_cache', 'security_groups', 'extra')}


def _create(ctx, **values):
    values.setdefault('host', 'host1')
    values.setdefault('node', 'node1')
    return _v1(api.instance_create(ctx, values))


def _get(ctx, instance_uuid):
    return api.instance_get_by_uuid(ctx, instance_uuid,
                                    columns_to_join=V1_JOINS)


def _row(instance_uuid):
    """The row as stored, bypassing the API."""
    with db_session.get_engine().connect() as conn:
        return conn.execute(sa.select(models.Instance).where(
            models.Instance.uuid == instance_uuid)).one()


def _assert_utc_iso(value):
    parsed = datetime.datetime.fromisoformat(value)
    assert parsed.utcoffset() == datetime.timedelta(0), value
    return parsed


# -- create and read ------------------------------------------------------

def test_create_returns_plain_json_instance(db_all, admin_context):
    ctx = np_context.RequestContext(user_id='u1', project_id='p1')
    inst = _v1(api.instance_create(ctx, {
        'host': 'host1', 'node': 'node1', 'vm_state': 'building',
        'memory_mb': 512, 'vcpus': 1, 'root_gb': 1, 'display_name': 'vm',
        'launched_at': '2026-01-02T03:04:05+02:00',
        'metadata': {'a': '1', 'n': 2}, 'system_metadata': {'s': 'x'}}))
    assert _values.validate_uuid(inst['uuid']) is None
    assert inst['vm_state'] == 'building'
    assert inst['task_state'] is None
    assert inst['user_id'] == 'u1' and inst['project_id'] == 'p1'
    assert inst['deleted'] == 0 and inst['deleted_at'] is None
    # Metadata values are strings, as in nova.
    assert inst['metadata'] == {'a': '1', 'n': '2'}
    assert inst['system_metadata'] == {'s': 'x'}
    # Times travel as ISO 8601 UTC strings; an offset is converted.
    assert _assert_utc_iso(inst['launched_at']) == datetime.datetime(
        2026, 1, 2, 1, 4, 5, tzinfo=datetime.timezone.utc)
    _assert_utc_iso(inst['created_at'])
    _assert_utc_iso(inst['updated_at'])
    assert _get(admin_context, inst['uuid']) == inst


def test_create_with_uuid_and_duplicates(db_all, admin_context):
    uuid = '11111111-2222-4333-8444-555555555555'
    inst = _create(admin_context, uuid=uuid)
    assert inst['uuid'] == uuid
    with pytest.raises(exception.InstanceExists) as e:
        _create(admin_context, uuid=uuid)
    assert e.value.kwargs == {'instance_uuid': uuid}
    with pytest.raises(exception.InvalidUUID):
        _create(admin_context, uuid='not-a-uuid')


def test_create_refuses_protected_and_unknown_fields(db_all, admin_context):
    for field in ('id', 'created_at', 'deleted', 'deleted_at', 'bogus'):
        with pytest.raises(exception.InvalidUpdate) as e:
            _create(admin_context, **{field: 1})
        assert e.value.kwargs['field'] == field
    with pytest.raises(exception.InvalidUpdate) as e:
        api.instance_create(admin_context, ['host', 'h'])
    assert e.value.kwargs['field'] == 'values'
    assert api.instance_get_all(admin_context) == []


def test_get_by_uuid_errors(db_all, admin_context):
    with pytest.raises(exception.InstanceNotFound) as e:
        api.instance_get_by_uuid(admin_context, MISSING)
    assert e.value.kwargs == {'instance_id': MISSING}
    for bad in ('not-a-uuid', 123, None, ['x']):
        with pytest.raises(exception.InvalidUUID):
            _get(admin_context, bad)


def test_get_all_by_host_and_node(db_all, admin_context):
    a = _create(admin_context, host='h1', node='n1',
                metadata={'k': 'a', 'only-a': '1'},
                system_metadata={'image': 'a'})
    b = _create(admin_context, host='h1', node='n2', metadata={'k': 'b'})
    _create(admin_context, host='h2', node='n1', metadata={'k': 'c'})
    gone = _create(admin_context, host='h1', node='n1')
    api.instance_destroy(admin_context, gone['uuid'])
    assert [i['uuid'] for i in api.instance_get_all_by_host(
        admin_context, 'h1')] == [a['uuid'], b['uuid']]
    assert [i['uuid'] for i in api.instance_get_all_by_host_and_node(
        admin_context, 'h1', 'n2')] == [b['uuid']]
    assert api.instance_get_all_by_host(admin_context, 'nowhere') == []
    # Each listed instance carries its own metadata, as one read gives it.
    listed = api.instance_get_all_by_host(admin_context, 'h1',
                                          columns_to_join=V1_JOINS)
    assert listed == [_get(admin_context, u)
                      for u in (a['uuid'], b['uuid'])]
    assert [i['metadata'] for i in listed] == [{'k': 'a', 'only-a': '1'},
                                               {'k': 'b'}]
    assert [i['system_metadata'] for i in listed] == [{'image': 'a'}, {}]


# -- compare-and-swap -----------------------------------------------------

def test_update_without_expectations_writes(db_all, admin_context):
    inst = _create(admin_context, vm_state='building')
    new = api.instance_update(admin_context, inst['uuid'], {
        'vm_state': 'active', 'task_state': None, 'power_state': 1,
        'progress': 100, 'launched_at': '2026-03-04T05:06:07.123456Z'})
    assert (new['vm_state'], new['task_state'], new['power_state'],
            new['progress']) == ('active', None, 1, 100)
    assert new['launched_at'] == '2026-03-04T05:06:07.123456+00:00'
    assert new['uuid'] == inst['uuid'] and new['host'] == 'host1'
    assert _get(admin_context, inst['uuid']) == new


@pytest.mark.parametrize('expected, actual, ok', [
    ('spawning', 'spawning', True),
    ('spawning', 'rebooting', False),
    (None, None, True),
    (None, 'spawning', False),
    (['spawning', None], None, True),
    (['spawning', None], 'spawning', True),
    (['spawning', None], 'powering-off', False),
    ([None], None, True),
    (['a', 'b'], None, False),
    ([], None, False),
])
def test_expected_task_state_forms(db, admin_context, expected, actual, ok):
    """Value or list; None means NULL; a list may mix values and None.
    (The matching rules are SQL; the backends are covered below.)"""
    inst = _create(admin_context, task_state=actual)
    values = {'expected_task_state': expected, 'progress': 7}
    if ok:
        assert api.instance_update(admin_context, inst['uuid'],
                                   values)['progress'] == 7
    else:
        with pytest.raises(exception.UnexpectedTaskStateError) as e:
            api.instance_update(admin_context, inst['uuid'], values)
        assert e.value.kwargs == {'instance_uuid': inst['uuid'],
                                  'expected': expected, 'actual': actual}
        assert _row(inst['uuid']).progress is None


def test_cas_semantics_on_every_backend(db_all, admin_context):
    inst = _create(admin_context, vm_state='active', task_state=None)
    uuid = inst['uuid']
    # NULL matched by None, alone and in a mixed list.
    new = api.instance_update(admin_context, uuid, {
        'task_state': 'powering-off', 'expected_task_state': None,
        'expected_vm_state': ['active', None]})
    assert new['task_state'] == 'powering-off'
    # A value matched inside a mixed list.
    new = api.instance_update(admin_context, uuid, {
        'task_state': None, 'vm_state': 'stopped',
        'expected_task_state': [None, 'powering-off'],
        'expected_vm_state': 'active'})
    assert (new['task_state'], new['vm_state']) == (None, 'stopped')
    before = _row(uuid)
    # A miss writes nothing, not even updated_at.
    with pytest.raises(exception.UnexpectedTaskStateError) as e:
        api.instance_update(admin_context, uuid, {
            'task_state': 'x', 'progress': 5,
            'expected_task_state': ['spawning', 'rebooting']})
    assert e.value.kwargs['actual'] is None
    assert e.value.kwargs['expected'] == ['spawning', 'rebooting']
    with pytest.raises(exception.UnexpectedVMStateError) as e:
        api.instance_update(admin_context, uuid, {
            'progress': 5, 'expected_vm_state': 'active'})
    assert e.value.kwargs == {'instance_uuid': uuid, 'expected': 'active',
                              'actual': 'stopped'}
    assert _row(uuid) == before


def test_task_state_conflict_reported_before_vm_state(db_all,
                                                      admin_context):
    inst = _create(admin_context, vm_state='active', task_state='spawning')
    with pytest.raises(exception.UnexpectedTaskStateError) as e:
        api.instance_update(admin_context, inst['uuid'], {
            'expected_task_state': None, 'expected_vm_state': 'building'})
    assert type(e.value) is exception.UnexpectedTaskStateError
    # Task state right, vm_state wrong: the vm_state error.
    with pytest.raises(exception.UnexpectedVMStateError):
        api.instance_update(admin_context, inst['uuid'], {
            'expected_task_state': 'spawning',
            'expected_vm_state': 'building'})


def test_deleting_task_state_has_its_own_error(db_all, admin_context):
    inst = _create(admin_context, task_state='deleting')
    with pytest.raises(exception.UnexpectedDeletingTaskStateError) as e:
        api.instance_update(admin_context, inst['uuid'], {
            'task_state': 'powering-off', 'expected_task_state': None})
    # Callers catching the general error still catch it, as in nova.
    assert isinstance(e.value, exception.UnexpectedTaskStateError)
    assert e.value.kwargs['actual'] == 'deleting'
    assert _row(inst['uuid']).task_state == 'deleting'
    # Expecting 'deleting' is no conflict.
    assert api.instance_update(admin_context, inst['uuid'], {
        'task_state': None, 'expected_task_state': 'deleting'},
    )['task_state'] is None


def test_update_missing_or_deleted_instance(db_all, admin_context):
    for values in ({'progress': 1}, {'expected_task_state': None}):
        with pytest.raises(exception.InstanceNotFound):
            api.instance_update(admin_context, MISSING, values)
    inst = _create(admin_context)
    api.instance_destroy(admin_context, inst['uuid'])
    with pytest.raises(exception.InstanceNotFound):
        api.instance_update(admin_context, inst['uuid'], {'progress': 1})
    with pytest.raises(exception.InstanceNotFound):
        api.instance_update(admin_context, inst['uuid'],
                            {'progress': 1, 'expected_task_state': None})
    assert _row(inst['uuid']).progress is None
    for bad in ('nope', 42, None):
        with pytest.raises(exception.InvalidUUID):
            api.instance_update(admin_context, bad, {'progress': 1})


def test_unknown_or_protected_field_writes_nothing(db_all, admin_context):
    inst = _create(admin_context, vm_state='active')
    before = _row(inst['uuid'])
    for field in sorted(api.INSTANCE_PROTECTED_FIELDS) + [
            'bogus', 'expected_power_state', 'metadata_items']:
        with pytest.raises(exception.InvalidUpdate) as e:
            # A valid field next to the bad one is not written either.
            api.instance_update(admin_context, inst['uuid'], {
                'vm_state': 'error', field: 1,
                'metadata': {'x': 'y'}})
        assert e.value.kwargs['field'] == field
        assert field in str(e.value)
    assert _row(inst['uuid']) == before
    assert api.instance_get_by_uuid(admin_context,
                                    inst['uuid'])['metadata'] == {}


@pytest.mark.parametrize('field, value', [
    ('memory_mb', 'lots'), ('memory_mb', 1.5), ('memory_mb', True),
    ('memory_mb', 2 ** 40), ('vm_state', 5), ('host', 'x' * 256),
    ('display_name', 'nul\x00'), ('launched_at', 'yesterday'),
    ('launched_at', 12), ('metadata', ['a']), ('metadata', {'k': {}}),
    ('metadata', {'': 'v'}), ('system_metadata', 'a=b'),
    ('expected_task_state', 5), ('expected_vm_state', [{'a': 1}]),
])
def test_wrong_value_type_is_invalid_update(db, admin_context, field,
                                            value):
    inst = _create(admin_context)
    with pytest.raises(exception.InvalidUpdate) as e:
        api.instance_update(admin_context, inst['uuid'], {field: value})
    assert e.value.kwargs['field'] == field


def test_values_must_be_a_dict(db_all, admin_context):
    inst = _create(admin_context)
    for bad in (['vm_state', 'x'], 'vm_state', 3):
        with pytest.raises(exception.InvalidUpdate) as e:
            api.instance_update(admin_context, inst['uuid'], bad)
        assert e.value.kwargs['field'] == 'values'


def test_metadata_replaces_whole_dict(db_all, admin_context):
    inst = _create(admin_context, metadata={'a': '1', 'b': '2'},
                   system_metadata={'image_x': 'y', 'keep': 'k'})
    uuid = inst['uuid']
    new = api.instance_update(admin_context, uuid,
                              {'metadata': {'b': '3', 'c': '4'}})
    assert new['metadata'] == {'b': '3', 'c': '4'}
    # system_metadata was left out of values: unchanged.
    assert new['system_metadata'] == {'image_x': 'y', 'keep': 'k'}
    new = api.instance_update(admin_context, uuid, {'vm_state': 'active'})
    assert new['metadata'] == {'b': '3', 'c': '4'}
    new = api.instance_update(admin_context, uuid,
                              {'system_metadata': {'keep': 'k2'},
                               'metadata': {}})
    assert new['system_metadata'] == {'keep': 'k2'}
    assert new['metadata'] == {}
    # The same key may be written back after removal.
    new = api.instance_update(admin_context, uuid, {'metadata': {'a': '9'}})
    assert _get(admin_context, uuid)['metadata'] == {
        'a': '9'}
    # None leaves a dict as it is, as in nova's DB API.
    for update in (api.instance_update,
                   lambda *a: api.instance_update_and_get_original(
                       *a, columns_to_join=V1_JOINS)[1]):
        new = update(admin_context, uuid, {'metadata': None,
                                           'system_metadata': None,
                                           'progress': 5})
        assert (new['metadata'], new['system_metadata'], new['progress']) \
            == ({'a': '9'}, {'keep': 'k2'}, 5)
    assert _get(admin_context, uuid)['metadata'] == {
        'a': '9'}


@pytest.mark.parametrize('scope_host', [None, 'host1'])
def test_update_returns_its_own_instances_metadata(db_all, admin_context,
                                                   scope_host):
    # On PostgreSQL and SQLite the metadata comes back with the UPDATE
    # (aggregated in RETURNING), on MariaDB from a second read: each
    # instance gets its own, and none is an empty dict (NULL from an
    # aggregate over no rows on PostgreSQL).
    other = _create(admin_context, metadata={'k': 'other'},
                    system_metadata={'image': 'other'})
    mine = _create(admin_context, metadata={'k': 'mine', 'x': ''},
                   system_metadata={'image': 'mine'})
    bare = _create(admin_context)
    new = api.instance_update(admin_context, mine['uuid'],
                              {'progress': 5, 'expected_task_state': None},
                              scope_host=scope_host)
    assert new['progress'] == 5
    assert new['metadata'] == {'k': 'mine', 'x': ''}
    assert new['system_metadata'] == {'image': 'mine'}
    assert new == dict(_get(admin_context, mine['uuid']))
    new = api.instance_update(admin_context, bare['uuid'], {'progress': 1},
                              scope_host=scope_host)
    assert new['metadata'] == {} and new['system_metadata'] == {}
    assert _get(admin_context, other['uuid'])[
        'metadata'] == {'k': 'other'}


def _statements_of(call):
    """The SQL statements ``call()`` sends (not BEGIN: SQLite's is ours)."""
    sent = []

    def record(conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith('BEGIN'):
            sent.append(statement.split(None, 1)[0].upper())

    engine = db_session.get_engine()
    sa.event.listen(engine, 'before_cursor_execute', record)
    try:
        call()
    finally:
        sa.event.remove(engine, 'before_cursor_execute', record)
    return sent


# What a call on an instance no other call holds sends, per backend: on
# PostgreSQL and SQLite the row and its metadata come back with the
# UPDATE or the locked read; MariaDB reads them after the UPDATE.
_UNCONTENDED = {
    'instance_update': {'sqlite': ['UPDATE'], 'postgresql': ['UPDATE'],
                        'mysql': ['UPDATE', 'SELECT', 'SELECT']},
    'instance_update_and_get_original': {
        'sqlite': ['SELECT', 'UPDATE'], 'postgresql': ['SELECT', 'UPDATE'],
        'mysql': ['SELECT', 'SELECT', 'UPDATE', 'SELECT']},
}


@pytest.mark.parametrize('call', sorted(_UNCONTENDED))
def test_an_uncontended_update_sends_the_fewest_statements(
        db_all, admin_context, call):
    inst = _create(admin_context, host='host1', metadata={'k': 'v'})
    result = []
    # The 1.x shape: instance_update_and_get_original's other joins are
    # reads of their own.
    joins = {'columns_to_join': V1_JOINS} if call.endswith('original') \
        else {}
    sent = _statements_of(lambda: result.append(getattr(api, call)(
        admin_context, inst['uuid'], {'progress': 3,
                                      'expected_task_state': None},
        scope_host='host1', **joins)))
    backend = sa.engine.make_url(db_all).get_backend_name()
    assert sent == _UNCONTENDED[call][backend]
    new = result[0][-1] if call.endswith('original') else result[0]
    assert (new['progress'], new['metadata']) == (3, {'k': 'v'})


def test_metadata_not_written_on_cas_miss(db_all, admin_context):
    inst = _create(admin_context, task_state='spawning',
                   metadata={'a': '1'})
    with pytest.raises(exception.UnexpectedTaskStateError):
        api.instance_update(admin_context, inst['uuid'], {
            'metadata': {'b': '2'}, 'system_metadata': {'c': '3'},
            'expected_task_state': None})
    got = _get(admin_context, inst['uuid'])
    assert got['metadata'] == {'a': '1'} and got['system_metadata'] == {}


def test_updated_at_set_on_every_success(db_all, admin_context):
    inst = _create(admin_context)
    stamps = [_assert_utc_iso(inst['updated_at'])]
    for values in ({'progress': 1}, {'progress': 1}, {},
                   {'metadata': {'a': 'b'}}):
        new = api.instance_update(admin_context, inst['uuid'], values)
        stamps.append(_assert_utc_iso(new['updated_at']))
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert new['created_at'] == inst['created_at']


def test_callers_dict_is_never_mutated(db_all, admin_context):
    inst = _create(admin_context, task_state='spawning')
    values = {'task_state': None, 'vm_state': 'active',
              'expected_task_state': ['spawning', None],
              'expected_vm_state': None,
              'metadata': {'a': 1}, 'system_metadata': {'b': None},
              'launched_at': '2026-01-01T00:00:00Z'}
    snapshot = copy.deepcopy(values)
    api.instance_update(admin_context, inst['uuid'], values)
    assert values == snapshot
    with pytest.raises(exception.UnexpectedVMStateError):
        api.instance_update(admin_context, inst['uuid'], values)
    assert values == snapshot
    api.instance_update_and_get_original(
        admin_context, inst['uuid'], {'vm_state': 'x'})
    create_values = {'host': 'h', 'metadata': {'k': 'v'}}
    api.instance_create(admin_context, create_values)
    assert create_values == {'host': 'h', 'metadata': {'k': 'v'}}


def test_update_and_get_original(db_all, admin_context):
    inst = _create(admin_context, vm_state='building',
                   task_state='spawning', metadata={'a': '1'})
    old, new = api.instance_update_and_get_original(
        admin_context, inst['uuid'], {
            'vm_state': 'active', 'task_state': None,
            'metadata': {'b': '2'}, 'expected_task_state': 'spawning'},
        columns_to_join=V1_JOINS)
    assert old == inst
    assert (new['vm_state'], new['task_state']) == ('active', None)
    assert new['metadata'] == {'b': '2'}
    assert new['updated_at'] > old['updated_at']
    with pytest.raises(exception.UnexpectedTaskStateError):
        api.instance_update_and_get_original(
            admin_context, inst['uuid'], {'vm_state': 'error',
                                          'expected_task_state': 'spawning'})
    assert _get(admin_context, inst['uuid']) == new
    # Without a metadata change the updated instance carries the
    # original's metadata (not read twice), equal to what a read gives,
    # and not the same dicts as the original's.
    old, newer = api.instance_update_and_get_original(
        admin_context, inst['uuid'], {'progress': 50,
                                      'system_metadata': {'s': '1'}},
        columns_to_join=V1_JOINS)
    old, newest = api.instance_update_and_get_original(
        admin_context, inst['uuid'], {'progress': 60},
        columns_to_join=V1_JOINS)
    assert old == newer
    assert (newest['metadata'], newest['system_metadata']) == (
        {'b': '2'}, {'s': '1'})
    assert _get(admin_context, inst['uuid']) == newest
    assert newest['metadata'] is not old['metadata']
    with pytest.raises(exception.InstanceNotFound):
        api.instance_update_and_get_original(admin_context, MISSING, {})
    with pytest.raises(exception.InvalidUUID):
        api.instance_update_and_get_original(admin_context, 'x', {})
    with pytest.raises(exception.InvalidUpdate):
        api.instance_update_and_get_original(admin_context, inst['uuid'],
                                             {'uuid': MISSING})


def test_destroy_soft_deletes(db_all, admin_context):
    inst = _create(admin_context, metadata={'a': '1'})
    gone = api.instance_destroy(admin_context, inst['uuid'])
    assert gone['uuid'] == inst['uuid']
    assert gone['deleted'] != 0
    _assert_utc_iso(gone['deleted_at'])
    assert gone['metadata'] == {'a': '1'}
    with pytest.raises(exception.InstanceNotFound):
        _get(admin_context, inst['uuid'])
    with pytest.raises(exception.InstanceNotFound):
        api.instance_destroy(admin_context, inst['uuid'])
    with pytest.raises(exception.InvalidUUID):
        api.instance_destroy(admin_context, 'bad')
    # The row is still there, soft-deleted.
    assert _row(inst['uuid']).deleted == gone['deleted']


def test_purge_deleted_instances(db_all, admin_context):
    keep = _create(admin_context)
    old = _create(admin_context, metadata={'a': '1'},
                  system_metadata={'b': '2'})
    api.instance_fault_create(admin_context, {'instance_uuid': old['uuid'],
                                              'message': 'boom'})
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
                      models.InstanceAction):
            uuids = conn.execute(sa.select(
                model.uuid if model is models.Instance
                else model.instance_uuid)).scalars().all()
            assert old['uuid'] not in uuids
        assert conn.execute(sa.select(sa.func.count()).select_from(
            models.InstanceActionEvent)).scalar() == 0
    _get(admin_context, keep['uuid'])


def test_listing_more_instances_than_one_metadata_read_takes(
        db, admin_context, monkeypatch):
    """The metadata of a long list is read in chunks; every instance still
    gets its own."""
    monkeypatch.setattr(_instance_rows, 'CHUNK', 2)
    made = [_create(admin_context, host='big', metadata={'n': str(n)})
            for n in range(5)]
    reads = []

    def count(conn, cursor, statement, *args):
        if 'instance_system_metadata' in statement:
            reads.append(statement)

    engine = db_session.get_engine()
    sa.event.listen(engine, 'before_cursor_execute', count)
    try:
        listed = api.instance_get_all_by_host(admin_context, 'big')
    finally:
        sa.event.remove(engine, 'before_cursor_execute', count)
    assert len(reads) == 3  # 5 instances, 2 per read
    assert [i['uuid'] for i in listed] == [i['uuid'] for i in made]
    assert [i['metadata'] for i in listed] == [{'n': str(n)}
                                               for n in range(5)]


def test_text_is_stored_and_compared_alike_on_every_backend(
        db_all, admin_context):
    """Any length, byte for byte: MariaDB's TEXT held 64 KB and its
    default collation made 'a', 'A' and 'a ' one metadata key."""
    long = 'x' * 70000
    inst = _create(admin_context, display_name='vm-日本',
                   metadata={'a': '1', 'A': '2', 'a ': '3', 'long': long})
    got = _get(admin_context, inst['uuid'])
    assert got['display_name'] == 'vm-日本'
    assert got['metadata'] == {'a': '1', 'A': '2', 'a ': '3', 'long': long}
    api.instance_action_start(admin_context, {
        'instance_uuid': inst['uuid'], 'action': 'a', 'request_id': 'r'})
    event = api.action_event_start(admin_context, {
        'instance_uuid': inst['uuid'], 'request_id': 'r', 'event': 'e',
        'traceback': long})
    assert len(event['traceback']) == 70000
