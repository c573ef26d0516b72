"""Instances in the DB API (``db/api/instances.py``, ``instance_lists.py``
and ``instance_metadata.py``): create, read, list, soft-delete; on SQLite,
PostgreSQL and MariaDB."""

import datetime

import pytest
import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy.db import api
from nova_proxy.db.api import _instance_rows
from nova_proxy.db.api import _values
from nova_proxy.db import session as db_session
from nova_proxy import exception
from tests.unit.db import factories


def test_create_returns_plain_json_instance(db_all, admin_context):
    ctx = np_context.RequestContext(user_id='u1', project_id='p1')
    inst = api.instance_create(ctx, {
        'host': 'host1', 'node': 'node1', 'vm_state': 'building',
        'memory_mb': 512, 'vcpus': 1, 'root_gb': 1, 'display_name': 'vm',
        'launched_at': '2026-01-02T03:04:05+02:00',
        'metadata': {'a': '1', 'n': 2}, 'system_metadata': {'s': 'x'}})
    assert _values.validate_uuid(inst['uuid']) is None
    assert inst['vm_state'] == 'building'
    assert inst['task_state'] is None
    assert inst['user_id'] == 'u1' and inst['project_id'] == 'p1'
    assert inst['deleted'] == 0 and inst['deleted_at'] is None
    # Metadata values are strings, as in nova.
    assert inst['metadata'] == {'a': '1', 'n': '2'}
    assert inst['system_metadata'] == {'s': 'x'}
    # Times travel as ISO 8601 UTC strings; an offset is converted.
    assert factories.iso(inst['launched_at']) == datetime.datetime(
        2026, 1, 2, 1, 4, 5, tzinfo=datetime.timezone.utc)
    factories.iso(inst['created_at'])
    factories.iso(inst['updated_at'])
    # (nova's create brings the instance's extra row, a read does not.)
    assert api.instance_get_by_uuid(admin_context, inst['uuid']) == {
        k: v for k, v in inst.items() if k != 'extra'}


def test_create_with_uuid_and_duplicates(db_all, admin_context):
    uuid = '11111111-2222-4333-8444-555555555555'
    inst = factories.instance(admin_context, uuid=uuid)
    assert inst['uuid'] == uuid
    with pytest.raises(exception.InstanceExists) as e:
        factories.instance(admin_context, uuid=uuid)
    assert e.value.kwargs == {'instance_uuid': uuid}
    with pytest.raises(exception.InvalidUUID):
        factories.instance(admin_context, uuid='not-a-uuid')


def test_create_refuses_protected_and_unknown_fields(db_all, admin_context):
    for field in ('id', 'created_at', 'deleted', 'deleted_at', 'bogus'):
        with pytest.raises(exception.InvalidUpdate) as e:
            factories.instance(admin_context, **{field: 1})
        assert e.value.kwargs['field'] == field
    with pytest.raises(exception.InvalidUpdate) as e:
        api.instance_create(admin_context, ['host', 'h'])
    assert e.value.kwargs['field'] == 'values'
    assert api.instance_get_all(admin_context) == []


def test_get_by_uuid_errors(db_all, admin_context):
    with pytest.raises(exception.InstanceNotFound) as e:
        api.instance_get_by_uuid(admin_context, factories.MISSING)
    assert e.value.kwargs == {'instance_id': factories.MISSING}
    for bad in ('not-a-uuid', 123, None, ['x']):
        with pytest.raises(exception.InvalidUUID):
            api.instance_get_by_uuid(admin_context, bad)


def test_get_all_by_host_and_node(db_all, admin_context):
    a = factories.instance(
        admin_context, host='h1', node='n1',
        metadata={'k': 'a', 'only-a': '1'}, system_metadata={'image': 'a'})
    b = factories.instance(
        admin_context, host='h1', node='n2', metadata={'k': 'b'})
    factories.instance(
        admin_context, host='h2', node='n1', metadata={'k': 'c'})
    gone = factories.instance(admin_context, host='h1', node='n1')
    api.instance_destroy(admin_context, gone['uuid'])
    assert [i['uuid'] for i in api.instance_get_all_by_host(
        admin_context, 'h1')] == [a['uuid'], b['uuid']]
    assert [i['uuid'] for i in api.instance_get_all_by_host_and_node(
        admin_context, 'h1', 'n2')] == [b['uuid']]
    assert api.instance_get_all_by_host(admin_context, 'nowhere') == []
    # Each listed instance carries its own metadata, as one read gives it.
    listed = api.instance_get_all_by_host(admin_context, 'h1')
    assert listed == [api.instance_get_by_uuid(admin_context, u)
                      for u in (a['uuid'], b['uuid'])]
    assert [i['metadata'] for i in listed] == [{'k': 'a', 'only-a': '1'},
                                               {'k': 'b'}]
    assert [i['system_metadata'] for i in listed] == [{'image': 'a'}, {}]


