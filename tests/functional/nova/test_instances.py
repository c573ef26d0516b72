"""nova's Instance and InstanceList objects on live proxies: what
nova-compute does with its instances (saves with expected task and vm
states and their conflicts, destroy with nova's host constraint, the
lists by host, host and node, and filters it makes at start, the usage
audit's window, metadata), and what host scope refuses it (another
host's instances and lists).

Scenarios run in the nova object process (see conftest.py).
"""

from tests.functional import nova as nova_scenarios
from tests.functional.nova import conftest

NODE = 'node-1'


def _new(ctx, host, **fields):
    """An instance created as nova-conductor creates one, through nova's
    DB API (the shim here), read back as nova's object. (nova-compute
    never creates instances; Instance.create would also map an EC2 id in
    a table the proxies do not keep.)"""
    from nova.db.main import api as db
    from nova import objects
    from oslo_utils import uuidutils
    values = dict(uuid=uuidutils.generate_uuid(), host=host, node=NODE,
                  compute_id=1, project_id='p1', user_id='u1',
                  vm_state='building', task_state='scheduling',
                  extra={'numa_topology': None, 'pci_requests': None,
                         'pci_devices': None, 'vcpu_model': None,
                         'trusted_certs': None, 'resources': None,
                         'device_metadata': None,
                         'migration_context': None},
                  deleted=0)
    values.update(fields)
    row = db.instance_create(ctx, values)
    # (The extra fields are left out of the object: its saves would write
    # them back with instance_extra_update_by_uuid, a call of the
    # instance_extra resource.)
    instance = objects.Instance._from_db_object(
        ctx, objects.Instance(), row, expected_attrs=[
            'metadata', 'system_metadata', 'info_cache', 'security_groups'])
    instance.extra_as_created = sorted(
        k for k, v in row['extra'].items() if v is None)
    return instance


def create_instance(ctx, host):
    instance = _new(ctx, host, metadata={'k': 'v'})
    return {'uuid': instance.uuid, 'id': instance.id}


