"""nova's Migration and MigrationList objects on live proxies: what
nova-compute does with migrations (the reads by id, uuid, instance and
status, every list it makes, saves of a migration in progress), that
creating one is the control plane's (a compute's Migration.create is
refused; the values nova's object sends are what the control plane then
creates with), and what host scope refuses a compute (another host's
migrations, the lists of all hosts, re-targeting its own).

Scenarios run in the nova object process (see conftest.py).
"""

from tests.functional import nova as nova_tests
from tests.functional.nova import conftest

INSTANCE = '5a0e2f1c-6c54-4b8e-9d55-0a1b2c3d4e5f'
OTHER_INSTANCE = '6a0e2f1c-6c54-4b8e-9d55-0a1b2c3d4e5f'
THIRD_HOST = 'nova-compute-3'


def conductor_create(ctx, host, migrations):
    """What nova's conductor would create, tried from this compute host:
    each refused; the values nova's object sent, for the control plane.

    :param migrations: ``[source, dest, instance_uuid, status, type]``
    """
    from nova import exception
    from nova import objects

    result = []
    for source, dest, instance_uuid, status, migration_type in migrations:
        migration = objects.Migration(
            ctx, instance_uuid=instance_uuid, source_compute=source,
            source_node=source + '-node', dest_compute=dest,
            dest_node=dest + '-node', dest_compute_id=1, status=status,
            migration_type=migration_type, old_instance_type_id=1,
            new_instance_type_id=2 if migration_type == 'resize' else 1)
        try:
            migration.create()
        except exception.Forbidden as e:
            refused = type(e).__name__
        else:
            refused = None
        # What Migration.create sent: with its own uuid, user and project.
        result.append({'refused': refused,
                       'values': migration.obj_get_changes()})
    return result


def _seed(nova, *migrations, extra=None):
    """Create ``migrations`` (see ``conductor_create``) as the control
    plane, with the values nova's object sends, and ``extra[i]`` added to
    the i-th."""
    extra = extra or {}
    attempts = nova.run(conductor_create, host=conftest.HOST,
                        migrations=migrations)
    assert [a['refused'] for a in attempts] == ['Forbidden'] * len(
        migrations)
    return [nova.control_plane('migration_create', values=dict(
        attempt['values'], **extra.get(i, {})))
        for i, attempt in enumerate(attempts)]


def reads_lists_and_saves(ctx, host, ids):
    from nova import exception
    from nova import objects
    from nova import utils

    node = host + '-node'
    live = objects.Migration.get_by_id(ctx, ids['live'])
    facts = {'live': [live.id, live.status, live.migration_type,
                      live.instance_uuid, live.source_compute,
                      live.dest_compute, str(live.created_at.tzinfo)]}
    facts['same'] = [
        objects.Migration.get_by_uuid(ctx, live.uuid).id,
        objects.Migration.get_by_id_and_instance(
            ctx, live.id, live.instance_uuid).id,
        objects.Migration.get_by_instance_and_status(
            ctx, live.instance_uuid, 'running').id]

    def ids_of(migrations):
        return sorted(m.id for m in migrations)

    MigrationList = objects.MigrationList
    lists = {
        # The resource tracker's audit.
        'in progress': MigrationList.get_in_progress_by_host_and_node(
            ctx, host, node),
        'in progress and error': MigrationList.get_in_progress_and_error(
            ctx, host, node),
        # _poll_unconfirmed_resizes.
        'unconfirmed': MigrationList.get_unconfirmed_by_dest_compute(
            ctx, 3600, host),
        'unconfirmed from the replica':
            MigrationList.get_unconfirmed_by_dest_compute(
                ctx, 3600, host, use_slave=True),
        # _cleanup_incomplete_migrations.
        'errors': MigrationList.get_by_filters(
            ctx, {'host': host, 'status': 'error'}),
        'in progress of the instance':
            MigrationList.get_in_progress_by_instance(
                ctx, live.instance_uuid),
        'paged': MigrationList.get_by_filters(
            ctx, {'host': host}, sort_keys=['id'], sort_dirs=['asc'],
            limit=2),
    }
    # _destroy_evacuated_instances, deleted ones included.
    with utils.temporary_mutation(ctx, read_deleted='yes'):
        lists['evacuations'] = MigrationList.get_by_filters(ctx, {
            'source_compute': host,
            'status': ['accepted', 'pre-migrating', 'done'],
            'migration_type': 'evacuation'})
    facts['lists'] = {name: ids_of(found) for name, found in lists.items()}

    # Live migration progress, then the destination's claim of a resize
    # (its own name written back: no change of hosts).
    live.status = 'post-migrating'
    live.memory_total = 2 ** 33
    live.memory_processed = 2 ** 32
    live.save()
    resize = objects.Migration.get_by_id(ctx, ids['resize'])
    resize.dest_compute = host
    resize.dest_node = node
    resize.dest_host = '192.0.2.10'
    resize.save()
    again = objects.Migration.get_by_id(ctx, live.id)
    facts['saved'] = [again.status, again.memory_processed,
                      objects.Migration.get_by_id(ctx, resize.id).dest_host]

    errors = []
    for attempt, error in (
            (lambda: objects.Migration.get_by_id(ctx, 99999),
             exception.MigrationNotFound),
            (lambda: objects.Migration.get_by_instance_and_status(
                ctx, live.instance_uuid, 'nope'),
             exception.MigrationNotFoundByStatus),
            (lambda: objects.Migration.get_by_id_and_instance(
                ctx, live.id, 'e5a0e2f1-6c54-4b8e-9d55-0a1b2c3d4e5f'),
             exception.MigrationNotFoundForInstance)):
        try:
            attempt()
        except error as e:
            # nova's own kwargs ("code" is every NovaException's).
            errors.append([type(e).__name__,
                           sorted(set(e.kwargs) - {'code'})])
    facts['errors'] = errors
    return facts


