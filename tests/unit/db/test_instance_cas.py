"""The compare-and-swap ``instance_update`` and
``instance_update_and_get_original`` (``db/api/instance_cas.py``), on
SQLite, PostgreSQL and MariaDB.

``instance_update`` is the heart of the proxy: a compare-and-swap in one
conditional UPDATE. These tests pin each of its rules.
"""

import copy

import pytest
import sqlalchemy as sa

from nova_proxy.db import api
from nova_proxy.db import session as db_session
from nova_proxy import exception
from tests.unit.db import factories


def test_update_without_expectations_writes(db_all, admin_context):
    inst = factories.instance(admin_context, vm_state='building')
    new = api.instance_update(admin_context, inst['uuid'], {
        'vm_state': 'active', 'task_state': None, 'power_state': 1,
        'progress': 100, 'launched_at': '2026-03-04T05:06:07.123456Z'})
    assert (new['vm_state'], new['task_state'], new['power_state'],
            new['progress']) == ('active', None, 1, 100)
    assert new['launched_at'] == '2026-03-04T05:06:07.123456+00:00'
    assert new['uuid'] == inst['uuid'] and new['host'] == 'host1'
    assert factories.v1_get(admin_context, inst['uuid']) == new


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
    inst = factories.instance(admin_context, task_state=actual)
    values = {'expected_task_state': expected, 'progress': 7}
    if ok:
        assert api.instance_update(admin_context, inst['uuid'],
                                   values)['progress'] == 7
    else:
        with pytest.raises(exception.UnexpectedTaskStateError) as e:
            api.instance_update(admin_context, inst['uuid'], values)
        assert e.value.kwargs == {'instance_uuid': inst['uuid'],
                                  'expected': expected, 'actual': actual}
        assert factories.stored_instance(inst['uuid']).progress is None


def test_cas_semantics_on_every_backend(db_all, admin_context):
    inst = factories.instance(
        admin_context, vm_state='active', task_state=None)
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
    before = factories.stored_instance(uuid)
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
    assert factories.stored_instance(uuid) == before


def test_task_state_conflict_reported_before_vm_state(db_all,
                                                      admin_context):
    inst = factories.instance(
        admin_context, vm_state='active', task_state='spawning')
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
    inst = factories.instance(admin_context, task_state='deleting')
    with pytest.raises(exception.UnexpectedDeletingTaskStateError) as e:
        api.instance_update(admin_context, inst['uuid'], {
            'task_state': 'powering-off', 'expected_task_state': None})
    # Callers catching the general error still catch it, as in nova.
    assert isinstance(e.value, exception.UnexpectedTaskStateError)
    assert e.value.kwargs['actual'] == 'deleting'
    assert factories.stored_instance(inst['uuid']).task_state == 'deleting'
    # Expecting 'deleting' is no conflict.
    assert api.instance_update(admin_context, inst['uuid'], {
        'task_state': None, 'expected_task_state': 'deleting'},
    )['task_state'] is None


def test_update_missing_or_deleted_instance(db_all, admin_context):
    for values in ({'progress': 1}, {'expected_task_state': None}):
        with pytest.raises(exception.InstanceNotFound):
            api.instance_update(admin_context, factories.MISSING, values)
    inst = factories.instance(admin_context)
    api.instance_destroy(admin_context, inst['uuid'])
    with pytest.raises(exception.InstanceNotFound):
        api.instance_update(admin_context, inst['uuid'], {'progress': 1})
    with pytest.raises(exception.InstanceNotFound):
        api.instance_update(admin_context, inst['uuid'],
                            {'progress': 1, 'expected_task_state': None})
    assert factories.stored_instance(inst['uuid']).progress is None
    for bad in ('nope', 42, None):
        with pytest.raises(exception.InvalidUUID):
            api.instance_update(admin_context, bad, {'progress': 1})


def test_unknown_or_protected_field_writes_nothing(db_all, admin_context):
    inst = factories.instance(admin_context, vm_state='active')
    before = factories.stored_instance(inst['uuid'])
    for field in sorted(api.INSTANCE_PROTECTED_FIELDS) + [
            'bogus', 'expected_power_state', 'metadata_items']:
        with pytest.raises(exception.InvalidUpdate) as e:
            # A valid field next to the bad one is not written either.
            api.instance_update(admin_context, inst['uuid'], {
                'vm_state': 'error', field: 1,
                'metadata': {'x': 'y'}})
        assert e.value.kwargs['field'] == field
        assert field in str(e.value)
    assert factories.stored_instance(inst['uuid']) == before
    assert factories.v1_get(admin_context, inst['uuid'])['metadata'] == {}


