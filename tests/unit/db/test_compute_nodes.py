"""Compute nodes in the DB API (``db/api/compute_nodes.py``), on SQLite,
PostgreSQL and MariaDB: the 1.x calls, and nova's (wire 2.x) with the
results and errors nova's own DB API gives."""

from oslo_utils import uuidutils
import pytest

from nova_proxy.common import context as np_context
from nova_proxy.db.api import _constraint
from nova_proxy.db import api
from nova_proxy import exception
from tests.unit.db import factories


def test_compute_node_create_get_update(db_all, admin_context):
    node = api.compute_node_create(admin_context, {
        'host': 'h1', 'node': 'n1', 'vcpus': 8, 'memory_mb': 16384,
        'local_gb': 100, 'hypervisor_type': 'fake'})
    assert (node['vcpus_used'], node['memory_mb_used'], node['local_gb_used'],
            node['running_vms']) == (0, 0, 0, 0)
    assert node == api.compute_node_get_by_host_and_node(admin_context,
                                                         'h1', 'n1')
    new = api.compute_node_update(admin_context, node['id'], {
        'vcpus_used': 2, 'memory_mb_used': 1024, 'running_vms': 1})
    assert (new['vcpus_used'], new['memory_mb_used'], new['running_vms'],
            new['vcpus']) == (2, 1024, 1, 8)
    assert new == api.compute_node_get_by_host_and_node(admin_context,
                                                        'h1', 'n1')
    factories.compute_node(admin_context, host='h2', node='n2')
    assert [n['host'] for n in api.compute_node_get_all(admin_context)] == [
        'h1', 'h2']


def test_compute_node_errors(db_all, admin_context):
    node = api.compute_node_create(admin_context, {'host': 'h1',
                                                   'node': 'n1'})
    with pytest.raises(exception.ComputeNodeExists):
        api.compute_node_create(admin_context, {'host': 'h1', 'node': 'n1'})
    with pytest.raises(exception.InvalidUpdate) as e:
        api.compute_node_create(admin_context, {'host': 'h1'})
    assert e.value.kwargs['field'] == 'node'
    with pytest.raises(exception.ComputeHostNotFound) as e:
        api.compute_node_get_by_host_and_node(admin_context, 'h1', 'n2')
    assert e.value.kwargs == {'host': 'h1', 'node': 'n2'}
    for bad_id in (999999, '1', None, True):
        with pytest.raises(exception.ComputeHostNotFound):
            api.compute_node_update(admin_context, bad_id, {'vcpus': 1})
    for field in ('id', 'uuid', 'created_at', 'bogus'):
        with pytest.raises(exception.InvalidUpdate) as e:
            api.compute_node_update(admin_context, node['id'],
                                    {'vcpus': 4, field: 1})
        assert e.value.kwargs['field'] == field
    assert api.compute_node_get_by_host_and_node(
        admin_context, 'h1', 'n1') == node


# -- nova's calls (wire 2.x) --------------------------------------------

def _node(ctx, host='h1', name=None, **values):
    values.update(host=host, hypervisor_hostname=name or host + '-n')
    values.setdefault('hypervisor_type', 'fake')
    return api.compute_node_create(ctx, values)


def _ids(rows):
    return [row['id'] for row in rows]


def _equal_any(**columns):
    return {_constraint.KEY: {column: {'equal_any': values}
                              for column, values in columns.items()}}


def test_create_takes_what_nova_objects_send(db_all, admin_context):
    # nova's ComputeNode.create: its fields, stats etc. as JSON text.
    uuid = uuidutils.generate_uuid()
    node = _node(admin_context, uuid=uuid, service_id=4, vcpus=8,
                 memory_mb=4096, local_gb=40, hypervisor_version=1002,
                 cpu_info='{}', stats='{"num_instances": "0"}',
                 host_ip='192.0.2.1', supported_instances='[]',
                 pci_stats=None, cpu_allocation_ratio=16.0,
                 ram_allocation_ratio=1.5, disk_allocation_ratio=1.0,
                 free_ram_mb=4096, numa_topology=None)
    assert (node['uuid'], node['node'], node['hypervisor_hostname'],
            node['service_id'], node['cpu_allocation_ratio'],
            node['host_ip'], node['mapped'], node['deleted']) == (
        uuid, 'h1-n', 'h1-n', 4, 16.0, '192.0.2.1', 0, 0)
    assert api.compute_node_get(admin_context, node['id']) == node


