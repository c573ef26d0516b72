"""The tasks, one by one, against the real databases."""

import datetime

import pytest
import sqlalchemy as sa

from nova_proxy.db import api as db_api
from nova_proxy.db import models
from nova_proxy.db import session as db_session
from nova_proxy import exception
from nova_proxy.periodic import claims
from nova_proxy.periodic import clock
from nova_proxy.periodic.tasks import confirm_resizes
from nova_proxy.periodic.tasks import heal_stuck_instances as heal
from nova_proxy.periodic.tasks import mark_services_down
from nova_proxy.periodic.tasks import purge_deleted
from nova_proxy.periodic import tasks as np_tasks

HOUR = datetime.timedelta(hours=1)


def _age(model, where, **columns):
    """Set timestamp columns to the database's now minus a timedelta."""
    with db_session.get_engine().begin() as conn:
        now = conn.execute(sa.select(db_session.db_utcnow())).scalar_one()
        conn.execute(sa.update(model).where(where).values(
            **{k: now - v for k, v in columns.items()}))


def test_all_tasks_have_options(config):
    for task in np_tasks.all_tasks():
        assert task.enabled is True
        assert task.interval >= 1
    assert np_tasks.get_task('purge_deleted').is_global
    with pytest.raises(KeyError):
        np_tasks.get_task('nope')


# -- mark_services_down ---------------------------------------------------

def _service(context, host, binary='nova-compute', **values):
    service = db_api.service_create(context, dict(host=host, binary=binary,
                                                  **values))
    db_api.service_heartbeat(context, service['id'])
    return service


def test_services_are_marked_down_and_up(db_all, admin_context, config):
    config.set_override('service_down_time', 60, group='periodic')
    task = mark_services_down.MarkServicesDown()
    fresh = _service(admin_context, 'fresh')
    stale = _service(admin_context, 'stale')
    manual = _service(admin_context, 'manual', disabled=True,
                      disabled_reason='maintenance')
    _age(models.Service, models.Service.host.in_(['stale', 'manual']),
         last_seen_up=HOUR)
    now = clock.db_now(admin_context)
    assert sorted(task.list_items(admin_context, now)) == [
        'fresh/nova-compute', 'manual/nova-compute', 'stale/nova-compute']
    outcomes = {i: task.handle_item(admin_context, i, now)
                for i in task.list_items(admin_context, now)}
    assert outcomes == {'fresh/nova-compute': 'up',
                        'stale/nova-compute': 'marked_down',
                        'manual/nova-compute': 'down'}
    services = {s['host']: s for s in db_api.service_get_all(admin_context)}
    assert services['stale']['disabled'] is True
    assert services['stale']['disabled_reason'].startswith('AUTO: ')
    assert services['manual']['disabled_reason'] == 'maintenance'
    assert services['fresh']['disabled'] is False
    # Marked once; then a heartbeat brings it back, the operator's stays.
    assert task.handle_item(admin_context, 'stale/nova-compute',
                            now) == 'down'
    db_api.service_heartbeat(admin_context, stale['id'])
    db_api.service_heartbeat(admin_context, manual['id'])
    assert task.handle_item(admin_context, 'stale/nova-compute',
                            now) == 'marked_up'
    assert task.handle_item(admin_context, 'manual/nova-compute',
                            now) == 'up'
    services = {s['host']: s for s in db_api.service_get_all(admin_context)}
    assert services['stale']['disabled'] is False
    assert services['stale']['disabled_reason'] is None
    assert services['manual']['disabled'] is True
    assert fresh['id'] != stale['id']
    assert task.handle_item(admin_context, 'gone/nova-compute',
                            now) == 'gone'


def test_is_up_view():
    now = datetime.datetime(2026, 1, 1, 12)
    recent = now - datetime.timedelta(seconds=10)
    assert mark_services_down.is_up({'last_seen_up': recent}, now, 60)
    assert not mark_services_down.is_up(
        {'last_seen_up': recent, 'forced_down': True}, now, 60)
    assert not mark_services_down.is_up(
        {'last_seen_up': now - HOUR}, now, 60)
    assert not mark_services_down.is_up({}, now, 60)


