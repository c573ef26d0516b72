"""nova's service calls (wire 2.x) behind a real RPC server on the fake
driver: served beside the 1.x methods of the same name, and confined to
the caller's host."""

import oslo_messaging as messaging
import pytest

from nova_proxy.common import context as np_context
from nova_proxy.common import rpc
from nova_proxy import exception
from nova_proxy.proxy import rpcapi


ADMIN = np_context.get_admin_context()


def compute(host):
    return np_context.get_compute_context(host)


def test_one_name_two_majors(nova, config):
    # The same name in both majors: 2.x takes nova's arguments and gives
    # nova's errors, which are subclasses of the 1.x ones (a 1.x caller's
    # except ServiceExists still catches a duplicate).
    values = {'host': 'h1', 'binary': 'nova-compute', 'topic': 'compute'}
    created = nova.call(ADMIN, 'service_create', values=values)
    with pytest.raises(exception.ServiceBinaryExists):
        nova.call(ADMIN, 'service_create', values=values)
    with pytest.raises(exception.ServiceExists):
        rpcapi.ProxyAPI(timeout=10).service_create(ADMIN, values)
    # 2.x service_get_all takes nova's ``disabled``; 1.x has no such
    # method, and a 1.x call of it is refused by name.
    assert nova.call(ADMIN, 'service_get_all', disabled=False) == [created]
    old = messaging.get_rpc_client(
        rpc.get_transport(), messaging.Target(topic=config.proxy.topic,
                                              version='1.1'), timeout=10)
    with pytest.raises(messaging.NoSuchMethod):
        old.call({}, 'service_get_all')


def test_a_newer_minor_of_2_is_refused(nova):
    with pytest.raises(messaging.UnsupportedVersion):
        nova.prepare(version='2.99').call(ADMIN, 'service_get',
                                          service_id=1)


def _own_and_other(nova):
    own = nova.call(ADMIN, 'service_create', values={
        'host': 'h1', 'binary': 'nova-compute', 'topic': 'compute'})
    other = nova.call(ADMIN, 'service_create', values={
        'host': 'h2', 'binary': 'nova-compute', 'topic': 'compute'})
    return own, other


def test_a_compute_host_reads_and_writes_its_own_service(nova):
    own, _ = _own_and_other(nova)
    ctx = compute('h1')
    assert nova.call(ctx, 'service_get', service_id=own['id']) == own
    assert nova.call(ctx, 'service_get_by_compute_host',
                     host='h1')['id'] == own['id']
    assert nova.call(ctx, 'service_get_by_host_and_binary', host='h1',
                     binary='nova-compute')['id'] == own['id']
    assert [s['id'] for s in nova.call(ctx, 'service_get_all_by_host',
                                       host='h1')] == [own['id']]
    updated = nova.call(ctx, 'service_update', service_id=own['id'],
                        values={'report_count': 3})
    assert updated['report_count'] == 3
    assert nova.call(ctx, 'service_get_minimum_version',
                     binaries=['nova-compute']) == {'nova-compute': 0}


REFUSED = [
    ('service_get', lambda own, other: {'service_id': other['id']}),
    ('service_get_by_uuid', lambda own, other: {
        'service_uuid': other['uuid']}),
    ('service_get_by_compute_host', lambda own, other: {'host': 'h2'}),
    ('service_get_by_host_and_binary', lambda own, other: {
        'host': 'h2', 'binary': 'nova-compute'}),
    ('service_get_by_host_and_topic', lambda own, other: {
        'host': 'h2', 'topic': 'compute'}),
    ('service_get_all_by_host', lambda own, other: {'host': 'h2'}),
    ('service_get_all', lambda own, other: {}),
    ('service_get_all_by_topic', lambda own, other: {'topic': 'compute'}),
    ('service_get_all_by_binary', lambda own, other: {
        'binary': 'nova-compute'}),
    ('service_get_all_computes_by_hv_type', lambda own, other: {
        'hv_type': 'fake'}),
    ('service_update', lambda own, other: {
        'service_id': other['id'], 'values': {'disabled': True}}),
    ('service_create', lambda own, other: {'values': {
        'host': 'h2', 'binary': 'nova-scheduler'}}),
    ('service_destroy', lambda own, other: {'service_id': own['id']}),
]


def test_every_service_call_is_in_the_refused_list():
    assert {name for name, _ in REFUSED} == {
        n for n in rpcapi.NOVA_METHODS if n.startswith('service_')} - {
        'service_get_minimum_version'}


@pytest.mark.parametrize('method, kwargs', REFUSED,
                         ids=[name for name, _ in REFUSED])
def test_refused_for_another_host(nova, method, kwargs):
    own, other = _own_and_other(nova)
    with pytest.raises(exception.Forbidden):
        nova.call(compute('h1'), method, **kwargs(own, other))
    # Nothing was written on the way.
    assert nova.call(ADMIN, 'service_get', service_id=other['id']) == other
    assert nova.call(ADMIN, 'service_get', service_id=own['id']) == own


def test_a_compute_host_cannot_bend_the_fleet_s_versions(nova):
    # The lowest version of a binary pins every host's RPC versions: no
    # compute host may lower its own, or count in another binary's.
    own, _ = _own_and_other(nova)
    nova.call(ADMIN, 'service_update', service_id=own['id'],
              values={'version': 70})
    ctx = compute('h1')
    for values in ({'version': 1}, {'binary': 'nova-conductor'},
                   {'topic': 'conductor'}):
        with pytest.raises(exception.Forbidden):
            nova.call(ctx, 'service_update', service_id=own['id'],
                      values=values)
    with pytest.raises(exception.Forbidden):
        nova.call(ctx, 'service_create', values={
            'host': 'h1', 'binary': 'nova-conductor', 'version': 1})
    assert nova.call(ctx, 'service_update', service_id=own['id'],
                     values={'version': 71})['version'] == 71
    assert nova.call(ADMIN, 'service_get_minimum_version',
                     binaries=['nova-compute', 'nova-conductor']) == {
        'nova-compute': 0}
    # An operator may roll a service back.
    assert nova.call(ADMIN, 'service_update', service_id=own['id'],
                     values={'version': 60})['version'] == 60


def test_read_deleted_travels_with_the_context(nova):
    own, _ = _own_and_other(nova)
    nova.call(ADMIN, 'service_destroy', service_id=own['id'])
    with pytest.raises(exception.ServiceNotFound):
        nova.call(ADMIN, 'service_get', service_id=own['id'])
    deleted = np_context.RequestContext(is_admin=True, read_deleted='yes')
    assert nova.call(deleted, 'service_get',
                     service_id=own['id'])['deleted'] == own['id']


def test_a_service_without_host_or_binary_is_refused_by_name(nova):
    # Our schema keeps both NOT NULL: the fuzzer's values={} came back as
    # ProxyInternalError (the database's IntegrityError).
    for values in ({}, {'host': 'h'}, {'binary': 'nova-compute'},
                   {'host': None, 'binary': 'nova-compute'}):
        with pytest.raises(exception.InvalidUpdate):
            nova.call(ADMIN, 'service_create', values=values)