def lifecycle(ctx, host):
    from nova import exception
    from nova import objects

    facts = {}
    instance = _new(ctx, host, metadata={'role': 'web', 'k': 'v'},
                    system_metadata={'image_os': 'linux'})
    facts['created'] = [isinstance(instance.id, int), instance.deleted,
                        instance.metadata, instance.system_metadata,
                        instance.info_cache.network_info,
                        len(instance.security_groups),
                        instance.extra_as_created]

    # The build: scheduling -> spawning -> active, each a compare-and-swap.
    instance.task_state = 'spawning'
    instance.save(expected_task_state='scheduling')
    instance.vm_state = 'active'
    instance.task_state = None
    instance.power_state = 1
    instance.save(expected_task_state='spawning',
                  expected_vm_state=['building'])
    facts['built'] = [instance.vm_state, instance.task_state,
                      instance.updated_at is not None]

    # A stale copy loses the race with nova's errors and kwargs.
    stale = objects.Instance.get_by_uuid(ctx, instance.uuid)
    conflicts = []
    stale.task_state = 'rebooting'
    try:
        stale.save(expected_task_state='spawning')
    except exception.UnexpectedTaskStateError as e:
        conflicts.append(['UnexpectedTaskStateError', e.kwargs['expected'],
                          e.kwargs['actual']])
    stale.task_state = None
    stale.vm_state = 'stopped'
    try:
        stale.save(expected_vm_state=['building'])
    except exception.InstanceUpdateConflict as e:
        conflicts.append(['InstanceUpdateConflict', e.kwargs['expected'],
                          e.kwargs['actual']])
    instance.task_state = 'deleting'
    instance.save()
    copy = objects.Instance.get_by_uuid(ctx, instance.uuid)
    copy.task_state = 'powering-off'
    try:
        copy.save(expected_task_state=[None])
    except exception.UnexpectedDeletingTaskStateError as e:
        conflicts.append(['UnexpectedDeletingTaskStateError',
                          e.kwargs['expected'], e.kwargs['actual']])
    instance.task_state = None
    instance.save(expected_task_state='deleting')
    facts['conflicts'] = conflicts

    # Metadata through save and delete_metadata_key.
    instance.metadata = dict(instance.metadata, added='1')
    instance.save()
    instance.delete_metadata_key('role')
    facts['metadata'] = objects.Instance.get_by_uuid(
        ctx, instance.uuid, expected_attrs=['metadata']).metadata

    # What nova-compute reads at start and in its periodic tasks.
    other = _new(ctx, host, vm_state='active', task_state=None)
    by_host = objects.InstanceList.get_by_host(
        ctx, host, expected_attrs=['info_cache', 'metadata',
                                   'numa_topology'])
    facts['by_host'] = sorted([i.uuid, i.info_cache.network_info,
                               i.numa_topology] for i in by_host)
    by_node = objects.InstanceList.get_by_host_and_node(
        ctx, host, NODE, expected_attrs=['system_metadata', 'numa_topology',
                                         'flavor', 'migration_context',
                                         'resources'])
    facts['by_node'] = sorted([i.uuid, i.system_metadata] for i in by_node)
    facts['uuids_by_node'] = sorted(
        objects.InstanceList.get_uuids_by_host_and_node(ctx, host, NODE))
    facts['uuids_by_host'] = sorted(
        objects.InstanceList.get_uuids_by_host(ctx, host))
    # ComputeManager._get_instances_on_driver: no host, the driver's
    # uuids; the proxies limit it to this host's scope.
    on_driver = objects.InstanceList.get_by_filters(
        ctx, {'deleted': False, 'soft_deleted': True,
              'uuid': [instance.uuid, other.uuid]}, use_slave=True)
    facts['on_driver'] = sorted(i.uuid for i in on_driver)
    facts['rescued'] = [i.uuid for i in objects.InstanceList.get_by_filters(
        ctx, {'vm_state': 'rescued', 'host': host})]
    building = objects.InstanceList.get_by_filters(
        ctx, {'vm_state': 'active', 'host': host}, sort_key='id',
        sort_dir='asc', expected_attrs=['metadata'])
    facts['active'] = [i.uuid for i in building]

    # InstanceList.fill_metadata fills what a list was read without.
    bare = objects.InstanceList.get_by_host(ctx, host, expected_attrs=[])
    bare.fill_metadata()
    facts['filled'] = sorted(i.system_metadata for i in bare
                             if i.uuid == instance.uuid)

    # Destroy: nova's host constraint when the object has no host (a
    # race it reports as "host changed"), then the real one.
    unhosted = objects.Instance(ctx)
    unhosted.id, unhosted.uuid, unhosted.host = other.id, other.uuid, None
    try:
        unhosted.destroy()
    except exception.ObjectActionError as e:
        facts['constraint'] = str(e)
    other.destroy()
    facts['destroyed'] = [other.deleted, 'id' not in other]
    try:
        objects.Instance.get_by_uuid(ctx, other.uuid)
    except exception.InstanceNotFound:
        facts['gone'] = True
    # _run_pending_deletes: deleted, not cleaned, on this host.
    pending = objects.InstanceList.get_by_filters(
        ctx, {'deleted': True, 'soft_deleted': False, 'host': host,
              'cleaned': False}, expected_attrs=['system_metadata'])
    facts['pending'] = [i.uuid for i in pending]
    facts['uuids'] = {'instance': instance.uuid, 'other': other.uuid}
    return facts