# -- heal_stuck_instances -------------------------------------------------

def _stuck(context, task_state, vm_state='active', host='src', age=HOUR):
    instance = db_api.instance_create(context, {
        'host': host, 'node': host, 'vm_state': vm_state,
        'task_state': task_state})
    _age(models.Instance, models.Instance.uuid == instance['uuid'],
         updated_at=age)
    return instance['uuid']


def _migration(context, instance_uuid, status='migrating', age=HOUR):
    migration = db_api.migration_create(context, {
        'instance_uuid': instance_uuid, 'source_compute': 'src',
        'source_node': 'src', 'dest_compute': 'dst', 'dest_node': 'dst',
        'status': status, 'migration_type': 'resize'})
    _age(models.Migration, models.Migration.id == migration['id'],
         updated_at=age)
    return migration['id']


def _expected(state, action):
    if action == heal.ERROR:
        return 'error', None
    if state in ('resize_confirming',):
        return 'resized', None
    return 'active', None


@pytest.mark.parametrize('state', sorted(heal.STUCK_STATES))
def test_each_stuck_state_ends_as_the_table_says(db, admin_context,
                                                 config, state):
    config.set_override('stuck_instance_timeout', 600, group='periodic')
    action = heal.STUCK_STATES[state]
    vm_state = 'resized' if state == 'resize_confirming' else 'active'
    host = 'dst' if state in ('resize_finish', 'resize_reverting') else 'src'
    uuid = _stuck(admin_context, state, vm_state=vm_state, host=host)
    migration_id = _migration(
        admin_context, uuid,
        status='confirming' if state == 'resize_confirming' else 'migrating')
    task = heal.HealStuckInstances(member='p1')
    now = clock.db_now(admin_context)
    assert task.list_items(admin_context, now) == [uuid]
    assert task.handle_item(admin_context, uuid, now) == action
    instance = db_api.instance_get_by_uuid(admin_context, uuid)
    assert (instance['vm_state'], instance['task_state']) == \
        _expected(state, action)
    migration = db_api.migration_get(admin_context, migration_id)
    if state == 'resize_confirming':
        assert migration['status'] == 'finished'
    elif state in ('resize_prep', 'resize_migrating', 'resize_migrated',
                   'resize_finish', 'resize_reverting', 'migrating'):
        assert migration['status'] == 'error'
    else:
        assert migration['status'] == 'migrating'
    if action == heal.ROLLBACK and state not in ('migrating',
                                                 'resize_confirming'):
        assert instance['host'] == 'src'
    faults = db_api.instance_fault_get_by_instance_uuids(
        admin_context, [uuid])[uuid]
    assert len(faults) == 1
    assert state in faults[0]['message'] and action in faults[0]['message']
    assert 'p1' in faults[0]['details']
    # Healed once: the instance is no longer a candidate.
    assert task.list_items(admin_context, now) == []


def test_heal_on_every_backend(db_all, admin_context, config):
    config.set_override('stuck_instance_timeout', 600, group='periodic')
    uuids = {state: _stuck(admin_context, state)
             for state in ('spawning', 'powering-off', 'resize_prep')}
    task = heal.HealStuckInstances()
    now = clock.db_now(admin_context)
    assert sorted(task.list_items(admin_context, now)) == sorted(
        uuids.values())
    assert {s: task.handle_item(admin_context, u, now)
            for s, u in uuids.items()} == {'spawning': 'error',
                                           'powering-off': 'clear',
                                           'resize_prep': 'rollback'}


def test_recent_or_unknown_states_are_not_stuck(db_all, admin_context,
                                                config):
    config.set_override('stuck_instance_timeout', 600, group='periodic')
    recent = _stuck(admin_context, 'spawning',
                    age=datetime.timedelta(seconds=10))
    stable = _stuck(admin_context, None)
    task = heal.HealStuckInstances()
    now = clock.db_now(admin_context)
    assert task.list_items(admin_context, now) == []
    assert task.handle_item(admin_context, recent, now) == 'progressed'
    assert task.handle_item(admin_context, stable, now) == 'progressed'
    assert task.handle_item(admin_context,
                            '00000000-0000-0000-0000-000000000000',
                            now) == 'gone'


