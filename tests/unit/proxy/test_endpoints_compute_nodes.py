"""nova's compute node calls (wire 2.x) behind a real RPC server on the
fake driver: served beside the 1.x methods of the same name, and confined
to the caller's host."""

import pytest

from nova_proxy.common import context as np_context
from nova_proxy import exception
from nova_proxy.proxy import rpcapi

ADMIN = np_context.get_admin_context()


def compute(host):
    return np_context.get_compute_context(host)


def _host_constraint(*hosts):
    # nova's constraint(host=equal_any(...)) as the shim sends it.
    return {'__constraint__': {'host': {'equal_any': list(hosts)}}}


def _nodes(nova):
    own = nova.call(ADMIN, 'compute_node_create', values={
        'host': 'h1', 'hypervisor_hostname': 'h1-n', 'service_id': 1,
        'hypervisor_type': 'fake'})
    other = nova.call(ADMIN, 'compute_node_create', values={
        'host': 'h2', 'hypervisor_hostname': 'h2-n', 'service_id': 2,
        'hypervisor_type': 'fake'})
    return own, other


def test_a_compute_host_reads_and_writes_its_own_nodes(nova):
    own, _ = _nodes(nova)
    ctx = compute('h1')
    assert nova.call(ctx, 'compute_node_get', compute_id=own['id']) == own
    assert nova.call(ctx, 'compute_node_get_all_by_host',
                     host='h1') == [own]
    assert nova.call(ctx, 'compute_node_get_all_by_uuids',
                     compute_uuids=[own['uuid']]) == [own]
    assert nova.call(ctx, 'compute_node_get_by_host_and_nodename',
                     host='h1', nodename='h1-n') == own
    assert nova.call(ctx, 'compute_node_get_by_nodename',
                     hypervisor_hostname='h1-n') == own
    assert nova.call(ctx, 'compute_nodes_get_by_service_id',
                     service_id=1) == [own]
    updated = nova.call(ctx, 'compute_node_update', compute_id=own['id'],
                        values={'vcpus_used': 3, 'stats': '{}'})
    assert updated['vcpus_used'] == 3
    new = nova.call(ctx, 'compute_node_create', values={
        'host': 'h1', 'hypervisor_hostname': 'h1-m'})
    # nova-compute deletes its orphan nodes, with nova's host constraint.
    nova.call(ctx, 'compute_node_delete', compute_id=new['id'],
              constraint=_host_constraint('h1'))
    with pytest.raises(exception.ComputeHostNotFound) as raised:
        nova.call(ctx, 'compute_node_get', compute_id=new['id'])
    assert raised.value.kwargs == {'host': new['id']}


def test_a_constraint_crosses_the_wire(nova):
    own, other = _nodes(nova)
    with pytest.raises(exception.ConstraintNotMet):
        nova.call(ADMIN, 'compute_node_delete', compute_id=own['id'],
                  constraint=_host_constraint('h9'))
    with pytest.raises(exception.Invalid):
        nova.call(ADMIN, 'compute_node_delete', compute_id=own['id'],
                  constraint={'host': 'h1'})
    nova.call(ADMIN, 'compute_node_delete', compute_id=own['id'])
    assert nova.call(ADMIN, 'compute_node_get_all_by_pagination',
                     limit=5) == [other]


def test_one_name_two_majors(nova):
    # 1.x compute_node_update is nova's, under its 1.x argument name.
    own, _ = _nodes(nova)
    proxy = rpcapi.ProxyAPI(timeout=10)
    old = proxy.compute_node_update(compute('h1'), own['id'],
                                    {'vcpus': 4})
    assert old == nova.call(ADMIN, 'compute_node_get', compute_id=own['id'])
    with pytest.raises(exception.HostScopeViolation):
        proxy.compute_node_update(compute('h2'), own['id'], {'vcpus': 5})