def refused_to_another_host(ctx, host, other_uuid, other_id, other_host):
    from nova import objects

    own = _new(ctx, host)

    def save_theirs():
        theirs = objects.Instance(ctx)
        theirs.uuid, theirs.id = other_uuid, other_id
        theirs.task_state = 'rebooting'
        theirs.save()

    def destroy_theirs():
        theirs = objects.Instance(ctx)
        theirs.uuid, theirs.id, theirs.host = other_uuid, other_id, \
            other_host
        theirs.destroy()

    attempts = {
        'create for another host': lambda: _new(ctx, other_host),
        'get by uuid': lambda: objects.Instance.get_by_uuid(ctx, other_uuid),
        'get by id': lambda: objects.Instance.get_by_id(ctx, other_id),
        'save': save_theirs,
        'destroy': destroy_theirs,
        'list by host': lambda: objects.InstanceList.get_by_host(
            ctx, other_host),
        'list by host and node': lambda:
            objects.InstanceList.get_by_host_and_node(ctx, other_host,
                                                      NODE),
        'list by filters': lambda: objects.InstanceList.get_by_filters(
            ctx, {'host': other_host}),
        'uuids by host': lambda: objects.InstanceList.get_uuids_by_host(
            ctx, other_host),
    }
    refused = nova_scenarios.refusals(attempts)
    # A list without a host: this host's scope, not the cloud.
    refused['unfiltered'] = [i.uuid == own.uuid for i in
                             objects.InstanceList.get_by_filters(ctx, {})]
    return refused


def test_nova_compute_builds_saves_lists_and_destroys(nova):
    facts = nova.run(lifecycle, host=conftest.HOST)
    uuid, other = facts['uuids']['instance'], facts['uuids']['other']
    assert facts['created'] == [
        True, False, {'role': 'web', 'k': 'v'}, {'image_os': 'linux'}, None,
        0, ['deleted_at', 'device_metadata', 'flavor', 'keypairs',
            'migration_context', 'numa_topology', 'pci_requests',
            'resources', 'trusted_certs', 'updated_at', 'vcpu_model']]
    assert facts['built'] == ['active', None, True]
    assert facts['conflicts'] == [
        ['UnexpectedTaskStateError', {'task_state': ['spawning']},
         {'task_state': None}],
        ['InstanceUpdateConflict', {'vm_state': ['building']},
         {'vm_state': 'active'}],
        ['UnexpectedDeletingTaskStateError', {'task_state': [None]},
         {'task_state': 'deleting'}]]
    assert facts['metadata'] == {'k': 'v', 'added': '1'}
    assert facts['by_host'] == sorted([[uuid, None, None],
                                       [other, None, None]])
    assert facts['by_node'] == sorted([[uuid, {'image_os': 'linux'}],
                                       [other, {}]])
    assert facts['uuids_by_node'] == facts['uuids_by_host'] == sorted(
        [uuid, other])
    assert facts['on_driver'] == sorted([uuid, other])
    assert facts['rescued'] == []
    assert facts['active'] == [uuid, other]
    assert facts['filled'] == [{'image_os': 'linux'}]
    assert 'host changed' in facts['constraint']
    assert facts['destroyed'] == [True, True]
    assert facts['gone'] is True
    assert facts['pending'] == [other]
    # The control plane reads what the compute wrote.
    assert nova.control_plane('instance_get_by_uuid', uuid=uuid)[
        'metadata'] == {'k': 'v', 'added': '1'}


def test_a_compute_is_refused_other_hosts_instances(nova):
    other = nova.run(create_instance, host=conftest.OTHER_HOST)
    refused = nova.run(refused_to_another_host, host=conftest.HOST,
                       other_uuid=other['uuid'], other_id=other['id'],
                       other_host=conftest.OTHER_HOST)
    assert refused == {
        'create for another host': 'HostScopeViolation',
        'get by uuid': 'HostScopeViolation',
        'get by id': 'HostScopeViolation',
        'save': 'HostScopeViolation',
        'destroy': 'HostScopeViolation',
        'list by host': 'HostScopeViolation',
        'list by host and node': 'HostScopeViolation',
        'list by filters': 'HostScopeViolation',
        'uuids by host': 'HostScopeViolation',
        'unfiltered': [True],
    }
    # The other host's instance is as it was.
    theirs = nova.control_plane('instance_get_by_uuid', uuid=other['uuid'])
    assert (theirs['task_state'], theirs['deleted'], theirs['metadata']) == (
        'scheduling', 0, {'k': 'v'})
