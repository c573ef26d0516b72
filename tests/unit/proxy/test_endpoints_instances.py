"""nova's instance calls (wire 2.x) behind a real RPC server on the fake
driver: every method, served beside the 1.x methods of the same names,
and confined to the caller's scope."""

import oslo_messaging as messaging
import pytest

from nova_proxy.common import context as np_context
from nova_proxy.common import rpc
from nova_proxy import exception
from nova_proxy.proxy.endpoints import instances
from nova_proxy.proxy import rpcapi


@pytest.fixture
def nova(server, config):
    """A bare client of the 2.x methods, as any oslo.messaging program."""
    target = messaging.Target(topic=config.proxy.topic,
                              version=rpcapi.NOVA_API_VERSION)
    return messaging.get_rpc_client(
        rpc.get_transport(), target, timeout=10,
        serializer=rpc.RequestContextSerializer())


ADMIN = np_context.get_admin_context()
# The calls of this endpoint (an instance's children have theirs).
INSTANCE_METHODS = {n for n in dir(instances.InstanceEndpoint)
                    if n in rpcapi.NOVA_METHODS}


def compute(host):
    return np_context.get_compute_context(host)


def _own_and_other(nova):
    own = nova.call(ADMIN, 'instance_create', values={
        'host': 'h1', 'node': 'n1', 'task_state': 'rebooting',
        'instance_type_id': 1, 'metadata': {'k': 'v'},
        'updated_at': '2020-01-01T00:00:00Z'})
    other = nova.call(ADMIN, 'instance_create', values={
        'host': 'h2', 'node': 'n2', 'task_state': 'rebooting',
        'metadata': {'k': 'w'}, 'updated_at': '2020-01-01T00:00:00Z'})
    return own, other


def test_one_name_two_majors(nova, config):
    own, _ = _own_and_other(nova)
    # 2.x: nova's argument names and joins.
    got = nova.call(ADMIN, 'instance_get_by_uuid', uuid=own['uuid'],
                    columns_to_join=['info_cache'])
    assert 'info_cache' in got and 'metadata' not in got
    # 1.x: its own argument name and shape, from the same DB function.
    old = rpcapi.ProxyAPI(timeout=10).instance_get_by_uuid(ADMIN,
                                                           own['uuid'])
    assert old['metadata'] == {'k': 'v'} and 'info_cache' not in old
    with pytest.raises(exception.InvalidRequest):
        nova.call(ADMIN, 'instance_get_by_uuid', instance_uuid=own['uuid'])


def test_a_compute_host_works_on_its_own_instances(nova):
    own, other = _own_and_other(nova)
    ctx = compute('h1')
    uuid = own['uuid']
    assert nova.call(ctx, 'instance_get_by_uuid', uuid=uuid)['id'] == \
        own['id']
    assert nova.call(ctx, 'instance_get', instance_id=own['id'],
                     columns_to_join=[])['uuid'] == uuid
    for method, kwargs in (
            ('instance_get_all', {}),
            ('instance_get_all_by_host', {'host': 'h1'}),
            ('instance_get_all_by_host_and_node', {'host': 'h1',
                                                   'node': 'n1'}),
            ('instance_get_all_by_host_and_not_type', {'host': 'h1',
                                                       'type_id': 9}),
            ('instance_get_all_by_filters', {'filters': {'host': 'h1'}}),
            # No host filter: the caller's scope, not the cloud.
            ('instance_get_all_by_filters', {'filters': {}}),
            ('instance_get_all_by_filters_sort', {
                'filters': {'uuid': [uuid, other['uuid']]},
                'sort_keys': ['id'], 'sort_dirs': ['asc']}),
            ('instance_get_all_hung_in_rebooting', {'reboot_window': 60}),
            ('instance_get_active_by_window_joined', {
                'begin': '2000-01-01T00:00:00Z', 'host': 'h1'})):
        found = nova.call(ctx, method, **kwargs)
        assert [i['uuid'] for i in found] == [uuid], method
    assert nova.call(ctx, 'instance_get_all_uuids_by_hosts',
                     hosts=['h1']) == {'h1': [uuid]}
    filled = nova.call(ctx, 'instances_fill_metadata',
                       instances=[{'uuid': uuid}])
    assert filled[0]['metadata'] == {'k': 'v'}
    old, new = nova.call(ctx, 'instance_update_and_get_original',
                         instance_uuid=uuid,
                         values={'task_state': None,
                                 'expected_task_state': 'rebooting'},
                         expected={'vm_state': [None]})
    assert (old['task_state'], new['task_state']) == ('rebooting', None)
    nova.call(ctx, 'instance_metadata_delete', instance_uuid=uuid, key='k')
    assert nova.call(ctx, 'instance_get_by_uuid', uuid=uuid)[
        'metadata'] == {}
    made = nova.call(ctx, 'instance_create', values={'host': 'h1'})
    gone = nova.call(ctx, 'instance_destroy', instance_uuid=made['uuid'],
                     constraint={'__constraint__': {
                         'host': {'equal_any': ['h1']}}})
    assert gone['deleted'] == gone['id']