def refused(ctx, host, ids):
    from nova import objects

    def save_theirs():
        theirs = objects.Migration(ctx)
        theirs.id = ids['other']
        theirs.status = 'error'
        theirs.save()

    def retarget_own():
        own = objects.Migration.get_by_id(ctx, ids['own'])
        own.dest_compute = THIRD_HOST
        own.save()

    def reopen_own():
        done = objects.Migration.get_by_id(ctx, ids['done'])
        done.status = 'running'
        done.save()

    MigrationList = objects.MigrationList
    attempts = {
        'get by id': lambda: objects.Migration.get_by_id(ctx, ids['other']),
        'get by uuid': lambda: objects.Migration.get_by_uuid(
            ctx, ids['other_uuid']),
        'in progress elsewhere':
            lambda: MigrationList.get_in_progress_by_host_and_node(
                ctx, THIRD_HOST, THIRD_HOST + '-node'),
        'unconfirmed elsewhere':
            lambda: MigrationList.get_unconfirmed_by_dest_compute(
                ctx, 0, THIRD_HOST),
        'all migrations': lambda: MigrationList.get_by_filters(ctx, {}),
        'save theirs': save_theirs,
        'retarget own': retarget_own,
        'reopen own': reopen_own,
    }
    return nova_tests.refusals(attempts)


def test_nova_compute_reads_lists_and_saves_its_migrations(nova):
    host, other = conftest.HOST, conftest.OTHER_HOST
    old = '2020-01-01T00:00:00+00:00'
    live, resize, evacuation, error, _ = _seed(
        nova, [host, other, INSTANCE, 'running', 'live-migration'],
        [other, host, OTHER_INSTANCE, 'finished', 'resize'],
        [host, other, OTHER_INSTANCE, 'accepted', 'evacuation'],
        [other, host, OTHER_INSTANCE, 'error', 'migration'],
        [other, THIRD_HOST, OTHER_INSTANCE, 'running', 'migration'],
        extra={1: {'updated_at': old}})
    assert (live['dest_compute_id'], len(live['uuid'])) == (1, 36)
    facts = nova.run(reads_lists_and_saves, host=host, ids={
        'live': live['id'], 'resize': resize['id']})
    assert facts['live'] == [live['id'], 'running', 'live-migration',
                             INSTANCE, host, other, 'UTC']
    assert facts['same'] == [live['id']] * 3
    assert facts['lists'] == {
        'in progress': sorted([live['id'], resize['id'],
                               evacuation['id']]),
        'in progress and error': sorted([live['id'], resize['id'],
                                         evacuation['id'], error['id']]),
        'unconfirmed': [resize['id']],
        'unconfirmed from the replica': [resize['id']],
        'errors': [error['id']],
        'in progress of the instance': [live['id']],
        'paged': [live['id'], resize['id']],
        'evacuations': [evacuation['id']],
    }
    assert facts['saved'] == ['post-migrating', 2 ** 32, '192.0.2.10']
    assert facts['errors'] == [
        ['MigrationNotFound', ['migration_id']],
        ['MigrationNotFoundByStatus', ['instance_id', 'status']],
        ['MigrationNotFoundForInstance', ['instance_id', 'migration_id']]]


def test_a_compute_is_refused_other_hosts_migrations(nova):
    host, other = conftest.HOST, conftest.OTHER_HOST
    own, done, theirs = _seed(
        nova, [host, other, INSTANCE, 'running', 'live-migration'],
        [host, other, INSTANCE, 'completed', 'migration'],
        [other, THIRD_HOST, OTHER_INSTANCE, 'running', 'live-migration'])
    result = nova.run(refused, host=host, ids={
        'own': own['id'], 'done': done['id'], 'other': theirs['id'],
        'other_uuid': theirs['uuid']})
    assert result == {
        'get by id': 'HostScopeViolation',
        'get by uuid': 'HostScopeViolation',
        'in progress elsewhere': 'HostScopeViolation',
        'unconfirmed elsewhere': 'HostScopeViolation',
        'all migrations': 'Forbidden',
        'save theirs': 'HostScopeViolation',
        'retarget own': 'Forbidden',
        'reopen own': 'Forbidden',
    }
    # Nothing changed on the way.
    for row in (own, done, theirs):
        assert nova.control_plane('migration_get',
                                  migration_id=row['id']) == row