@pytest.mark.parametrize('field, value', [
    ('memory_mb', 'lots'), ('memory_mb', 1.5), ('memory_mb', True),
    ('memory_mb', 2 ** 40), ('vm_state', 5), ('host', 'x' * 256),
    ('display_name', 'nul\x00'), ('launched_at', 'yesterday'),
    ('launched_at', 12), ('metadata', ['a']), ('metadata', {'k': {}}),
    ('metadata', {'': 'v'}), ('system_metadata', 'a=b'),
    ('expected_task_state', 5), ('expected_vm_state', [{'a': 1}]),
    # Out of bounds: negative resources, numbers as text, metadata
    # beyond nova's limits.
    ('memory_mb', -5), ('vcpus', -1), ('root_gb', -1), ('ephemeral_gb', -1),
    ('memory_mb', '5'), ('vcpus', '2'), ('progress', 101),
    ('progress', -1), ('power_state', -1), ('instance_type_id', '1'),
    ('metadata', {'k': 'v' * 256}), ('metadata', {'k' * 256: 'v'}),
    ('metadata', {'k%d' % i: 'v' for i in range(129)}),
    ('system_metadata', {'k': 'v' * 256}),
    ('system_metadata', {'k%d' % i: 'v' for i in range(513)}),
])
def test_wrong_value_type_is_invalid_update(db, admin_context, field,
                                            value):
    inst = factories.instance(admin_context)
    before = api.instance_get_by_uuid(admin_context, inst['uuid'])
    with pytest.raises(exception.InvalidUpdate) as e:
        api.instance_update(admin_context, inst['uuid'], {field: value})
    assert e.value.kwargs['field'] == field
    assert api.instance_get_by_uuid(admin_context, inst['uuid']) == before


def test_values_must_be_a_dict(db_all, admin_context):
    inst = factories.instance(admin_context)
    for bad in (['vm_state', 'x'], 'vm_state', 3):
        with pytest.raises(exception.InvalidUpdate) as e:
            api.instance_update(admin_context, inst['uuid'], bad)
        assert e.value.kwargs['field'] == 'values'


