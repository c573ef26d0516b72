"""What the orchestration's scheduler reads (``db/api/scheduling.py``):
nova's compute node columns of the hosts that are up, on SQLite,
PostgreSQL and MariaDB."""

from nova_proxy.db.api import scheduling
from nova_proxy.db import api
from tests.unit.db import factories


def _up(ctx, host, **node):
    service = factories.service(ctx, host)
    api.service_heartbeat(ctx, service['id'])
    return api.compute_node_create(ctx, dict(
        {'host': host, 'hypervisor_hostname': host + '.nodes', 'vcpus': 8,
         'memory_mb': 4096, 'local_gb': 50}, **node))


def test_nodes_up_carry_nova_s_resource_columns(db_all, admin_context):
    node = _up(admin_context, 'h1', free_ram_mb=1024, memory_mb_used=3072,
               ram_allocation_ratio=1.5, host_ip='192.0.2.1')
    down = factories.service(admin_context, 'h2')  # never heartbeated
    api.compute_node_create(admin_context, {
        'host': 'h2', 'hypervisor_hostname': 'h2.nodes'})
    assert down['last_seen_up'] is None
    nodes = scheduling.compute_nodes_up(admin_context, 60)
    assert [n['hypervisor_hostname'] for n in nodes] == ['h1.nodes']
    assert set(nodes[0]) == set(scheduling.RESOURCE_COLUMNS)
    assert (nodes[0]['id'], nodes[0]['free_ram_mb'],
            nodes[0]['memory_mb_used'], nodes[0]['ram_allocation_ratio'],
            nodes[0]['host_ip']) == (node['id'], 1024, 3072, 1.5,
                                     '192.0.2.1')


def test_room_counts_builds_placed_on_the_node(db_all, admin_context):
    _up(admin_context, 'h1')
    factories.instance(admin_context, 'h1', 'h1.nodes', memory_mb=512,
                       vcpus=2, root_gb=5, vm_state='building',
                       task_state='scheduling')
    # Claimed (spawning) or on another node: counted by the report.
    factories.instance(admin_context, 'h1', 'h1.nodes', memory_mb=256,
                       vcpus=1, root_gb=1, vm_state='building',
                       task_state='spawning')
    factories.instance(admin_context, 'h1', 'other', memory_mb=128,
                       vcpus=1, root_gb=1, vm_state='building',
                       task_state='scheduling')
    node, placed = scheduling.compute_node_room(admin_context, 'h1',
                                                'h1.nodes')
    assert node['hypervisor_hostname'] == 'h1.nodes'
    assert placed == (512, 2, 5)
    assert {type(value) for value in placed} == {int}
    assert scheduling.compute_node_room(admin_context, 'h1', 'h1') is None


def test_first_node_of_a_host(db_all, admin_context):
    first = _up(admin_context, 'h1')
    api.compute_node_create(admin_context, {
        'host': 'h1', 'hypervisor_hostname': 'h1.second'})
    assert scheduling.compute_node_first(admin_context, 'h1')['id'] == \
        first['id']
    assert scheduling.compute_node_first(
        admin_context, 'h1', 'h1.second')['hypervisor_hostname'] == \
        'h1.second'
    assert scheduling.compute_node_first(admin_context, 'h9') is None
