"""Host scope across the DB API (``db/api/_scope.py`` and each resource's
scoped writes): a compute host reaches only its own rows, and the
instances migrating to or from it; on SQLite, PostgreSQL and MariaDB."""

import pytest

from nova_proxy.db import api
from nova_proxy import exception
from tests.unit.db import factories


def test_scope_confines_instance_writes(db_all, admin_context):
    mine = factories.instance(admin_context, host='src')
    theirs = factories.instance(admin_context, host='other')
    assert api.instance_update(admin_context, mine['uuid'],
                               {'progress': 1},
                               scope_host='src')['progress'] == 1
    with pytest.raises(exception.HostScopeViolation) as e:
        api.instance_update(admin_context, theirs['uuid'], {'progress': 1},
                            scope_host='src')
    # Not who owns it: that is not the caller's to learn.
    assert e.value.kwargs == {'caller': 'src',
                              'resource': 'instance %s' % theirs['uuid']}
    with pytest.raises(exception.HostScopeViolation):
        api.instance_update_and_get_original(
            admin_context, theirs['uuid'], {'progress': 1},
            scope_host='src')
    with pytest.raises(exception.HostScopeViolation):
        api.instance_destroy(admin_context, theirs['uuid'],
                             scope_host='src')
    assert api.instance_get_by_uuid(admin_context,
                                    theirs['uuid'])['progress'] is None
    # A CAS miss on an instance of another host: the state conflict is
    # the caller's first problem and is reported as such.
    with pytest.raises(exception.UnexpectedTaskStateError):
        api.instance_update(admin_context, theirs['uuid'], {
            'expected_task_state': 'x'}, scope_host='src')


def test_scope_follows_migrations(db_all, admin_context):
    inst = factories.instance(admin_context, host='other')
    with pytest.raises(exception.HostScopeViolation):
        api.instance_update(admin_context, inst['uuid'], {'progress': 1},
                            scope_host='dst')
    mig = factories.migration(
        admin_context, inst['uuid'], source_compute='other',
        dest_compute='dst', status='migrating')
    # The destination of a migration in progress may write the instance,
    # its faults and its actions.
    new = api.instance_update(admin_context, inst['uuid'],
                              {'host': 'dst', 'node': 'dst-n'},
                              scope_host='dst')
    assert new['host'] == 'dst'
    # ...and the source, still, while the migration runs.
    api.instance_update(admin_context, inst['uuid'], {'progress': 2},
                        scope_host='other')
    api.instance_fault_create(admin_context, {'instance_uuid': inst['uuid']},
                              scope_host='other')
    api.migration_update(admin_context, mig['id'], {'status': 'confirmed'},
                         scope_host='dst')
    with pytest.raises(exception.HostScopeViolation):
        api.instance_update(admin_context, inst['uuid'], {'progress': 3},
                            scope_host='other')
    with pytest.raises(exception.HostScopeViolation):
        api.instance_fault_create(admin_context,
                                  {'instance_uuid': inst['uuid']},
                                  scope_host='other')
    with pytest.raises(exception.HostScopeViolation):
        api.migration_update(admin_context, mig['id'], {'status': 'x'},
                             scope_host='third')


def test_scope_confines_services_nodes_actions(db_all, admin_context):
    svc = factories.service(admin_context, host='h1')
    node = factories.compute_node(admin_context, host='h1', node='n1')
    inst = factories.instance(admin_context, host='h1')
    api.service_update(admin_context, svc['id'], {'disabled': True},
                       scope_host='h1')
    assert api.service_heartbeat(admin_context, svc['id'],
                                 scope_host='h1')['report_count'] == 1
    api.compute_node_update(admin_context, node['id'], {'vcpus': 2},
                            scope_host='h1')
    for call in (
            lambda: api.service_update(admin_context, svc['id'],
                                       {'disabled': False}, scope_host='h2'),
            # A host may not hand its records to another host either.
            lambda: api.service_update(admin_context, svc['id'],
                                       {'host': 'h2'}, scope_host='h1'),
            lambda: api.service_heartbeat(admin_context, svc['id'],
                                          scope_host='h2'),
            lambda: api.compute_node_update(admin_context, node['id'],
                                            {'vcpus': 9}, scope_host='h2'),
            lambda: api.compute_node_update(admin_context, node['id'],
                                            {'host': 'h2'}, scope_host='h1'),
            lambda: api.instance_action_start(admin_context, {
                'instance_uuid': inst['uuid'], 'action': 'a',
                'request_id': 'r'}, scope_host='h2'),
            lambda: api.instance_fault_create(admin_context, {
                'instance_uuid': inst['uuid']}, scope_host='h2')):
        with pytest.raises(exception.HostScopeViolation):
            call()
    assert api.service_get_by_host_and_binary(
        admin_context, 'h1', 'nova-compute')['report_count'] == 1
    assert api.compute_node_get_by_host_and_node(
        admin_context, 'h1', 'n1')['vcpus'] == 2
