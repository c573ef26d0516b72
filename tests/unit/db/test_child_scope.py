"""Host scope of an instance's child rows (``db/api/_child_scope.py`` and
``_scope.scoped_instance``), on SQLite, PostgreSQL and MariaDB: a child
row is written only while its instance is in the caller's scope, and a
refusal names the child refused, not only its instance."""

import threading
import time

import pytest

from nova_proxy.common import context as np_context
from nova_proxy.db import api
from nova_proxy.db.api import _scope
from nova_proxy import exception
from tests.unit.db import factories

SHARE = '22222222-2222-4222-8222-222222222222'


def _bdm(ctx, instance_uuid, scope_host):
    return api.block_device_mapping_create(ctx, {
        'instance_uuid': instance_uuid, 'source_type': 'image',
        'destination_type': 'local', 'device_name': '/dev/vda'},
        legacy=False, scope_host=scope_host)


def _fault(ctx, instance_uuid, scope_host):
    return api.instance_fault_create(ctx, {
        'instance_uuid': instance_uuid, 'message': 'm', 'host': 'h1'},
        scope_host=scope_host)


def _action(ctx, instance_uuid, scope_host):
    return api.action_start(ctx, {
        'instance_uuid': instance_uuid, 'request_id': 'req-1',
        'action': 'reboot'}, scope_host=scope_host)


def _tag(ctx, instance_uuid, scope_host):
    return api.instance_tag_add(ctx, instance_uuid, 't',
                                scope_host=scope_host)


def _share(ctx, instance_uuid, scope_host):
    return api.share_mapping_update(
        ctx, '33333333-3333-4333-8333-333333333333', instance_uuid, SHARE,
        'attaching', 'share-tag', 'nfs://x/s', 'NFS', scope_host=scope_host)


def _token(ctx, instance_uuid, scope_host):
    return api.console_auth_token_create(ctx, {
        'token_hash': 'a' * 64, 'console_type': 'novnc', 'host': 'h1',
        'port': 5900, 'instance_uuid': instance_uuid,
        'expires': int(time.time()) + 60}, scope_host=scope_host)


_INSERTS = {'block_device_mapping': _bdm, 'fault': _fault,
            'action': _action, 'tag': _tag, 'share_mapping': _share,
            'console_auth_token': _token}


@pytest.mark.parametrize('child', sorted(_INSERTS))
def test_a_child_insert_holds_its_instance_in_scope_until_written(
        db_all, monkeypatch, child):
    """The instance is moved to h2, from another transaction, between the
    scope check of h1's insert and the insert: the move must wait until
    the insert is committed (else h1 writes a child of h2's instance)."""
    admin = np_context.get_admin_context()
    uuid = factories.instance(admin, host='h1')['uuid']
    real = _scope.scoped_instance
    window = []

    def check_then_move(*args, **kwargs):
        real(*args, **kwargs)
        if not window:
            mover = threading.Thread(target=lambda: api.instance_update(
                np_context.get_admin_context(), uuid, {'host': 'h2'}))
            mover.start()
            mover.join(1.0)
            # Still waiting: the instance's row is held for this write.
            window.append((mover, mover.is_alive()))

    monkeypatch.setattr(_scope, 'scoped_instance', check_then_move)
    written = _INSERTS[child](admin, uuid, 'h1')
    monkeypatch.setattr(_scope, 'scoped_instance', real)
    mover, waited = window[0]
    mover.join(30)
    assert not mover.is_alive()
    assert waited, 'the instance moved between the scope check and the write'
    assert written
    assert api.instance_get_by_uuid(admin, uuid)['host'] == 'h2'
    # Moved now: the next write of h1 is refused.
    with pytest.raises(exception.HostScopeViolation):
        _INSERTS[child](admin, uuid, 'h1')


def _refused(call):
    with pytest.raises(exception.HostScopeViolation) as raised:
        call()
    assert set(raised.value.kwargs) == {'caller', 'resource'}
    return raised.value.kwargs['resource']


def test_a_refused_block_device_mapping_is_named(db_all, admin_context):
    theirs = factories.instance(admin_context, host='h2')['uuid']
    bdm = _bdm(admin_context, theirs, None)
    assert _refused(lambda: api.block_device_mapping_update(
        admin_context, bdm['id'], {'boot_index': 1}, legacy=False,
        scope_host='h1')) == 'block device mapping %s' % bdm['id']
    assert _refused(lambda: api.block_device_mapping_destroy(
        admin_context, bdm['id'], scope_host='h1')) == \
        'block device mapping %s' % bdm['id']
    assert _refused(lambda: api.block_device_mapping_create_uuid(
        admin_context, bdm['id'], factories.MISSING, scope_host='h1')) == \
        'block device mapping %s' % bdm['id']
    assert _refused(lambda: _bdm(admin_context, theirs, 'h1')) == \
        'a block device mapping of instance %s' % theirs
    assert _refused(lambda: api.block_device_mapping_get_all_by_instance(
        admin_context, theirs, scope_host='h1')) == \
        'the block device mappings of instance %s' % theirs
    # Untouched.
    assert api.block_device_mapping_get_all_by_instance(
        admin_context, theirs)[0]['boot_index'] is None


@pytest.mark.parametrize('child,resource', [
    ('fault', 'the faults of instance %s'),
    ('action', 'the actions of instance %s'),
    ('tag', 'the tags of instance %s'),
    ('share_mapping', 'the share mappings of instance %s'),
    ('console_auth_token', 'the console auth tokens of instance %s'),
])
def test_a_refused_child_is_named(db_all, admin_context, child, resource):
    theirs = factories.instance(admin_context, host='h2')['uuid']
    assert _refused(lambda: _INSERTS[child](admin_context, theirs, 'h1')) \
        == resource % theirs


def test_refused_reads_of_children_are_named(db_all, admin_context):
    theirs = factories.instance(admin_context, host='h2')['uuid']
    assert _refused(lambda: api.instance_info_cache_get(
        admin_context, theirs, scope_host='h1')) == \
        'the info cache of instance %s' % theirs
    assert _refused(lambda: api.instance_extra_get_by_instance_uuid(
        admin_context, theirs, scope_host='h1')) == \
        'the extra of instance %s' % theirs
    assert _refused(lambda: api.instance_fault_get_by_instance_uuids(
        admin_context, [theirs], scope_host='h1')) == \
        'the faults of instance %s' % theirs
    # The instance itself is still named as the instance.
    assert _refused(lambda: api.instance_get_by_uuid(
        admin_context, theirs, scope_host='h1')) == 'instance %s' % theirs
