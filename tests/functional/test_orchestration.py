"""Orchestration end to end with real processes (RabbitMQ, PostgreSQL):
build, resize then confirm, migrate then revert, watched from the
journal and from ``nova-compute-proxy-manage operation list|show``.
"""

import subprocess
import sys

import pytest

from nova_proxy import exception
from tests.functional import orchestration_fixtures as of
from tests.functional.procs import wait_for

orchestra = of.orchestra    # the fixture of this module's tests


def _manage(orchestra, *argv):
    conf_file = orchestra.procs['p1'].conf_path
    return subprocess.run(
        [sys.executable, '-m', 'nova_proxy.cmd.manage', '--config-file',
         conf_file] + list(argv), capture_output=True, text=True,
        timeout=120)


def test_resize_confirm_and_migrate_revert(orchestra):
    o = orchestra
    o.start_proxy('p1')
    o.start_compute('cmp1')
    o.start_compute('cmp2')
    first, second = o.build(2, host='cmp1')
    assert o.instance(first)['vm_state'] == 'active'

    # A resize, chosen destination (the only other host), watched as it
    # goes: the copy's progress shows in the operation.
    op = o.api.migrate_server(o.ctx, first, flavor=of.BIG,
                              operation_id='resize-1')
    assert op['status'] in ('pending', 'running') and op['owner'] == 'p1'
    # The same id again: the same operation, not a second one.
    assert o.api.migrate_server(o.ctx, first, flavor=of.BIG,
                                operation_id='resize-1')['id'] == 'resize-1'
    # Another operation on the busy instance: a clear error.
    with pytest.raises(exception.OperationInProgress):
        o.api.migrate_server(o.ctx, first)
    o.wait_step('resize-1', 'resize_instance', progress=True)
    # Between the step's start (1/3) and its end (2/3) the operation's
    # progress follows the copy.
    wait_for(lambda: 33 < o.op('resize-1')['progress'] < 66, timeout=30,
             interval=0.05, message='copy progress in the operation')
    show = _manage(o, 'operation', 'show', 'resize-1')
    assert show.returncode == 0, show.stderr
    assert 'resize-1' in show.stdout and 'p1' in show.stdout

    record = o.wait_finished('resize-1')
    o.assert_migrated(record, first)
    assert o.instance(first)['memory_mb'] == of.BIG['memory_mb']
    confirm = o.wait_finished(o.api.confirm_resize(o.ctx, first)['id'])
    assert confirm['status'] == 'done'
    instance = o.instance(first)
    assert (instance['host'], instance['vm_state'],
            instance['task_state']) == ('cmp2', 'active', None)
    assert o.migration(record)['status'] == 'confirmed'

    # A cold migration, then a revert: back on cmp1, as before.
    migrate = o.wait_finished(o.api.migrate_server(
        o.ctx, second, dest_host='cmp2')['id'])
    o.assert_migrated(migrate, second)
    revert = o.wait_finished(o.api.revert_resize(o.ctx, second)['id'])
    assert revert['status'] == 'done'
    instance = o.instance(second)
    assert (instance['host'], instance['vm_state'], instance['task_state'],
            instance['memory_mb']) == ('cmp1', 'active', None,
                                       of.FLAVOR['memory_mb'])
    assert o.migration(migrate)['status'] == 'reverted'

    # Both computes applied each step once.
    o.assert_effects_once(['resize-1', migrate['id']], of.MIGRATION_STEPS)
    o.assert_effects_once([confirm['id']], ['confirm_resize'])
    o.assert_effects_once([revert['id']],
                          ['revert_resize', 'finish_revert_resize'])
    state = o.api.operation_list(o.ctx, instance_uuid=second)
    assert [r['kind'] for r in state] == ['revert_resize', 'migrate',
                                          'build']

    listing = _manage(o, 'operation', 'list', '--instance', first)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert len(lines) == 4      # header, build, migrate, confirm
    assert all(' done ' in line for line in lines[1:])


def test_failed_step_rolls_back_and_bad_requests_are_named(orchestra):
    o = orchestra
    o.start_proxy('p1')
    o.start_compute('cmp1')
    # cmp2 fails finish_resize: the rollback undoes it and the copy.
    o.start_compute('cmp2', env={'NOVA_PROXY_FAKE_FAIL_STEPS':
                                 'finish_resize'})
    (uuid,) = o.build(1, host='cmp1')
    record = o.wait_finished(o.api.migrate_server(o.ctx, uuid,
                                                  dest_host='cmp2')['id'])
    assert record['status'] == 'rolled_back'
    assert 'finish_resize' in record['error']
    o.assert_on_source_clean(record, uuid)
    assert record['state']['undone'] == ['revert_resize',
                                         'finish_revert_resize']
    effects = o.effects()
    assert effects[(record['id'], 'finish_resize')] == 0
    for step in ('prep_resize', 'resize_instance', 'revert_resize',
                 'finish_revert_resize'):
        assert effects[(record['id'], step)] == 1, step

    # Bad input: clear named errors, and the proxy keeps serving.
    with pytest.raises(exception.InvalidUUID):
        o.api.migrate_server(o.ctx, 'not-a-uuid')
    with pytest.raises(exception.InstanceNotFound):
        o.api.migrate_server(o.ctx, '00000000-0000-0000-0000-000000000000')
    with pytest.raises(exception.Invalid):
        o.api.confirm_resize(o.ctx, uuid)
    with pytest.raises(exception.InvalidRequest):
        o.api.client.prepare(version='1.0').call(
            o.ctx, 'migrate_server', instance_uuid=uuid, bogus=1)
    # A destination that does not exist is refused at once.
    with pytest.raises(exception.ComputeHostNotFound):
        o.api.migrate_server(o.ctx, uuid, dest_host='nowhere')
    # One that never answers: the call returns at once, the operation
    # waits for the host up to the deadline, then rolls back.
    o.kill('cmp2')
    op = o.api.migrate_server(o.ctx, uuid, dest_host='cmp2')
    assert op['status'] in ('pending', 'running')
    record = o.wait_finished(op['id'])
    assert record['status'] == 'rolled_back'
    assert 'ComputeUnavailable' in record['error']
    o.assert_on_source_clean(record, uuid)