REFUSED = [
    ('compute_node_create', lambda own, other: {'values': {
        'host': 'h2', 'hypervisor_hostname': 'h2-x'}}),
    ('compute_node_delete', lambda own, other: {
        'compute_id': other['id'], 'constraint': _host_constraint('h2')}),
    ('compute_node_get', lambda own, other: {'compute_id': other['id']}),
    ('compute_node_get_all', lambda own, other: {}),
    ('compute_node_get_all_by_host', lambda own, other: {'host': 'h2'}),
    ('compute_node_get_all_by_uuids', lambda own, other: {
        'compute_uuids': [own['uuid'], other['uuid']]}),
    ('compute_node_get_all_by_pagination', lambda own, other: {}),
    ('compute_node_get_all_mapped_less_than', lambda own, other: {
        'mapped_less_than': 1}),
    ('compute_node_get_by_host_and_nodename', lambda own, other: {
        'host': 'h2', 'nodename': 'h2-n'}),
    ('compute_node_get_by_nodename', lambda own, other: {
        'hypervisor_hostname': 'h2-n'}),
    ('compute_node_search_by_hypervisor', lambda own, other: {
        'hypervisor_match': 'h1'}),
    ('compute_node_update', lambda own, other: {
        'compute_id': other['id'], 'values': {'vcpus': 9}}),
    ('compute_nodes_get_by_service_id', lambda own, other: {
        'service_id': 2}),
]


def test_every_compute_node_call_is_in_the_refused_list():
    assert {name for name, _ in REFUSED} == {
        n for n in rpcapi.NOVA_METHODS if n.startswith('compute_node')}


@pytest.mark.parametrize('method, kwargs', REFUSED,
                         ids=[name for name, _ in REFUSED])
def test_refused_for_another_host(nova, method, kwargs):
    own, other = _nodes(nova)
    with pytest.raises(exception.Forbidden):
        nova.call(compute('h1'), method, **kwargs(own, other))
    # Nothing was written on the way.
    assert nova.call(ADMIN, 'compute_node_get_all') == [own, other]


def test_a_compute_host_may_not_hand_its_node_over(nova):
    own, other = _nodes(nova)
    with pytest.raises(exception.HostScopeViolation):
        nova.call(compute('h1'), 'compute_node_update', compute_id=own['id'],
                  values={'host': 'h2'})
    assert nova.call(ADMIN, 'compute_node_get_all') == [own, other]


def test_a_compute_host_may_not_take_another_host_s_identity(nova):
    # A node naming h2's service or hypervisor would answer h2's lookups
    # by service id and node name in its place.
    h2_service = nova.call(ADMIN, 'service_create', values={
        'host': 'h2', 'binary': 'nova-compute', 'topic': 'compute'})
    own, other = _nodes(nova)
    ctx = compute('h1')
    for values in ({'service_id': h2_service['id']},
                   {'hypervisor_hostname': 'h2-n'}):
        with pytest.raises(exception.Forbidden if 'service_id' in values
                           else exception.Conflict):
            nova.call(ctx, 'compute_node_update', compute_id=own['id'],
                      values=values)
        with pytest.raises(exception.Forbidden if 'service_id' in values
                           else exception.Conflict):
            nova.call(ctx, 'compute_node_create', values=dict(
                values, host='h1', hypervisor_hostname=values.get(
                    'hypervisor_hostname', 'h1-new')))
    assert nova.call(ADMIN, 'compute_node_get_by_nodename',
                     hypervisor_hostname='h2-n')['id'] == other['id']
    # Its own service and a new name of its own are fine.
    own_service = nova.call(ADMIN, 'service_create', values={
        'host': 'h1', 'binary': 'nova-compute', 'topic': 'compute'})
    assert nova.call(ctx, 'compute_node_update', compute_id=own['id'],
                     values={'service_id': own_service['id'],
                             'hypervisor_hostname': 'h1-m'})[
        'hypervisor_hostname'] == 'h1-m'
