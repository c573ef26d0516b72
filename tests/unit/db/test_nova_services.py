"""nova's service calls of the DB API (wire 2.x), on SQLite, PostgreSQL
and MariaDB: the results and errors nova's own DB API gives."""

import datetime

import pytest

from nova_proxy.common import context as np_context
from nova_proxy.db import api
from nova_proxy import exception


def _service(ctx, host='h1', binary='nova-compute', **values):
    values.update(host=host, binary=binary)
    values.setdefault('topic', 'compute' if binary == 'nova-compute'
                      else binary)
    return api.service_create(ctx, values)


def test_service_create_fills_nova_defaults(db_all, admin_context):
    service = _service(admin_context, version=66)
    assert (service['report_count'], service['disabled'],
            service['forced_down'], service['version'],
            service['deleted']) == (0, False, False, 66, 0)
    assert len(service['uuid']) == 36
    datetime.datetime.fromisoformat(service['created_at'])
    assert api.service_get(admin_context, service['id']) == service
    assert api.service_get_by_uuid(admin_context, service['uuid']) == service


def test_service_create_takes_what_nova_objects_send(db_all, admin_context):
    # nova's Service.create sends every field it has set, times included.
    service = _service(admin_context, uuid='5f0b8b53-0d8c-4b7b-9b84-1d'
                       '5f0d1b2c3d', disabled_reason=None,
                       last_seen_up='2026-01-02T03:04:05.000006Z')
    assert service['last_seen_up'] == '2026-01-02T03:04:05.000006+00:00'


def test_service_create_duplicate_is_nova_s_error(db_all, admin_context):
    _service(admin_context)
    # Both keys taken: the binary is named, on every backend.
    with pytest.raises(exception.ServiceBinaryExists) as raised:
        _service(admin_context)
    assert raised.value.kwargs == {'host': 'h1', 'binary': 'nova-compute'}
    with pytest.raises(exception.ServiceTopicExists) as raised:
        _service(admin_context, binary='nova-other', topic='compute')
    assert raised.value.kwargs == {'host': 'h1', 'topic': 'compute'}
    # A failed create leaves the transaction usable: the next one works.
    assert _service(admin_context, 'h2')['host'] == 'h2'


def test_new_compute_services_can_start_disabled(db, admin_context, config):
    config.set_override('enable_new_services', False, group='proxy')
    compute = _service(admin_context)
    other = _service(admin_context, binary='nova-scheduler')
    assert compute['disabled'] and compute['disabled_reason']
    assert not other['disabled']


@pytest.mark.parametrize('values, field', [
    ({'report_count': 'x'}, 'report_count'), ({'nope': 1}, 'nope'),
    ({'host': 'x' * 256}, 'host'), ({'binary': None}, 'binary'),
    ({'deleted': 1}, 'deleted'), ({'id': 9}, 'id'),
    ({'disabled': 'yes'}, 'disabled')])
def test_service_values_are_checked_by_name(db_all, admin_context, values,
                                            field):
    service = _service(admin_context)
    with pytest.raises(exception.InvalidUpdate) as raised:
        api.service_update(admin_context, service['id'], values)
    assert raised.value.kwargs['field'] == field


def test_reads_by_host_binary_topic(db_all, admin_context):
    a = _service(admin_context, 'h1')
    b = _service(admin_context, 'h2', disabled=True)
    sched = _service(admin_context, 'h1', 'nova-scheduler')
    ids = lambda rows: [r['id'] for r in rows]  # noqa: E731
    assert ids(api.service_get_all(admin_context)) == [a['id'], b['id'],
                                                       sched['id']]
    assert ids(api.service_get_all(admin_context, disabled=True)) == [b['id']]
    assert ids(api.service_get_all_by_binary(
        admin_context, 'nova-compute')) == [a['id']]
    assert ids(api.service_get_all_by_binary(
        admin_context, 'nova-compute', include_disabled=True)) == [
        a['id'], b['id']]
    assert ids(api.service_get_all_by_topic(admin_context, 'compute')) == [
        a['id']]
    assert ids(api.service_get_all_by_host(admin_context, 'h1')) == [
        a['id'], sched['id']]
    assert api.service_get_by_host_and_binary(
        admin_context, 'h2', 'nova-compute')['id'] == b['id']
    assert api.service_get_by_compute_host(admin_context, 'h1')['id'] == \
        a['id']
    assert api.service_get_by_host_and_topic(
        admin_context, 'h1', 'nova-scheduler')['id'] == sched['id']
    # As nova: None, not an error, and disabled services are not found.
    assert api.service_get_by_host_and_topic(
        admin_context, 'h2', 'compute') is None