def test_node_and_hypervisor_hostname_name_each_other(db_all,
                                                      admin_context):
    by_ours = api.compute_node_create(admin_context,
                                      {'host': 'h1', 'node': 'n1'})
    assert by_ours['hypervisor_hostname'] == 'n1'
    node = _node(admin_context, 'h2', 'n2')
    assert node['node'] == 'n2'
    renamed = api.compute_node_update(admin_context, node['id'],
                                      {'hypervisor_hostname': 'n3'})
    assert (renamed['node'], renamed['hypervisor_hostname']) == ('n3', 'n3')
    assert api.compute_node_get_by_host_and_node(
        admin_context, 'h2', 'n3')['id'] == node['id']
    with pytest.raises(exception.InvalidUpdate) as raised:
        api.compute_node_create(admin_context, {'host': 'h3'})
    assert raised.value.kwargs['field'] == 'node'


def test_a_duplicate_with_a_uuid_revives_the_row_as_nova(db_all,
                                                         admin_context):
    node = _node(admin_context, vcpus=2)
    with pytest.raises(exception.ComputeNodeExists):
        _node(admin_context)
    assert api.compute_node_delete(admin_context, node['id']) is None
    revived = _node(admin_context, uuid=node['uuid'], vcpus=4)
    assert (revived['id'], revived['deleted'], revived['deleted_at'],
            revived['vcpus']) == (node['id'], 0, None, 4)
    assert revived['created_at'] == node['created_at']
    # Only a row of the caller's own host, when confined.
    other = _node(admin_context, 'h2')
    api.compute_node_delete(admin_context, other['id'])
    with pytest.raises(exception.ComputeNodeExists):
        api.compute_node_create(admin_context, {
            'host': 'h1', 'hypervisor_hostname': 'h1-n',
            'uuid': other['uuid']}, scope_host='h1')
    assert api.compute_node_get_all(admin_context) == [revived]


def test_reads_as_nova(db_all, admin_context):
    a = _node(admin_context, 'h1', 'a', service_id=1)
    b = _node(admin_context, 'h1', 'b', service_id=1, mapped=1)
    c = _node(admin_context, 'h2', 'abc', service_id=2, mapped=2)
    assert _ids(api.compute_node_get_all(admin_context)) == [
        a['id'], b['id'], c['id']]
    assert _ids(api.compute_node_get_all_by_host(admin_context, 'h1')) == [
        a['id'], b['id']]
    assert _ids(api.compute_nodes_get_by_service_id(admin_context, 2)) == [
        c['id']]
    assert api.compute_node_get_by_host_and_nodename(
        admin_context, 'h1', 'b') == b
    assert api.compute_node_get_by_nodename(admin_context, 'abc') == c
    assert _ids(api.compute_node_get_all_mapped_less_than(
        admin_context, 2)) == [a['id'], b['id']]
    assert _ids(api.compute_node_search_by_hypervisor(
        admin_context, 'b')) == [b['id'], c['id']]
    assert _ids(api.compute_node_get_all_by_uuids(
        admin_context, [a['uuid'], c['uuid'], 'nope'])) == [a['id'], c['id']]
    assert api.compute_node_get_all_by_uuids(admin_context, []) == []
    assert _ids(api.compute_node_get_all_by_pagination(
        admin_context, limit=2)) == [a['id'], b['id']]
    assert _ids(api.compute_node_get_all_by_pagination(
        admin_context, marker=a['id'])) == [b['id'], c['id']]
    # The deleted only with read_deleted.
    api.compute_node_delete(admin_context, a['id'])
    assert _ids(api.compute_node_get_all_by_host(admin_context, 'h1')) == [
        b['id']]
    deleted = np_context.RequestContext(is_admin=True, read_deleted='yes')
    assert api.compute_node_get(deleted, a['id'])['deleted'] == a['id']


