"""Fault tests of the orchestration (issue 3), with real proxy and compute
processes on RabbitMQ and PostgreSQL.

Crashes at a step boundary are placed exactly with the engine's test hook
(``NOVA_PROXY_TEST_STEP_HOOK``, see ``nova_proxy.orchestration.hooks``):
the victim proxy SIGSTOPs itself at the named point, the test sees it
stopped and then ``kill -9``s its whole process group (or, for the stale
owner test, SIGCONTs it later). No sleeps decide anything.

Every test checks the compute side too: the fake driver logs each effect
it applies (not the replays from its ledger), and each (operation, step)
must appear there exactly once.
"""

import signal
import time

from tests.functional import orchestration_fixtures as of
from tests.functional.procs import wait_for

orchestra = of.orchestra    # the fixture of this module's tests

BOUNDARIES = ['before:prep_resize', 'after:prep_resize',
              'before:resize_instance', 'after:resize_instance',
              'before:finish_resize', 'after:finish_resize']


def _migrate_via(o, proxy, uuid, op_id):
    return o.call(proxy, 'migrate_server', instance_uuid=uuid,
                  dest_host='cmp2', flavor=None, operation_id=op_id)


def test_kill_owner_at_every_step_boundary_and_mid_copy(orchestra):
    o = orchestra
    victims = ['v%d' % n for n in range(len(BOUNDARIES) + 1)]
    o.start_proxy('survivor')
    # The victims never judge another proxy dead (long deadline): only
    # the survivor takes over.
    for name, point in zip(victims, BOUNDARIES + [None]):
        o.start_proxy(name, hook=point and '%s:stop:kill-%s' % (point, name),
                      liveness_deadline=60, wait=False)
    o.start_compute('cmp1')
    o.start_compute('cmp2')
    for name in victims:
        o.wait_live(name)
    uuids = o.build(len(victims), host='cmp1', proxy='survivor')
    ops = {}
    # The copy is short: kill its owner in the middle of it first.
    mid_copy = victims[-1]
    ops[mid_copy] = _migrate_via(o, mid_copy, uuids[-1], 'kill-mid-copy')
    o.wait_step(ops[mid_copy]['id'], 'resize_instance', progress=True)
    o.kill(mid_copy)
    for name, uuid in zip(victims[:-1], uuids):
        ops[name] = _migrate_via(o, name, uuid, 'kill-%s' % name)
        assert ops[name]['owner'] == name
    for name, point in zip(victims, BOUNDARIES):
        o.wait_stopped(name)
        when, step = point.split(':')
        record = o.op(ops[name]['id'])
        # It stopped at its point: its log says so. The survivor takes its
        # operation over once its heartbeat is LIVENESS_DEADLINE old, which
        # the checks of the victims before it may outlast on a slow
        # machine (seen in CI): the journal shows the point only until
        # then.
        assert 'Test hook: stop at %s %s of %s' % (
            when, step, ops[name]['id']) in o.procs[name].log(), point
        if record['owner'] == name:
            assert record['step'] == step, (point, record)
        o.kill(name)

    for name, uuid in zip(victims, uuids):
        record = o.wait_finished(ops[name]['id'])
        o.assert_migrated(record, uuid)
        assert (record['owner'], record['epoch'], record['attempts']) == \
            ('survivor', 2, 2), record
    o.assert_effects_once([op['id'] for op in ops.values()],
                          of.MIGRATION_STEPS)