def test_metadata_replaces_whole_dict(db_all, admin_context):
    inst = factories.instance(
        admin_context, metadata={'a': '1', 'b': '2'},
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
    assert factories.v1_get(admin_context, uuid)['metadata'] == {
        'a': '9'}
    # None leaves a dict as it is, as in nova's DB API.
    for update in (api.instance_update,
                   lambda *a: api.instance_update_and_get_original(
                       *a, columns_to_join=factories.V1_JOINS)[1]):
        new = update(admin_context, uuid, {'metadata': None,
                                           'system_metadata': None,
                                           'progress': 5})
        assert (new['metadata'], new['system_metadata'], new['progress']) \
            == ({'a': '9'}, {'keep': 'k2'}, 5)
    assert factories.v1_get(admin_context, uuid)['metadata'] == {
        'a': '9'}


@pytest.mark.parametrize('scope_host', [None, 'host1'])
def test_update_returns_its_own_instances_metadata(db_all, admin_context,
                                                   scope_host):
    # On PostgreSQL and SQLite the metadata comes back with the UPDATE
    # (aggregated in RETURNING), on MariaDB from a second read: each
    # instance gets its own, and none is an empty dict (NULL from an
    # aggregate over no rows on PostgreSQL).
    other = factories.instance(
        admin_context, metadata={'k': 'other'},
        system_metadata={'image': 'other'})
    mine = factories.instance(
        admin_context, metadata={'k': 'mine', 'x': ''},
        system_metadata={'image': 'mine'})
    bare = factories.instance(admin_context)
    new = api.instance_update(admin_context, mine['uuid'],
                              {'progress': 5, 'expected_task_state': None},
                              scope_host=scope_host)
    assert new['progress'] == 5
    assert new['metadata'] == {'k': 'mine', 'x': ''}
    assert new['system_metadata'] == {'image': 'mine'}
    assert new == dict(factories.v1_get(admin_context, mine['uuid']))
    new = api.instance_update(admin_context, bare['uuid'], {'progress': 1},
                              scope_host=scope_host)
    assert new['metadata'] == {} and new['system_metadata'] == {}
    assert factories.v1_get(admin_context, other['uuid'])[
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
    inst = factories.instance(admin_context, host='host1', metadata={'k': 'v'})
    result = []
    # The 1.x shape: instance_update_and_get_original's other joins are
    # reads of their own.
    joins = {'columns_to_join': factories.V1_JOINS} \
        if call.endswith('original') else {}
    sent = _statements_of(lambda: result.append(getattr(api, call)(
        admin_context, inst['uuid'], {'progress': 3,
                                      'expected_task_state': None},
        scope_host='host1', **joins)))
    backend = sa.engine.make_url(db_all).get_backend_name()
    assert sent == _UNCONTENDED[call][backend]
    new = result[0][-1] if call.endswith('original') else result[0]
    assert (new['progress'], new['metadata']) == (3, {'k': 'v'})


def test_metadata_not_written_on_cas_miss(db_all, admin_context):
    inst = factories.instance(
        admin_context, task_state='spawning', metadata={'a': '1'})
    with pytest.raises(exception.UnexpectedTaskStateError):
        api.instance_update(admin_context, inst['uuid'], {
            'metadata': {'b': '2'}, 'system_metadata': {'c': '3'},
            'expected_task_state': None})
    got = factories.v1_get(admin_context, inst['uuid'])
    assert got['metadata'] == {'a': '1'} and got['system_metadata'] == {}


def test_updated_at_set_on_every_success(db_all, admin_context):
    inst = factories.instance(admin_context)
    stamps = [factories.iso(inst['updated_at'])]
    for values in ({'progress': 1}, {'progress': 1}, {},
                   {'metadata': {'a': 'b'}}):
        new = api.instance_update(admin_context, inst['uuid'], values)
        stamps.append(factories.iso(new['updated_at']))
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert new['created_at'] == inst['created_at']


def test_callers_dict_is_never_mutated(db_all, admin_context):
    inst = factories.instance(admin_context, task_state='spawning')
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
    inst = factories.instance(
        admin_context, vm_state='building', task_state='spawning',
        metadata={'a': '1'})
    old, new = api.instance_update_and_get_original(
        admin_context, inst['uuid'], {
            'vm_state': 'active', 'task_state': None,
            'metadata': {'b': '2'}, 'expected_task_state': 'spawning'},
        columns_to_join=factories.V1_JOINS)
    assert old == factories.v1_instance(inst)
    assert (new['vm_state'], new['task_state']) == ('active', None)
    assert new['metadata'] == {'b': '2'}
    assert new['updated_at'] > old['updated_at']
    with pytest.raises(exception.UnexpectedTaskStateError):
        api.instance_update_and_get_original(
            admin_context, inst['uuid'], {'vm_state': 'error',
                                          'expected_task_state': 'spawning'})
    assert factories.v1_get(admin_context, inst['uuid']) == new
    # Without a metadata change the updated instance carries the
    # original's metadata (not read twice), equal to what a read gives,
    # and not the same dicts as the original's.
    old, newer = api.instance_update_and_get_original(
        admin_context, inst['uuid'], {'progress': 50,
                                      'system_metadata': {'s': '1'}},
        columns_to_join=factories.V1_JOINS)
    old, newest = api.instance_update_and_get_original(
        admin_context, inst['uuid'], {'progress': 60},
        columns_to_join=factories.V1_JOINS)
    assert old == newer
    assert (newest['metadata'], newest['system_metadata']) == (
        {'b': '2'}, {'s': '1'})
    assert factories.v1_get(admin_context, inst['uuid']) == newest
    assert newest['metadata'] is not old['metadata']
    with pytest.raises(exception.InstanceNotFound):
        api.instance_update_and_get_original(
            admin_context, factories.MISSING, {})
    with pytest.raises(exception.InvalidUUID):
        api.instance_update_and_get_original(admin_context, 'x', {})
    with pytest.raises(exception.InvalidUpdate):
        api.instance_update_and_get_original(admin_context, inst['uuid'],
                                             {'uuid': factories.MISSING})