def test_not_found_errors_are_nova_s(db_all, admin_context):
    node = _node(admin_context)
    for call, host in (
            (lambda: api.compute_node_get(admin_context, 999), 999),
            (lambda: api.compute_node_get_all_by_host(admin_context, 'h9'),
             'h9'),
            (lambda: api.compute_node_get_by_host_and_nodename(
                admin_context, 'h1', 'x'), 'h1'),
            (lambda: api.compute_node_get_by_nodename(admin_context, 'x'),
             'x'),
            (lambda: api.compute_node_update(admin_context, 999,
                                             {'vcpus': 1}), 999),
            (lambda: api.compute_node_delete(admin_context, 999), 999)):
        with pytest.raises(exception.ComputeHostNotFound) as raised:
            call()
        assert raised.value.kwargs == {'host': host}
    with pytest.raises(exception.ServiceNotFound) as raised:
        api.compute_nodes_get_by_service_id(admin_context, 42)
    assert raised.value.kwargs == {'service_id': 42}
    with pytest.raises(exception.MarkerNotFound) as raised:
        api.compute_node_get_all_by_pagination(admin_context, marker=999)
    assert raised.value.kwargs == {'marker': 999}
    assert api.compute_node_get(admin_context, node['id']) == node


def test_update_always_sets_updated_at(db_all, admin_context):
    node = _node(admin_context)
    assert node['updated_at'] is None  # as nova: set by updates only
    new = api.compute_node_update(admin_context, node['id'], {})
    assert new['updated_at'] is not None
    new = api.compute_node_update(admin_context, node['id'], {
        'stats': '{"a": "1"}', 'free_disk_gb': -3, 'current_workload': 0})
    assert (new['stats'], new['free_disk_gb']) == ('{"a": "1"}', -3)
    for field in ('uuid', 'id', 'deleted', 'created_at'):
        with pytest.raises(exception.InvalidUpdate):
            api.compute_node_update(admin_context, node['id'], {field: None})


def test_delete_with_nova_s_host_constraint(db_all, admin_context):
    node = _node(admin_context, 'h1')
    # nova's ironic rebalance: the node moved to another host meanwhile.
    with pytest.raises(exception.ConstraintNotMet):
        api.compute_node_delete(admin_context, node['id'],
                                _equal_any(host=['h2']))
    assert api.compute_node_get(admin_context, node['id']) == node
    with pytest.raises(exception.HostScopeViolation):
        api.compute_node_delete(admin_context, node['id'],
                                _equal_any(host=['h1']), scope_host='h2')
    api.compute_node_delete(admin_context, node['id'],
                            _equal_any(host=['h0', 'h1']), scope_host='h1')
    with pytest.raises(exception.ComputeHostNotFound):
        api.compute_node_get(admin_context, node['id'])


@pytest.mark.parametrize('constraint', [
    {'host': {'equal_any': ['h1']}},
    {_constraint.KEY: {'nope': {'equal_any': ['h1']}}},
    {_constraint.KEY: {'host': {'like': ['h1']}}},
    {_constraint.KEY: {'host': {'equal_any': 'h1'}}},
    {_constraint.KEY: {'host': {'equal_any': [['h1']]}}},
    ['h1']])
def test_a_malformed_constraint_is_refused(db_all, admin_context,
                                           constraint):
    node = _node(admin_context)
    with pytest.raises(exception.Invalid):
        api.compute_node_delete(admin_context, node['id'], constraint)
    assert api.compute_node_get(admin_context, node['id']) == node


def test_not_equal_constraint(db_all, admin_context):
    node = _node(admin_context)
    with pytest.raises(exception.ConstraintNotMet):
        api.compute_node_delete(admin_context, node['id'], {
            _constraint.KEY: {'host': {'not_equal': ['h1']}}})
    api.compute_node_delete(admin_context, node['id'], {
        _constraint.KEY: {'host': {'not_equal': ['h2']}}})