def test_stale_owner_wakes_and_changes_nothing(orchestra):
    o = orchestra
    o.start_proxy('survivor')
    o.start_proxy('late', hook='after:resize_instance:stop:stale-late',
                  liveness_deadline=60)
    o.start_proxy('early', hook='before:finish_resize:stop:stale-early',
                  liveness_deadline=60)
    o.start_compute('cmp1')
    o.start_compute('cmp2')
    late_uuid, early_uuid = o.build(2, host='cmp1', proxy='survivor')
    late = _migrate_via(o, 'late', late_uuid, 'stale-late')
    early = _migrate_via(o, 'early', early_uuid, 'stale-early')
    o.wait_stopped('late')
    o.wait_stopped('early')

    # Past the deadline the survivor takes both over and finishes them.
    finished = {}
    for op, uuid in ((late, late_uuid), (early, early_uuid)):
        finished[op['id']] = o.wait_finished(op['id'])
        o.assert_migrated(finished[op['id']], uuid)
        assert finished[op['id']]['owner'] == 'survivor'
    instances = {u: o.instance(u) for u in (late_uuid, early_uuid)}

    # Wake the stale owners: each notices it is fenced and stops.
    for name in ('late', 'early'):
        o.procs[name].signal(signal.SIGCONT)
    for name in ('late', 'early'):
        wait_for(lambda: 'is no longer ours' in o.procs[name].log(),
                 timeout=60, message='%s sees it is stale' % name)
    for op_id, record in finished.items():
        assert o.op(op_id) == record
    for uuid, instance in instances.items():
        assert o.instance(uuid) == instance
    # "late" had its resize_instance answered before it stopped; the
    # survivor called it again and the ledger answered. "early" never sent
    # finish_resize. Each effect exactly once.
    o.assert_effects_once([late['id'], early['id']], of.MIGRATION_STEPS)


def test_restart_every_proxy_during_many_migrations(orchestra):
    o = orchestra
    # A long liveness deadline: within it, only an operation's own
    # restarted owner may take it back.
    for name in ('p1', 'p2'):
        o.start_proxy(name, liveness_deadline=60)
    o.start_compute('cmp1')
    o.start_compute('cmp2')
    uuids = o.build(10, host='cmp1', proxy='p1')
    ops = [_migrate_via(o, 'p%d' % (n % 2 + 1), uuid, 'many-%d' % n)
           for n, uuid in enumerate(uuids)]
    wait_for(lambda: any(o.op(op['id'])['step'] == 'resize_instance'
                         for op in ops), timeout=60,
             message='a migration copying')
    o.kill('p2')                    # kill -9
    o.procs['p1'].stop()            # graceful: SIGTERM, drains its steps
    interrupted = [op['id'] for op in ops
                   if o.op(op['id'])['status'] != 'done']
    assert interrupted, 'the restart interrupted nothing'
    for name in ('p1', 'p2'):
        o.start_proxy(name, liveness_deadline=60)

    for op, uuid in zip(ops, uuids):
        record = o.wait_finished(op['id'])
        o.assert_migrated(record, uuid)
        assert record['owner'] == op['owner'], record
        if op['id'] in interrupted:
            assert record['epoch'] == 2, record
    o.assert_effects_once([op['id'] for op in ops], of.MIGRATION_STEPS)


def test_compute_killed_during_its_step(orchestra):
    o = orchestra
    o.start_proxy('p1')
    o.start_compute('cmp1')
    o.start_compute('cmp2')
    (uuid,) = o.build(1, host='cmp1')
    op = o.api.migrate_server(o.ctx, uuid, dest_host='cmp2',
                              operation_id='dead-source')
    o.wait_step(op['id'], 'resize_instance', progress=True)
    o.kill('cmp1')
    killed = time.monotonic()

    record = o.wait_finished(op['id'], timeout=120)
    took = time.monotonic() - killed
    print('rolled back %.1f s after the source compute died '
          '(compute_wait_deadline %s s)' % (took, of.COMPUTE_WAIT_DEADLINE))
    # docs/orchestration.rst: up to two compute_wait_deadlines, one for
    # the step that waits for the dead host (counted from the step's
    # start, before the kill), one for its undo there.
    assert of.COMPUTE_WAIT_DEADLINE < took < (
        2 * of.COMPUTE_WAIT_DEADLINE + 15)
    assert record['status'] == 'rolled_back', record
    assert 'ComputeUnavailable' in record['error']
    o.assert_on_source_clean(record, uuid)
    # The destination's claim was dropped; the source's own undo could
    # not reach it, and the error says so.
    assert o.effects()[(op['id'], 'abort_prep_resize')] == 1
    assert 'finish_revert_resize' in record['error']

    # The source comes back: the instance is usable again.
    o.start_compute('cmp1')
    again = o.wait_finished(o.api.migrate_server(
        o.ctx, uuid, dest_host='cmp2', operation_id='after-restart')['id'])
    o.assert_migrated(again, uuid)
    o.assert_effects_once(['after-restart'], of.MIGRATION_STEPS)
