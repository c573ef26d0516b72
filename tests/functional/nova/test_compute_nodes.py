"""nova's ComputeNode and ComputeNodeList objects on live proxies: what
nova-compute's resource tracker does with its compute nodes (create at
start, save at each audit, the reads by host, node name, id, uuid and
service, destroy of an orphan node with nova's host constraint), and
what host scope refuses it (another host's nodes, the lists of all
hosts).

Scenarios run in the nova object process (see conftest.py).
"""

from tests.functional import nova as nova_tests
from tests.functional.nova import conftest


def _new_node(ctx, host, nodename, service_id=None):
    from nova import objects
    node = objects.ComputeNode(
        ctx, host=host, hypervisor_hostname=nodename, service_id=service_id,
        vcpus=8, memory_mb=8192, local_gb=100, vcpus_used=0,
        memory_mb_used=512, local_gb_used=0, free_ram_mb=7680,
        free_disk_gb=100, current_workload=0, running_vms=0,
        hypervisor_type='fake', hypervisor_version=1000, cpu_info='{}',
        disk_available_least=90, host_ip='192.0.2.10',
        supported_hv_specs=[], stats={'num_instances': '0'},
        numa_topology=None, pci_device_pools=None,
        cpu_allocation_ratio=16.0, ram_allocation_ratio=1.5,
        disk_allocation_ratio=1.0)
    node.create()
    return node


def create_save_read(ctx, host):
    from nova import exception
    from nova import objects

    service = objects.Service(ctx, host=host, binary='nova-compute',
                              topic='compute')
    service.create()
    nodename = host + '-node'
    node = _new_node(ctx, host, nodename, service.id)
    facts = {'id': node.id, 'uuid_len': len(node.uuid),
             'created_at_tz': str(node.created_at.tzinfo),
             'host_ip': str(node.host_ip), 'stats': node.stats}

    # The resource tracker's audit.
    node.vcpus_used = 2
    node.memory_mb_used = 2560
    node.running_vms = 1
    node.stats = {'num_instances': '1', 'num_vm_active': '1'}
    node.save()
    facts['saved'] = [node.vcpus_used, node.stats,
                      node.updated_at is not None]

    reads = [
        objects.ComputeNode.get_by_host_and_nodename(ctx, host, nodename),
        objects.ComputeNode.get_by_nodename(ctx, nodename),
        objects.ComputeNode.get_by_id(ctx, node.id),
        # nova-compute's init_host and the resource tracker: by uuid
        # (ComputeNodeList.get_all_by_uuids, which the shim serves).
        objects.ComputeNode.get_by_uuid(ctx, node.uuid),
        objects.ComputeNode.get_by_service_id(ctx, service.id),
        objects.ComputeNode.get_first_node_by_host_for_old_compat(ctx, host),
    ]
    reads += objects.ComputeNodeList.get_all_by_host(ctx, host).objects
    reads += objects.ComputeNodeList.get_all_by_host(
        ctx, host, use_slave=True).objects
    reads += objects.ComputeNodeList.get_all_by_uuids(
        ctx, [node.uuid]).objects
    facts['reads'] = [[n.id, n.vcpus_used, n.stats['num_instances'],
                       n.hypervisor_hostname, n.cpu_allocation_ratio]
                      for n in reads]
    # nova's Service loads its compute node by service id.
    facts['by_service'] = objects.Service.get_by_id(
        ctx, service.id).compute_node.id

    errors = []
    try:
        _new_node(ctx, host, nodename)
    except exception.DuplicateRecord:
        errors.append('DuplicateRecord')
    try:
        objects.ComputeNode.get_by_host_and_nodename(ctx, host, 'nope')
    except exception.ComputeHostNotFound as e:
        errors.append(['ComputeHostNotFound', e.kwargs['host']])

    # An orphan node: destroyed with nova's host constraint.
    orphan = _new_node(ctx, host, host + '-orphan')
    orphan.destroy()
    try:
        objects.ComputeNode.get_by_id(ctx, orphan.id)
    except exception.ComputeHostNotFound as e:
        errors.append(['ComputeHostNotFound', e.kwargs['host']])
    facts['orphan'] = orphan.id
    facts['errors'] = errors
    facts['own_list'] = [n.id for n in
                         objects.ComputeNodeList.get_all_by_host(ctx, host)]
    return facts


