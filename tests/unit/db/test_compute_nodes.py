"""Compute nodes in the DB API (``db/api/compute_nodes.py``), on SQLite,
PostgreSQL and MariaDB."""

import pytest

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