# nova's filters (instance_get_all_by_filters and _sort) are pinned in
# test_nova_instances.py.


def test_destroy_soft_deletes(db_all, admin_context):
    inst = factories.instance(admin_context, metadata={'a': '1'})
    gone = api.instance_destroy(admin_context, inst['uuid'])
    assert gone['uuid'] == inst['uuid']
    assert gone['deleted'] != 0
    factories.iso(gone['deleted_at'])
    assert gone['metadata'] == {'a': '1'}
    with pytest.raises(exception.InstanceNotFound):
        api.instance_get_by_uuid(admin_context, inst['uuid'])
    with pytest.raises(exception.InstanceNotFound):
        api.instance_destroy(admin_context, inst['uuid'])
    with pytest.raises(exception.InvalidUUID):
        api.instance_destroy(admin_context, 'bad')
    # The row is still there, soft-deleted.
    assert factories.stored_instance(inst['uuid']).deleted == gone['deleted']


def test_listing_more_instances_than_one_metadata_read_takes(
        db, admin_context, monkeypatch):
    """The metadata of a long list is read in chunks; every instance still
    gets its own."""
    monkeypatch.setattr(_instance_rows, 'CHUNK', 2)
    made = [factories.instance(admin_context, host='big',
                               metadata={'n': str(n)})
            for n in range(5)]
    reads = []

    def count(conn, cursor, statement, *args):
        if 'instance_system_metadata' in statement:
            reads.append(statement)

    engine = db_session.get_engine()
    sa.event.listen(engine, 'before_cursor_execute', count)
    try:
        listed = api.instance_get_all(admin_context)
    finally:
        sa.event.remove(engine, 'before_cursor_execute', count)
    assert len(reads) == 3  # 5 instances, 2 per read
    assert [i['uuid'] for i in listed] == [i['uuid'] for i in made]
    assert [i['metadata'] for i in listed] == [{'n': str(n)}
                                               for n in range(5)]
    # A host's own list brings the metadata in its one statement
    # (SQLite aggregates it), whatever the chunks.
    reads.clear()
    sa.event.listen(engine, 'before_cursor_execute', count)
    try:
        by_host = api.instance_get_all_by_host(admin_context, 'big')
    finally:
        sa.event.remove(engine, 'before_cursor_execute', count)
    assert len(reads) == 1
    assert by_host == listed


def test_text_is_stored_and_compared_alike_on_every_backend(
        db_all, admin_context):
    """Any length, byte for byte: MariaDB's TEXT held 64 KB and its
    default collation made 'a', 'A' and 'a ' one metadata key."""
    long = 'x' * 70000
    # Metadata values are bounded as in nova (255), in characters.
    widest = '日' * 255
    inst = factories.instance(
        admin_context, display_name='vm-日本',
        metadata={'a': '1', 'A': '2', 'a ': '3', 'wide': widest})
    got = api.instance_get_by_uuid(admin_context, inst['uuid'])
    assert got['display_name'] == 'vm-日本'
    assert got['metadata'] == {'a': '1', 'A': '2', 'a ': '3',
                               'wide': widest}
    api.instance_action_start(admin_context, {
        'instance_uuid': inst['uuid'], 'action': 'a', 'request_id': 'r'})
    event = api.action_event_start(admin_context, {
        'instance_uuid': inst['uuid'], 'request_id': 'r', 'event': 'e',
        'traceback': long})
    assert len(event['traceback']) == 70000


def test_metadata_at_nova_limits_is_stored(db, admin_context):
    metadata = {'k%03d' % i + 'x' * 251: 'v' * 255 for i in range(128)}
    inst = factories.instance(admin_context, memory_mb=0, metadata=metadata)
    assert api.instance_get_by_uuid(admin_context,
                                    inst['uuid'])['metadata'] == metadata


@pytest.mark.parametrize('spelling', [str.upper, lambda u: u.replace('-', ''),
                                      lambda u: '{%s}' % u])
def test_only_canonical_uuids_are_stored_or_read(db, admin_context,
                                                 spelling):
    canonical = '6f1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b'
    with pytest.raises(exception.InvalidUUID):
        factories.instance(admin_context, uuid=spelling(canonical))
    inst = factories.instance(admin_context, uuid=canonical)
    with pytest.raises(exception.InvalidUUID):
        api.instance_get_by_uuid(admin_context, spelling(canonical))
    with pytest.raises(exception.InvalidUUID):
        api.instance_update(admin_context, spelling(canonical),
                            {'display_name': 'copy'})
    # One row for the UUID, however it was spelled.
    assert [i['uuid'] for i in api.instance_get_all_by_host(
        admin_context, 'host1')] == [inst['uuid']]