def test_not_found_errors_are_nova_s(db_all, admin_context):
    with pytest.raises(exception.ServiceNotFound) as raised:
        api.service_get(admin_context, 999)
    assert raised.value.kwargs == {'service_id': 999}
    with pytest.raises(exception.HostBinaryNotFound) as raised:
        api.service_get_by_host_and_binary(admin_context, 'h', 'b')
    assert raised.value.kwargs == {'host': 'h', 'binary': 'b'}
    with pytest.raises(exception.ComputeHostNotFound) as raised:
        api.service_get_by_compute_host(admin_context, 'h')
    assert raised.value.kwargs['host'] == 'h'


def test_minimum_version_ignores_deleted_and_forced_down(db_all,
                                                         admin_context):
    _service(admin_context, 'h1', version=70)
    _service(admin_context, 'h2', version=68)
    down = _service(admin_context, 'h3', version=60)
    api.service_update(admin_context, down['id'], {'forced_down': True})
    gone = _service(admin_context, 'h4', version=50)
    api.service_destroy(admin_context, gone['id'])
    _service(admin_context, 'h1', 'nova-conductor', version=72)
    assert api.service_get_minimum_version(
        admin_context, ['nova-compute', 'nova-conductor', 'nova-api']) == {
        'nova-compute': 68, 'nova-conductor': 72}


def test_update_of_report_count_sets_last_seen_up(db_all, admin_context):
    service = _service(admin_context)
    assert service['last_seen_up'] is None
    seen = api.service_update(admin_context, service['id'],
                              {'report_count': 1})
    assert seen['report_count'] == 1 and seen['last_seen_up']
    again = api.service_update(admin_context, service['id'],
                               {'report_count': 1, 'disabled': True})
    # Not above the stored count: last_seen_up stays where it was.
    assert again['last_seen_up'] == seen['last_seen_up']
    assert again['disabled'] is True


def test_update_confined_to_its_host(db_all, admin_context):
    service = _service(admin_context, 'h1')
    with pytest.raises(exception.HostScopeViolation):
        api.service_update(admin_context, service['id'], {'version': 2},
                           scope_host='h2')
    with pytest.raises(exception.HostScopeViolation):
        api.service_update(admin_context, service['id'], {'host': 'h2'},
                           scope_host='h1')
    assert api.service_update(admin_context, service['id'], {'version': 2},
                              scope_host='h1')['version'] == 2


def test_destroy_takes_the_compute_nodes_along(db_all, admin_context):
    service = _service(admin_context, 'h1')
    node = api.compute_node_create(admin_context,
                                   {'host': 'h1', 'node': 'n1'})
    other = api.compute_node_create(admin_context,
                                    {'host': 'h2', 'node': 'n2'})
    api.service_destroy(admin_context, service['id'])
    with pytest.raises(exception.ServiceNotFound):
        api.service_get(admin_context, service['id'])
    assert [n['id'] for n in api.compute_node_get_all(admin_context)] == [
        other['id']]
    assert node['id'] != other['id']
    with pytest.raises(exception.ServiceNotFound):
        api.service_destroy(admin_context, service['id'])


def test_read_deleted_follows_the_context(db_all, admin_context):
    service = _service(admin_context)
    api.service_destroy(admin_context, service['id'])
    deleted = np_context.RequestContext(is_admin=True, read_deleted='yes')
    row = api.service_get(deleted, service['id'])
    assert row['deleted'] == row['id']
    only = np_context.RequestContext(is_admin=True, read_deleted='only')
    assert [r['id'] for r in api.service_get_all(only)] == [service['id']]
    bad = np_context.RequestContext(is_admin=True, read_deleted='maybe')
    with pytest.raises(exception.Invalid):
        api.service_get(bad, service['id'])