def test_conflicts_and_errors_are_nova_s_on_the_wire(nova):
    own, _ = _own_and_other(nova)
    with pytest.raises(exception.UnexpectedTaskStateError) as raised:
        nova.call(compute('h1'), 'instance_update_and_get_original',
                  instance_uuid=own['uuid'], values={
                      'task_state': None, 'expected_task_state': 'spawning'})
    assert raised.value.kwargs == {
        'instance_uuid': own['uuid'],
        'expected': {'task_state': ['spawning']},
        'actual': {'task_state': 'rebooting'}}
    # The 1.x call of the same name keeps its kwargs.
    with pytest.raises(exception.UnexpectedTaskStateError) as raised:
        rpcapi.ProxyAPI(timeout=10).instance_update_and_get_original(
            ADMIN, own['uuid'], {'task_state': None,
                                 'expected_task_state': 'spawning'})
    assert raised.value.kwargs == {'instance_uuid': own['uuid'],
                                   'expected': 'spawning',
                                   'actual': 'rebooting'}
    with pytest.raises(exception.ConstraintNotMet):
        nova.call(ADMIN, 'instance_destroy', instance_uuid=own['uuid'],
                  constraint={'__constraint__': {
                      'host': {'equal_any': [None]}}})
    with pytest.raises(exception.MarkerNotFound):
        nova.call(ADMIN, 'instance_get_all_by_filters', filters={},
                  marker='2c7c3c5e-0000-4000-8000-000000000000')
    with pytest.raises(exception.InvalidSortKey):
        nova.call(ADMIN, 'instance_get_all_by_filters', filters={},
                  sort_key='bogus')


REFUSED = [
    ('instance_create', lambda own, other: {'values': {'host': 'h2'}}),
    ('instance_destroy', lambda own, other: {
        'instance_uuid': other['uuid']}),
    # nova-compute never hard-deletes: the control plane's.
    ('instance_destroy', lambda own, other: {
        'instance_uuid': own['uuid'], 'hard_delete': True}),
    ('instance_get', lambda own, other: {'instance_id': other['id']}),
    ('instance_get_by_uuid', lambda own, other: {'uuid': other['uuid']}),
    ('instance_get_all_by_host', lambda own, other: {'host': 'h2'}),
    ('instance_get_all_by_host_and_node', lambda own, other: {
        'host': 'h2', 'node': 'n2'}),
    ('instance_get_all_by_host_and_not_type', lambda own, other: {
        'host': 'h2'}),
    ('instance_get_all_by_filters', lambda own, other: {
        'filters': {'host': 'h2'}}),
    ('instance_get_all_by_filters_sort', lambda own, other: {
        'filters': {'host': ['h1', 'h2']}}),
    ('instance_get_all_uuids_by_hosts', lambda own, other: {
        'hosts': ['h1', 'h2']}),
    ('instance_get_active_by_window_joined', lambda own, other: {
        'begin': '2000-01-01T00:00:00Z', 'host': 'h2'}),
    ('instance_get_active_by_window_joined', lambda own, other: {
        'begin': '2000-01-01T00:00:00Z'}),
    ('instance_update_and_get_original', lambda own, other: {
        'instance_uuid': other['uuid'], 'values': {'progress': 1}}),
    ('instances_fill_metadata', lambda own, other: {
        'instances': [{'uuid': own['uuid']}, {'uuid': other['uuid']}]}),
    ('instance_metadata_delete', lambda own, other: {
        'instance_uuid': other['uuid'], 'key': 'k'}),
]
# Lists that name no host give the caller's scope instead of refusing
# (tested above: test_a_compute_host_works_on_its_own_instances).
SCOPED_NOT_REFUSED = {'instance_get_all',
                      'instance_get_all_hung_in_rebooting'}


def test_every_instance_call_is_in_the_refused_list():
    assert {name for name, _ in REFUSED} == \
        INSTANCE_METHODS - SCOPED_NOT_REFUSED
    assert SCOPED_NOT_REFUSED < INSTANCE_METHODS


@pytest.mark.parametrize('method, kwargs', REFUSED,
                         ids=['%s-%d' % (name, i)
                              for i, (name, _) in enumerate(REFUSED)])
def test_refused_for_another_host(nova, method, kwargs):
    own, other = _own_and_other(nova)
    with pytest.raises(exception.Forbidden):
        nova.call(compute('h1'), method, **kwargs(own, other))
    # Nothing was written on the way.
    for instance in (own, other):
        assert nova.call(ADMIN, 'instance_get_by_uuid',
                         uuid=instance['uuid'],
                         columns_to_join=['metadata']) == {
            k: v for k, v in instance.items()
            if k not in ('info_cache', 'security_groups', 'extra',
                         'system_metadata')}
    assert [i['uuid'] for i in nova.call(
        ADMIN, 'instance_get_all_by_filters', filters={})] == [
        other['uuid'], own['uuid']]


def test_the_control_plane_lists_every_host(nova):
    own, other = _own_and_other(nova)
    assert [i['uuid'] for i in nova.call(
        ADMIN, 'instance_get_all_by_filters', filters={},
        sort_dir='asc')] == [own['uuid'], other['uuid']]
    assert nova.call(ADMIN, 'instance_get_all_uuids_by_hosts',
                     hosts=['h1', 'h2']) == {'h1': [own['uuid']],
                                             'h2': [other['uuid']]}
    nova.call(ADMIN, 'instance_destroy', instance_uuid=other['uuid'],
              hard_delete=True)
    with pytest.raises(exception.InstanceNotFound):
        nova.call(np_context.RequestContext(is_admin=True,
                                            read_deleted='yes'),
                  'instance_get_by_uuid', uuid=other['uuid'])
