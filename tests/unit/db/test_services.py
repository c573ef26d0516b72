"""Services in the DB API (``db/api/services.py``): nova's service calls
(wire 2.x), with the results and errors nova's own DB API gives, and the
heartbeat; on SQLite, PostgreSQL and MariaDB."""

import datetime

import pytest

from nova_proxy.common import context as np_context
from nova_proxy.db import api
from nova_proxy import exception
from tests.unit.db import factories


def test_service_create_get_update(db_all, admin_context):
    svc = factories.service(admin_context)
    assert (svc['host'], svc['binary'], svc['topic']) == (
        'h1', 'nova-compute', 'compute')
    assert (svc['report_count'], svc['disabled'], svc['forced_down'],
            svc['last_seen_up']) == (0, False, False, None)
    assert svc == api.service_get_by_host_and_binary(
        admin_context, 'h1', 'nova-compute')
    new = api.service_update(admin_context, svc['id'], {
        'disabled': True, 'disabled_reason': 'maintenance'})
    assert (new['disabled'], new['disabled_reason']) == (True,
                                                         'maintenance')
    # The row the UPDATE returned (or read back, on MariaDB) is the row.
    assert new == api.service_get_by_host_and_binary(
        admin_context, 'h1', 'nova-compute')
    factories.service(admin_context, host='h2')
    # Its own topic: nova has one service per host and topic too.
    factories.service(admin_context, host='h2', binary='other', topic='other')
    assert [s['host'] for s in api.service_get_all_by_binary(
        admin_context, 'nova-compute', include_disabled=True)] == [
        'h1', 'h2']
    assert [s['host'] for s in api.service_get_all_by_binary(
        admin_context, 'nova-compute')] == ['h2']
    assert len(api.service_get_all(admin_context)) == 3


def test_service_errors(db_all, admin_context):
    svc = factories.service(admin_context)
    with pytest.raises(exception.ServiceExists) as e:
        factories.service(admin_context)
    assert e.value.kwargs == {'host': 'h1', 'binary': 'nova-compute'}
    for field in ('host', 'binary'):
        with pytest.raises(exception.InvalidUpdate) as e:
            api.service_create(admin_context, {'host': 'h', 'binary': 'b',
                                               field: None})
        assert e.value.kwargs['field'] == field
    with pytest.raises(exception.ServiceNotFound):
        api.service_get_by_host_and_binary(admin_context, 'h1', 'nope')
    for bad_id in (999999, 'x', None, False):
        with pytest.raises(exception.ServiceNotFound):
            api.service_update(admin_context, bad_id, {'disabled': True})
        with pytest.raises(exception.ServiceNotFound):
            api.service_heartbeat(admin_context, bad_id)
    for field, value in (('id', 5), ('uuid', factories.MISSING), ('bogus', 1),
                         ('report_count', 'many'), ('disabled', 'no')):
        with pytest.raises(exception.InvalidUpdate) as e:
            api.service_update(admin_context, svc['id'], {field: value})
        assert e.value.kwargs['field'] == field
    assert api.service_get_by_host_and_binary(
        admin_context, 'h1', 'nova-compute') == svc
    # Renamed onto another live service: a named conflict, nothing moved.
    other = api.service_create(admin_context, {'host': 'h2',
                                               'binary': 'nova-compute'})
    with pytest.raises(exception.Conflict) as e:
        api.service_update(admin_context, other['id'], {'host': 'h1'})
    assert 'service %s' % other['id'] in str(e.value)
    assert api.service_get_by_host_and_binary(
        admin_context, 'h2', 'nova-compute') == other


def test_service_heartbeat(db_all, admin_context):
    svc = factories.service(admin_context)
    before = datetime.datetime.now(datetime.timezone.utc)
    first = api.service_heartbeat(admin_context, svc['id'])
    second = api.service_heartbeat(admin_context, svc['id'])
    assert (first['report_count'], second['report_count']) == (1, 2)
    # last_seen_up is the database's clock, here the same machine's.
    seen = factories.iso(second['last_seen_up'])
    assert abs((seen - before).total_seconds()) < 60
    assert factories.iso(first['last_seen_up']) <= seen
    assert second == api.service_get_by_host_and_binary(
        admin_context, 'h1', 'nova-compute')


def test_service_create_fills_nova_defaults(db_all, admin_context):
    service = factories.service(admin_context, version=66)
    assert (service['report_count'], service['disabled'],
            service['forced_down'], service['version'],
            service['deleted']) == (0, False, False, 66, 0)
    assert len(service['uuid']) == 36
    datetime.datetime.fromisoformat(service['created_at'])
    assert api.service_get(admin_context, service['id']) == service
    assert api.service_get_by_uuid(admin_context, service['uuid']) == service


