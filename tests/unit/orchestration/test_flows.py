"""The flows driven by the runner against a fake compute API (SQLite)."""

import contextlib

import oslo_messaging as messaging
import pytest

from nova_proxy import exception
from nova_proxy.db import api as db_api
from nova_proxy.orchestration import journal
from nova_proxy.orchestration import manager
from tests.unit.orchestration import conftest as oc


class FakeEngine:
    member = 'proxy-a'

    def __init__(self):
        self.submitted = []

    @contextlib.contextmanager
    def accepting(self, operation_id):
        yield

    def submit(self, record):
        self.submitted.append(record['id'])


class Unwrapped:
    """The endpoints, raising our errors as themselves (``@remotable``
    wraps them in ``ExpectedException`` for oslo.messaging)."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.engine = endpoint.engine

    def __getattr__(self, name):
        method = getattr(self.endpoint, name)

        def call(context, **kwargs):
            try:
                return method(context, **kwargs)
            except messaging.ExpectedException as e:
                raise e.exc_info[1]
        return call


@pytest.fixture
def api(orch):
    return Unwrapped(manager.ComputeTaskManager(FakeEngine()))


def _run(runner, ctx, record):
    runner.run(journal.get(ctx, record['id']))
    return journal.get(ctx, record['id'])


def _faults(ctx, uuid):
    return db_api.instance_fault_get_by_instance_uuids(ctx, [uuid])[uuid]


def test_migrate_walks_nova_states_then_confirm(orch, api, runner, compute):
    inst = oc.add_instance(orch)
    op = api.migrate_server(orch, instance_uuid=inst['uuid'],
                            flavor=oc.BIG, operation_id='op-1')
    assert op['status'] == 'pending' and op['owner'] == 'proxy-a'
    assert op['epoch'] == 1 and op['attempts'] == 1
    assert api.engine.submitted == ['op-1']
    assert db_api.instance_get_by_uuid(orch, inst['uuid'])['task_state'] \
        == 'resize_prep'

    op = _run(runner, orch, op)
    assert op['status'] == 'done' and op['progress'] == 100
    seen = [(c['step'], c['host'], c['task_state'], c['migration_status'])
            for c in compute.calls]
    assert seen == [
        ('prep_resize', 'cmp2', 'resize_prep', 'pre-migrating'),
        ('resize_instance', 'cmp1', 'resize_migrating', 'migrating'),
        ('finish_resize', 'cmp2', 'resize_finish', 'post-migrating'),
    ]
    assert compute.calls[0]['kwargs']['flavor'] == oc.BIG
    assert compute.calls[0]['kwargs']['operation_id'] == 'op-1'
    assert compute.calls[2]['kwargs']['power_on'] is True
    instance = db_api.instance_get_by_uuid(orch, inst['uuid'])
    assert (instance['host'], instance['vm_state'], instance['task_state'],
            instance['memory_mb'], instance['instance_type_name']) == \
        ('cmp2', 'resized', None, 2048, 'm1.large')
    assert instance['power_state'] == 1
    migration = db_api.migration_get(orch, op['migration_id'])
    assert migration['status'] == 'finished'
    assert migration['migration_type'] == 'resize'

    confirm = api.confirm_resize(orch, instance_uuid=inst['uuid'])
    assert db_api.migration_get(orch, op['migration_id'])['status'] == \
        'confirming'
    confirm = _run(runner, orch, confirm)
    assert confirm['status'] == 'done'
    assert compute.calls[-1]['step'] == 'confirm_resize'
    assert compute.calls[-1]['host'] == 'cmp1'
    instance = db_api.instance_get_by_uuid(orch, inst['uuid'])
    assert (instance['host'], instance['vm_state'],
            instance['task_state']) == ('cmp2', 'active', None)
    assert db_api.migration_get(orch, op['migration_id'])['status'] == \
        'confirmed'


def test_revert_restores_source_and_flavor(orch, api, runner, compute):
    inst = oc.add_instance(orch)
    op = _run(runner, orch, api.migrate_server(
        orch, instance_uuid=inst['uuid'], flavor=oc.BIG))
    revert = _run(runner, orch, api.revert_resize(
        orch, instance_uuid=inst['uuid']))
    assert revert['status'] == 'done'
    assert [(c['step'], c['host'], c['task_state'], c['migration_status'])
            for c in compute.calls[3:]] == [
        ('revert_resize', 'cmp2', 'resize_reverting', 'reverting'),
        ('finish_revert_resize', 'cmp1', 'resize_reverting', 'reverting')]
    assert compute.calls[-1]['kwargs']['flavor'] == oc.FLAVOR
    assert compute.calls[-1]['kwargs']['power_on'] is True
    instance = db_api.instance_get_by_uuid(orch, inst['uuid'])
    assert (instance['host'], instance['vm_state'], instance['task_state'],
            instance['memory_mb']) == ('cmp1', 'active', None, 512)
    assert db_api.migration_get(orch, op['migration_id'])['status'] == \
        'reverted'


def _stopped_instance(ctx):
    inst = oc.add_instance(ctx, vm_state='stopped')
    return db_api.instance_update(ctx, inst['uuid'], {'power_state': 4})


def _migrate_stopped(orch, api, runner):
    inst = _stopped_instance(orch)
    return inst, _run(runner, orch, api.migrate_server(
        orch, instance_uuid=inst['uuid'], flavor=oc.BIG))


def _power_on_sent(compute, step):
    return [c['kwargs']['power_on'] for c in compute.calls
            if c['step'] == step]


def test_stopped_instance_stays_stopped_through_migrate_and_confirm(
        orch, api, runner, compute):
    inst, op = _migrate_stopped(orch, api, runner)
    assert op['status'] == 'done'
    assert _power_on_sent(compute, 'finish_resize') == [False]
    instance = db_api.instance_get_by_uuid(orch, inst['uuid'])
    assert (instance['host'], instance['vm_state'],
            instance['power_state']) == ('cmp2', 'resized', 4)

    confirm = _run(runner, orch, api.confirm_resize(
        orch, instance_uuid=inst['uuid']))
    assert confirm['status'] == 'done'
    instance = db_api.instance_get_by_uuid(orch, inst['uuid'])
    assert (instance['host'], instance['vm_state'], instance['task_state'],
            instance['power_state']) == ('cmp2', 'stopped', None, 4)


def test_stopped_instance_stays_stopped_through_migrate_and_revert(
        orch, api, runner, compute):
    inst, _ = _migrate_stopped(orch, api, runner)
    revert = _run(runner, orch, api.revert_resize(
        orch, instance_uuid=inst['uuid']))
    assert revert['status'] == 'done'
    assert _power_on_sent(compute, 'finish_resize') == [False]
    assert _power_on_sent(compute, 'finish_revert_resize') == [False]
    instance = db_api.instance_get_by_uuid(orch, inst['uuid'])
    assert (instance['host'], instance['vm_state'], instance['task_state'],
            instance['power_state'], instance['memory_mb']) == \
        ('cmp1', 'stopped', None, 4, 512)


def test_stopped_instance_stays_stopped_through_a_rollback(
        orch, api, runner, compute):
    compute.fail_steps.add('finish_resize')
    inst, op = _migrate_stopped(orch, api, runner)
    assert op['status'] == 'rolled_back'
    assert _power_on_sent(compute, 'finish_revert_resize') == [False]
    instance = db_api.instance_get_by_uuid(orch, inst['uuid'])
    assert (instance['host'], instance['vm_state'],
            instance['power_state']) == ('cmp1', 'stopped', 4)


def test_a_repeated_finish_step_answers_from_the_ledger(
        orch, api, runner, compute):
    """Resumed after the call, finish_resize is sent again with the same
    power_on and applied once."""
    inst = _stopped_instance(orch)
    op = api.migrate_server(orch, instance_uuid=inst['uuid'])

    def taken_over(kwargs):
        record = journal.get(orch, op['id'])
        journal.take(orch, op['id'], record['owner'], record['epoch'],
                     'proxy-b')
    compute.after_effect['finish_resize'] = taken_over
    _run(runner, orch, op)
    del compute.after_effect['finish_resize']
    runner.run(journal.get(orch, op['id']))
    assert journal.get(orch, op['id'])['status'] == 'done'
    assert _power_on_sent(compute, 'finish_resize') == [False, False]
    assert compute.effects.count((op['id'], 'finish_resize')) == 1
    assert db_api.instance_get_by_uuid(orch, inst['uuid'])['power_state'] \
        == 4


@pytest.mark.parametrize('failing,undo', [
    ('prep_resize', [('abort_prep_resize', 'cmp2')]),
    ('resize_instance', [('finish_revert_resize', 'cmp1'),
                         ('abort_prep_resize', 'cmp2')]),
    ('finish_resize', [('revert_resize', 'cmp2'),
                       ('finish_revert_resize', 'cmp1')]),
])
def test_failed_step_rolls_back_in_reverse(orch, api, runner, compute,
                                           failing, undo):
    inst = oc.add_instance(orch)
    compute.fail_steps.add(failing)
    op = _run(runner, orch, api.migrate_server(orch,
                                               instance_uuid=inst['uuid'],
                                               flavor=oc.BIG))
    assert op['status'] == 'rolled_back'
    assert 'StepFailed' in op['error'] and failing in op['error']
    steps = compute.steps()
    assert steps[steps.index(failing) + 1:] == [u[0] for u in undo]
    assert [(c['step'], c['host']) for c in compute.calls[-len(undo):]] == \
        undo
    instance = db_api.instance_get_by_uuid(orch, inst['uuid'])
    assert (instance['host'], instance['vm_state'], instance['task_state'],
            instance['memory_mb']) == ('cmp1', 'active', None, 512)
    assert db_api.migration_get(orch, op['migration_id'])['status'] == \
        'error'
    assert len(_faults(orch, inst['uuid'])) == 1


def test_down_compute_waits_then_rolls_back(orch, api, runner, compute):
    inst = oc.add_instance(orch)
    compute.down_hosts.add('cmp2')
    op = _run(runner, orch, api.migrate_server(
        orch, instance_uuid=inst['uuid'], dest_host='cmp2'))
    assert op['status'] == 'rolled_back'
    assert 'ComputeUnavailable' in op['error']
    # prep_resize was never answered; its undo could not reach cmp2
    # either, which the error says, and the instance is clean anyway.
    assert 'rollback: abort_prep_resize' in op['error']
    assert compute.effects == []
    instance = db_api.instance_get_by_uuid(orch, inst['uuid'])
    assert (instance['host'], instance['vm_state'],
            instance['task_state']) == ('cmp1', 'active', None)


def test_compute_service_down_is_not_called(orch, api, runner, compute,
                                            config):
    inst = oc.add_instance(orch)
    config.set_override('service_down_time', 1, group='periodic')
    import time
    time.sleep(1.2)     # the services' heartbeats are now too old
    db_api.service_heartbeat(orch, db_api.service_get_by_host_and_binary(
        orch, 'cmp1', 'nova-compute')['id'])
    op = _run(runner, orch, api.migrate_server(
        orch, instance_uuid=inst['uuid'], dest_host='cmp2'))
    assert op['status'] == 'rolled_back'
    assert 'compute service is down' in op['error']
    assert [c['host'] for c in compute.calls] == []


def test_stale_owner_writes_nothing_and_stops(orch, api, runner, compute):
    inst = oc.add_instance(orch)
    op = api.migrate_server(orch, instance_uuid=inst['uuid'])

    def taken_over(kwargs):
        record = journal.get(orch, op['id'])
        assert journal.take(orch, op['id'], record['owner'],
                            record['epoch'], 'proxy-b') is not None
    compute.after_effect['resize_instance'] = taken_over
    _run(runner, orch, op)
    # The stale owner did not record resize_instance as done, changed no
    # instance state after it, and called nothing more.
    assert compute.steps() == ['prep_resize', 'resize_instance']
    record = journal.get(orch, op['id'])
    assert record['owner'] == 'proxy-b' and record['epoch'] == 2
    assert record['state']['done'] == ['prep_resize']
    assert db_api.instance_get_by_uuid(orch, inst['uuid'])['task_state'] \
        == 'resize_migrating'

    # The new owner resumes: resize_instance is called again but the
    # ledger applies it once; the operation finishes.
    runner.run(record)
    record = journal.get(orch, op['id'])
    assert record['status'] == 'done'
    assert compute.steps() == ['prep_resize', 'resize_instance',
                               'resize_instance', 'finish_resize']
    assert sorted(compute.effects) == sorted(
        [(op['id'], s) for s in ('prep_resize', 'resize_instance',
                                 'finish_resize')])


def test_fence_checked_before_compute_call(orch, api, runner, compute):
    inst = oc.add_instance(orch)
    op = api.migrate_server(orch, instance_uuid=inst['uuid'])
    record = journal.get(orch, op['id'])
    # Taken over before the first call: the old owner calls nothing.
    journal.take(orch, op['id'], 'proxy-a', record['epoch'], 'proxy-b')
    runner.run(record)
    assert compute.calls == []


def test_attempts_exhausted_rolls_back_then_gives_up(orch, api, runner,
                                                     compute, config):
    config.set_override('max_attempts', 2, group='orchestration')
    inst = oc.add_instance(orch)
    op = api.migrate_server(orch, instance_uuid=inst['uuid'])
    record = journal.get(orch, op['id'])
    for owner in ('proxy-b', 'proxy-c'):
        record = journal.take(orch, op['id'], record['owner'],
                              record['epoch'], owner)
    assert record['attempts'] == 3
    runner.run(record)
    record = journal.get(orch, op['id'])
    assert record['status'] == 'rolled_back'
    assert 'interrupted 2 times' in record['error']
    assert compute.steps() == []        # prep_resize never started
    assert db_api.instance_get_by_uuid(orch, inst['uuid'])['task_state'] \
        is None

    inst2 = oc.add_instance(orch)
    op = api.migrate_server(orch, instance_uuid=inst2['uuid'])
    record = journal.get(orch, op['id'])
    for owner in ('b', 'c', 'd', 'e'):
        record = journal.take(orch, op['id'], record['owner'],
                              record['epoch'], owner)
    runner.run(record)
    record = journal.get(orch, op['id'])
    assert record['status'] == 'failed'
    assert 'gave up after 5 attempts' in record['error']
    instance = db_api.instance_get_by_uuid(orch, inst2['uuid'])
    assert (instance['vm_state'], instance['task_state']) == ('error', None)
    assert len(_faults(orch, inst2['uuid'])) == 1


def test_busy_instance_and_idempotent_ids(orch, api, runner):
    inst = oc.add_instance(orch)
    first = api.migrate_server(orch, instance_uuid=inst['uuid'],
                               operation_id='mig-1')
    again = api.migrate_server(orch, instance_uuid=inst['uuid'],
                               operation_id='mig-1')
    assert again['id'] == first['id'] and again['epoch'] == first['epoch']
    assert len(db_api.migration_get_by_instance(orch, inst['uuid'])) == 1
    with pytest.raises(exception.OperationInProgress) as e:
        api.migrate_server(orch, instance_uuid=inst['uuid'])
    assert 'mig-1' in str(e.value)
    with pytest.raises(exception.OperationConflict):
        api.confirm_resize(orch, instance_uuid=inst['uuid'],
                           operation_id='mig-1')
    assert len(journal.get_all(orch, instance_uuid=inst['uuid'])) == 1


def test_bad_requests_are_named_errors(orch, api):
    inst = oc.add_instance(orch)
    with pytest.raises(exception.InvalidUUID):
        api.migrate_server(orch, instance_uuid='nope')
    with pytest.raises(exception.Invalid):
        api.migrate_server(orch, instance_uuid=inst['uuid'],
                           flavor={'name': 'x'})
    with pytest.raises(exception.Invalid):
        api.migrate_server(orch, instance_uuid=inst['uuid'],
                           dest_host='cmp1')
    with pytest.raises(exception.Invalid):
        api.confirm_resize(orch, instance_uuid=inst['uuid'])
    with pytest.raises(exception.NoValidHost):
        api.migrate_server(orch, instance_uuid=inst['uuid'],
                           flavor=dict(oc.BIG, memory_mb=10 ** 6))
    with pytest.raises(exception.OperationNotFound):
        api.operation_get(orch, operation_id='missing')
    with pytest.raises(exception.Invalid):
        api.operation_list(orch, status='bogus')
    # Nothing half-done: the instance is untouched by the refusals.
    instance = db_api.instance_get_by_uuid(orch, inst['uuid'])
    assert instance['task_state'] is None
    assert db_api.migration_get_by_instance(orch, inst['uuid']) == []


def test_build_picks_host_and_runs(orch, api, runner, compute):
    op = api.build_instance(orch, values={
        'memory_mb': 512, 'vcpus': 1, 'root_gb': 1,
        'display_name': 'vm1'}, operation_id='b-1')
    instance = db_api.instance_get_by_uuid(orch, op['instance_uuid'])
    assert (instance['vm_state'], instance['task_state']) == \
        ('building', 'scheduling')
    assert instance['host'] in oc.HOSTS
    again = api.build_instance(orch, values={'memory_mb': 512},
                               operation_id='b-1')
    assert again['instance_uuid'] == op['instance_uuid']
    op = _run(runner, orch, op)
    assert op['status'] == 'done'
    assert compute.steps() == ['build_and_run_instance']
    instance = db_api.instance_get_by_uuid(orch, op['instance_uuid'])
    assert (instance['vm_state'], instance['task_state']) == ('active', None)


def test_build_failure_leaves_error_with_one_fault(orch, api, runner,
                                                   compute):
    compute.fail_steps.add('build_and_run_instance')
    op = _run(runner, orch, api.build_instance(
        orch, values={'memory_mb': 1}, host='cmp2'))
    assert op['status'] == 'failed'
    instance = db_api.instance_get_by_uuid(orch, op['instance_uuid'])
    assert (instance['host'], instance['vm_state'],
            instance['task_state']) == ('cmp2', 'error', None)
    assert len(_faults(orch, op['instance_uuid'])) == 1


def test_builds_accepted_at_once_are_spread_over_the_hosts_with_room(
        orch, api):
    """Each host has room for one such instance; the computes have not
    claimed (nor reported) the first placements when the next come."""
    flavor = {'memory_mb': 8192, 'vcpus': 1, 'root_gb': 1}
    placed = [db_api.instance_get_by_uuid(
        orch, api.build_instance(orch, values=dict(flavor))[
            'instance_uuid'])['host'] for _ in range(2)]
    assert sorted(placed) == ['cmp1', 'cmp2']
    with pytest.raises(exception.NoValidHost):
        api.build_instance(orch, values=dict(flavor))


def test_build_on_down_host_fails_with_fault(orch, api, runner, compute):
    compute.down_hosts.add('cmp1')
    op = _run(runner, orch, api.build_instance(
        orch, values={'memory_mb': 1}, host='cmp1'))
    assert op['status'] == 'failed' and 'ComputeUnavailable' in op['error']
    instance = db_api.instance_get_by_uuid(orch, op['instance_uuid'])
    assert instance['vm_state'] == 'error'
    assert len(_faults(orch, op['instance_uuid'])) == 1


def test_a_build_whose_answer_is_lost_is_not_marked_failed(
        orch, api, runner, compute):
    """The compute built the instance (active), then died before it
    answered, for longer than compute_wait_deadline: the operation fails,
    the instance stays as the compute left it, without a fault of a build
    that did not fail."""
    def answer_lost(kwargs):
        compute.down_hosts.add('cmp1')
        raise messaging.MessagingTimeout('fake: the answer was lost')
    compute.after_effect['build_and_run_instance'] = answer_lost
    op = _run(runner, orch, api.build_instance(
        orch, values={'memory_mb': 1}, host='cmp1'))
    assert op['status'] == 'failed' and 'ComputeUnavailable' in op['error']
    instance = db_api.instance_get_by_uuid(orch, op['instance_uuid'])
    assert (instance['vm_state'], instance['task_state']) == ('active', None)
    assert _faults(orch, op['instance_uuid']) == []


def _build_on_a_silent_cmp1(orch, api, runner, compute):
    compute.down_hosts.add('cmp1')
    op = _run(runner, orch, api.build_instance(
        orch, values={'memory_mb': 1}, host='cmp1'))
    assert op['status'] == 'failed', op
    assert 'ComputeUnavailable: Compute host cmp1 did not answer: no ' \
        'answer (MessagingTimeout: fake: cmp1 is down)' in op['error']
    return op['error']


def test_a_timeout_names_the_other_topic_of_the_hosts_service(
        orch, api, runner, compute):
    """cmp1 registered another [compute] topic than this proxy's: its
    calls can only time out, and the error says why."""
    service = db_api.service_get_by_compute_host(orch, 'cmp1')
    db_api.service_update(orch, service['id'], {'topic': 'op_check_compute'})
    error = _build_on_a_silent_cmp1(orch, api, runner, compute)
    assert "the compute service of cmp1 registered topic " \
        "'op_check_compute', this proxy calls 'compute'" in error


def test_a_timeout_of_a_host_on_our_topic_says_nothing_of_topics(
        orch, api, runner, compute):
    assert 'topic' not in _build_on_a_silent_cmp1(orch, api, runner, compute)


def test_a_failing_topic_read_keeps_the_timeout_reason(
        orch, api, runner, compute, monkeypatch):
    """The read of the host's topic is only a hint: the database failing
    it neither stops the runner (a database outage would) nor changes
    the reason."""
    import sqlalchemy as sa
    service = db_api.service_get_by_compute_host(orch, 'cmp1')
    db_api.service_update(orch, service['id'], {'topic': 'op_check_compute'})

    def lost(context, host):
        raise sa.exc.OperationalError('SELECT', {}, Exception('gone'))
    monkeypatch.setattr(db_api, 'service_get_by_compute_host', lost)
    assert 'topic' not in _build_on_a_silent_cmp1(orch, api, runner, compute)


def test_database_outage_stops_the_runner_without_rollback(
        orch, api, runner, compute):
    from oslo_db import exception as db_exc
    inst = oc.add_instance(orch)
    op = api.migrate_server(orch, instance_uuid=inst['uuid'])
    outage = [True]

    def database_down(kwargs):
        if outage.pop() if outage else False:
            raise db_exc.DBConnectionError('database went away')
    compute.on_call['resize_instance'] = database_down
    with pytest.raises(db_exc.DBConnectionError):
        runner.run(journal.get(orch, op['id']))
    record = journal.get(orch, op['id'])
    assert record['status'] == 'running' and not record['state'].get(
        'rolling_back')
    assert record['step'] == 'resize_instance'
    # Taken back later (as the engine does), it resumes and finishes.
    record = journal.take(orch, op['id'], 'proxy-a', record['epoch'],
                          'proxy-a')
    runner.run(record)
    assert journal.get(orch, op['id'])['status'] == 'done'
    assert compute.effects.count((op['id'], 'resize_instance')) == 1


def test_a_step_whose_compute_lost_the_database_is_called_again(
        orch, api, runner, compute):
    """The compute answered DatabaseUnavailable: what its step wrote is
    unknown, not failed. The step is called again (it is idempotent), as
    after no answer, and the operation goes on; nothing is undone."""
    inst = oc.add_instance(orch)
    op = api.migrate_server(orch, instance_uuid=inst['uuid'])
    outage = [True]

    def proxies_lost_the_database(kwargs):
        if outage and outage.pop():
            raise exception.DatabaseUnavailable(method='migration_update',
                                                reason='lost at COMMIT')
    compute.on_call['resize_instance'] = proxies_lost_the_database
    record = _run(runner, orch, op)
    assert record['status'] == 'done', record['error']
    assert [c['step'] for c in compute.calls].count('resize_instance') == 2
    assert compute.effects.count((op['id'], 'resize_instance')) == 1


def test_final_writes_failing_still_finish_the_journal(orch, api, runner,
                                                       compute):
    inst = oc.add_instance(orch)
    compute.fail_steps.add('prep_resize')
    op = api.migrate_server(orch, instance_uuid=inst['uuid'])
    # The instance disappears before the rollback's final writes.
    compute.on_call['abort_prep_resize'] = (
        lambda kwargs: db_api.instance_destroy(orch, inst['uuid']))
    record = _run(runner, orch, op)
    assert record['status'] == 'rolled_back'
    assert 'final writes skipped: InstanceNotFound' in record['error']


def test_flavor_id_follows_a_resize_and_its_revert():
    """A flavor with an id moves instance_type_id with the sizes, and the
    revert restores the old one; a flavor without an id leaves it."""
    from nova_proxy.orchestration import flavors
    from nova_proxy.orchestration.flows import migrate
    old = flavors.primitive({'name': 'm1.small', 'id': 2, 'memory_mb': 2048,
                             'vcpus': 1, 'root_gb': 20})
    new = flavors.primitive(migrate.check_flavor(
        {'name': 'm1.large', 'id': 4, 'memory_mb': 8192, 'vcpus': 4,
         'root_gb': 80}), base=old)
    assert flavors.instance_values(new)['instance_type_id'] == 4
    assert flavors.instance_values(old)['instance_type_id'] == 2
    no_id = flavors.primitive(migrate.check_flavor(
        {'name': 'x', 'memory_mb': 1, 'vcpus': 1, 'root_gb': 1}))
    assert 'instance_type_id' not in flavors.instance_values(no_id)
    with pytest.raises(exception.Invalid):
        migrate.check_flavor({'name': 'm1.large', 'id': 'four',
                              'memory_mb': 1, 'vcpus': 1, 'root_gb': 1})


def test_operation_list_answers_the_newest_max_list(orch, api, monkeypatch):
    monkeypatch.setattr(manager, 'MAX_LIST', 2)
    uuid = oc.add_instance(orch)['uuid']
    for n in range(3):
        journal.create(orch, 'op-%d' % n, 'build', uuid, 'proxy-a')
    assert [r['id'] for r in api.operation_list(orch)] == ['op-2', 'op-1']