def test_a_live_operation_or_recent_progress_holds_the_instance(
        db_all, admin_context, config):
    config.set_override('stuck_instance_timeout', 600, group='periodic')
    held = _stuck(admin_context, 'resize_migrating')
    copying = _stuck(admin_context, 'resize_migrating')
    _migration(admin_context, copying, age=datetime.timedelta(seconds=5))
    stamp = db_session.utcnow()
    with db_session.get_engine().begin() as conn:
        conn.execute(sa.insert(models.Operation).values(
            id='op-1', kind='migrate', instance_uuid=held, status='running',
            owner='dead-proxy', epoch=1, attempts=1, progress=0,
            created_at=stamp - HOUR, updated_at=stamp - HOUR))
    task = heal.HealStuckInstances()
    now = clock.db_now(admin_context)
    assert task.handle_item(admin_context, held, now) == 'has_operation'
    assert task.handle_item(admin_context, copying, now) == 'progressed'
    for uuid in (held, copying):
        assert db_api.instance_get_by_uuid(
            admin_context, uuid)['task_state'] == 'resize_migrating'
    # Once the operation is over (and old), the instance is healed.
    with db_session.get_engine().begin() as conn:
        conn.execute(sa.update(models.Operation).values(
            status='failed', updated_at=stamp - HOUR))
    assert task.handle_item(admin_context, held, now) == 'rollback'


# -- confirm_resizes ------------------------------------------------------

def _resized(context, status='finished', age=HOUR):
    uuid = db_api.instance_create(context, {
        'host': 'dst', 'node': 'dst', 'vm_state': 'resized'})['uuid']
    _migration(context, uuid, status=status, age=age)
    return uuid


def test_unconfirmed_resizes_are_confirmed_through_the_api(
        db_all, admin_context, config):
    config.set_override('resize_confirm_window', 600, group='periodic')
    calls = []

    def confirm(context, instance_uuid, operation_id):
        calls.append((instance_uuid, operation_id))
        return {'id': operation_id, 'status': 'pending'}

    due = _resized(admin_context)
    _resized(admin_context, age=datetime.timedelta(seconds=5))
    _resized(admin_context, status='confirmed')
    task = confirm_resizes.ConfirmResizes(confirm=confirm)
    now = clock.db_now(admin_context)
    assert task.list_items(admin_context, now) == [due]
    outcome = task.handle_item(admin_context, due, now)
    (uuid, operation_id), = calls
    assert uuid == due
    assert operation_id.startswith(confirm_resizes.OPERATION_PREFIX)
    assert outcome == '%s:pending' % operation_id

    def busy(context, instance_uuid, operation_id):
        raise exception.OperationInProgress(instance_uuid=instance_uuid,
                                            operation_id='other')
    assert confirm_resizes.ConfirmResizes(confirm=busy).handle_item(
        admin_context, due, now) == 'busy'


def test_a_zero_window_confirms_nothing(db, admin_context, config):
    config.set_override('resize_confirm_window', 0, group='periodic')
    uuid = _resized(admin_context)
    task = confirm_resizes.ConfirmResizes(confirm=lambda *a: 1 / 0)
    now = clock.db_now(admin_context)
    assert task.list_items(admin_context, now) == []
    assert task.handle_item(admin_context, uuid, now) == 'not_due'


# -- purge_deleted --------------------------------------------------------

def test_purge_in_batches(db_all, admin_context, config):
    config.set_override('purge_deleted_age', 600, group='periodic')
    config.set_override('purge_batch_size', 2, group='periodic')
    config.set_override('purge_max_batches', 2, group='periodic')
    old = []
    for _ in range(5):
        uuid = db_api.instance_create(admin_context, {})['uuid']
        db_api.instance_destroy(admin_context, uuid)
        old.append(uuid)
    _age(models.Instance, models.Instance.uuid.in_(old), deleted_at=HOUR)
    recent = db_api.instance_create(admin_context, {})['uuid']
    db_api.instance_destroy(admin_context, recent)
    live = db_api.instance_create(admin_context, {})['uuid']
    task = purge_deleted.PurgeDeleted()
    now = clock.db_now(admin_context)
    purged, details = task.run(admin_context, now)
    assert len(purged) == 4 and details['batches'] == 2
    purged2, details2 = task.run(admin_context, now)
    assert sorted(purged + purged2) == sorted(old)
    assert details2['instances_purged'] == 1
    with db_session.get_engine().connect() as conn:
        left = set(conn.execute(sa.select(models.Instance.uuid)).scalars())
    assert left == {recent, live}