def test_service_create_takes_what_nova_objects_send(db_all, admin_context):
    # nova's Service.create sends every field it has set, times included.
    service = factories.service(
        admin_context, uuid='5f0b8b53-0d8c-4b7b-9b84-1d5f0d1b2c3d',
        disabled_reason=None, last_seen_up='2026-01-02T03:04:05.000006Z')
    assert service['last_seen_up'] == '2026-01-02T03:04:05.000006+00:00'


def test_service_create_duplicate_is_nova_s_error(db_all, admin_context):
    factories.service(admin_context)
    # Both keys taken: the binary is named, on every backend.
    with pytest.raises(exception.ServiceBinaryExists) as raised:
        factories.service(admin_context)
    assert raised.value.kwargs == {'host': 'h1', 'binary': 'nova-compute'}
    with pytest.raises(exception.ServiceTopicExists) as raised:
        factories.service(admin_context, binary='nova-other', topic='compute')
    assert raised.value.kwargs == {'host': 'h1', 'topic': 'compute'}
    # A failed create leaves the transaction usable: the next one works.
    assert factories.service(admin_context, 'h2')['host'] == 'h2'


def test_new_compute_services_can_start_disabled(db, admin_context, config):
    config.set_override('enable_new_services', False, group='proxy')
    compute = factories.service(admin_context)
    other = factories.service(admin_context, binary='nova-scheduler')
    assert compute['disabled'] and compute['disabled_reason']
    assert not other['disabled']


@pytest.mark.parametrize('values, field', [
    ({'report_count': 'x'}, 'report_count'), ({'nope': 1}, 'nope'),
    ({'host': 'x' * 256}, 'host'), ({'binary': None}, 'binary'),
    ({'deleted': 1}, 'deleted'), ({'id': 9}, 'id'),
    ({'disabled': 'yes'}, 'disabled')])
def test_service_values_are_checked_by_name(db_all, admin_context, values,
                                            field):
    service = factories.service(admin_context)
    with pytest.raises(exception.InvalidUpdate) as raised:
        api.service_update(admin_context, service['id'], values)
    assert raised.value.kwargs['field'] == field


def test_reads_by_host_binary_topic(db_all, admin_context):
    a = factories.service(admin_context, 'h1')
    b = factories.service(admin_context, 'h2', disabled=True)
    sched = factories.service(admin_context, 'h1', 'nova-scheduler')
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
    factories.service(admin_context, 'h1', version=70)
    factories.service(admin_context, 'h2', version=68)
    down = factories.service(admin_context, 'h3', version=60)
    api.service_update(admin_context, down['id'], {'forced_down': True})
    gone = factories.service(admin_context, 'h4', version=50)
    api.service_destroy(admin_context, gone['id'])
    factories.service(admin_context, 'h1', 'nova-conductor', version=72)
    assert api.service_get_minimum_version(
        admin_context, ['nova-compute', 'nova-conductor', 'nova-api']) == {
        'nova-compute': 68, 'nova-conductor': 72}


def test_update_of_report_count_sets_last_seen_up(db_all, admin_context):
    service = factories.service(admin_context)
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
    service = factories.service(admin_context, 'h1')
    with pytest.raises(exception.HostScopeViolation):
        api.service_update(admin_context, service['id'], {'version': 2},
                           scope_host='h2')
    with pytest.raises(exception.HostScopeViolation):
        api.service_update(admin_context, service['id'], {'host': 'h2'},
                           scope_host='h1')
    assert api.service_update(admin_context, service['id'], {'version': 2},
                              scope_host='h1')['version'] == 2


def test_destroy_takes_the_compute_nodes_along(db_all, admin_context):
    service = factories.service(admin_context, 'h1')
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
    service = factories.service(admin_context)
    api.service_destroy(admin_context, service['id'])
    deleted = np_context.RequestContext(is_admin=True, read_deleted='yes')
    row = api.service_get(deleted, service['id'])
    assert row['deleted'] == row['id']
    only = np_context.RequestContext(is_admin=True, read_deleted='only')
    assert [r['id'] for r in api.service_get_all(only)] == [service['id']]
    bad = np_context.RequestContext(is_admin=True, read_deleted='maybe')
    with pytest.raises(exception.Invalid):
        api.service_get(bad, service['id'])