def create_node(ctx, host):
    return _new_node(ctx, host, host + '-node').id


def refused_to_another_host(ctx, host, other_host, other_id):
    from nova import objects

    own = _new_node(ctx, host, host + '-node')

    def save_theirs():
        theirs = objects.ComputeNode(ctx)
        theirs.id = other_id
        theirs.vcpus_used = 7
        theirs.save()

    def destroy_theirs():
        theirs = objects.ComputeNode(ctx, host=other_host)
        theirs.id = other_id
        theirs.destroy()

    def hand_own_over():
        own.host = other_host
        own.save()

    attempts = {
        'create for another host': lambda: _new_node(
            ctx, other_host, other_host + '-x'),
        'get by id': lambda: objects.ComputeNode.get_by_id(ctx, other_id),
        'get by host and nodename': lambda:
            objects.ComputeNode.get_by_host_and_nodename(
                ctx, other_host, other_host + '-node'),
        'get by nodename': lambda: objects.ComputeNode.get_by_nodename(
            ctx, other_host + '-node'),
        'list by host': lambda: objects.ComputeNodeList.get_all_by_host(
            ctx, other_host),
        'save': save_theirs,
        'destroy': destroy_theirs,
        'hand own over': hand_own_over,
        'list all': lambda: objects.ComputeNodeList.get_all(ctx),
        'list by pagination': lambda:
            objects.ComputeNodeList.get_by_pagination(ctx, limit=10),
        'list by hypervisor': lambda:
            objects.ComputeNodeList.get_by_hypervisor(ctx, 'node'),
        'list not mapped': lambda:
            objects.ComputeNodeList.get_all_by_not_mapped(ctx, 1),
    }
    refused = nova_tests.refusals(attempts)
    refused['own after all'] = objects.ComputeNode.get_by_id(
        ctx, own.id).host
    return refused


def test_nova_compute_creates_saves_and_reads_its_compute_nodes(nova):
    facts = nova.run(create_save_read, host=conftest.HOST)
    node_id = facts['id']
    assert facts['uuid_len'] == 36
    assert facts['created_at_tz'] == 'UTC'
    assert facts['host_ip'] == '192.0.2.10'
    assert facts['stats'] == {'num_instances': '0'}
    assert facts['saved'] == [2, {'num_instances': '1',
                                  'num_vm_active': '1'}, True]
    nodename = conftest.HOST + '-node'
    assert facts['reads'] == [[node_id, 2, '1', nodename, 16.0]] * 9
    assert facts['by_service'] == node_id
    assert facts['errors'] == [
        'DuplicateRecord', ['ComputeHostNotFound', conftest.HOST],
        ['ComputeHostNotFound', facts['orphan']]]
    assert facts['own_list'] == [node_id]
    # The proxies' rows: our node column follows nova's name.
    row = nova.control_plane('compute_node_get', compute_id=node_id)
    assert (row['node'], row['hypervisor_hostname'], row['host']) == (
        nodename, nodename, conftest.HOST)


def test_a_compute_is_refused_other_hosts_nodes_and_the_lists(nova):
    other_id = nova.run(create_node, host=conftest.OTHER_HOST)
    before = nova.control_plane('compute_node_get', compute_id=other_id)
    refused = nova.run(refused_to_another_host, host=conftest.HOST,
                       other_host=conftest.OTHER_HOST, other_id=other_id)
    assert refused == {
        'create for another host': 'HostScopeViolation',
        'get by id': 'HostScopeViolation',
        'get by host and nodename': 'HostScopeViolation',
        'get by nodename': 'HostScopeViolation',
        'list by host': 'HostScopeViolation',
        'save': 'HostScopeViolation',
        'destroy': 'HostScopeViolation',
        'hand own over': 'HostScopeViolation',
        'list all': 'Forbidden',
        'list by pagination': 'Forbidden',
        'list by hypervisor': 'Forbidden',
        'list not mapped': 'Forbidden',
        'own after all': conftest.HOST,
    }
    # The other host's node is as it was.
    assert nova.control_plane('compute_node_get',
                              compute_id=other_id) == before