def test_purge_drops_old_periodic_records(db, admin_context, config):
    config.set_override('claim_retention', 60, group='periodic')
    config.set_override('record_retention', 7200, group='periodic')
    for task in ('mark_services_down', 'heal_stuck_instances',
                 'confirm_resizes', 'purge_deleted'):
        config.set_override('%s_interval' % task, 100, group='periodic')
    now = clock.db_now(admin_context)
    claims.claim(admin_context, 't', 1, 'x', 'p1')
    claims.record_run(admin_context, 't', 1, 'p1', now, ['x'], 'ok')
    _age(models.PeriodicClaim, sa.true(), claimed_at=HOUR)
    _age(models.PeriodicRun, sa.true(), started_at=HOUR)
    claims.claim(admin_context, 't', 2, 'x', 'p1')
    claims.claim(admin_context, 't', 3, 'x', 'p1')
    _age(models.PeriodicClaim, models.PeriodicClaim.period == 3,
         claimed_at=datetime.timedelta(seconds=120))
    _, details = purge_deleted.PurgeDeleted().run(
        admin_context, clock.db_now(admin_context))
    # Period 1's claim is an hour old: purged. Period 3's is 120 s old,
    # past claim_retention but younger than two periods of the longest
    # interval (200 s): kept.
    assert details['claims_purged'] == 1
    assert details['runs_purged'] == 0
    assert claims.claimed_items(admin_context, 't', 2) == {'x'}
    assert claims.claimed_items(admin_context, 't', 3) == {'x'}
    config.set_override('record_retention', 60, group='periodic')
    _, details = purge_deleted.PurgeDeleted().run(
        admin_context, clock.db_now(admin_context))
    assert details['runs_purged'] == 1


def test_an_unsuccessful_confirmation_is_retried_then_given_up(
        db_all, admin_context, config):
    """A confirmation that rolled back leaves the resize unconfirmed: later
    periods try again under a new id, a bounded number of times."""
    config.set_override('resize_confirm_window', 600, group='periodic')
    due = _resized(admin_context)
    migration_uuid = db_api.migration_get_by_instance(
        admin_context, due)[-1]['uuid']
    used = []

    def confirm_then_fail(context, instance_uuid, operation_id):
        used.append(operation_id)
        _journal_row(admin_context, operation_id, instance_uuid,
                     'rolled_back')
        return {'id': operation_id, 'status': 'pending'}

    task = confirm_resizes.ConfirmResizes(confirm=confirm_then_fail)
    now = clock.db_now(admin_context)
    for _ in range(confirm_resizes.MAX_ATTEMPTS):
        assert task.handle_item(admin_context, due, now).endswith(':pending')
    assert used == [confirm_resizes.operation_id_for(migration_uuid, n)
                    for n in range(1, confirm_resizes.MAX_ATTEMPTS + 1)]
    assert len(set(used)) == confirm_resizes.MAX_ATTEMPTS
    assert task.handle_item(admin_context, due, now) == 'gave_up'
    assert len(used) == confirm_resizes.MAX_ATTEMPTS


def _journal_row(context, operation_id, instance_uuid, status):
    from nova_proxy.db import models
    from nova_proxy.db import session as db_session

    @db_session.writer
    def insert(context):
        now = db_session.utcnow()
        context.session.add(models.Operation(
            id=operation_id, kind='confirm_resize',
            instance_uuid=instance_uuid, status=status, progress=0,
            epoch=1, attempts=1, created_at=now, updated_at=now))
    insert(context)
