"""The orchestration on nova's data: the scheduler reads nova's compute
node columns, and builds and moves write the instance, its
``instance_extra.flavor`` and the migration as nova's services do."""

import json

import pytest

from nova_proxy import exception
from nova_proxy.db import api as db_api
from nova_proxy.orchestration import flavors
from nova_proxy.orchestration import scheduler
from tests.unit.orchestration import conftest as oc
from tests.unit.orchestration import test_flows

api = test_flows.api
_run = test_flows._run


def _node(ctx, host):
    return db_api.compute_node_get_all_by_host(ctx, host)[0]


def _report(ctx, host, **values):
    """What nova's update_available_resource writes for ``host``."""
    db_api.compute_node_update(ctx, _node(ctx, host)['id'], values)


def _add_nova_compute(ctx, host, nodename, host_ip='192.0.2.7'):
    """A compute registered as nova-compute registers: its node named by
    ``hypervisor_hostname`` only, its address in ``host_ip``."""
    service = db_api.service_create(ctx, {
        'host': host, 'binary': 'nova-compute', 'topic': 'compute'})
    db_api.service_heartbeat(ctx, service['id'])
    return db_api.compute_node_create(ctx, {
        'host': host, 'hypervisor_hostname': nodename, 'vcpus': 16,
        'memory_mb': 8192, 'local_gb': 100, 'host_ip': host_ip,
        'service_id': service['id']})


def _flavor(ctx, uuid):
    return json.loads(db_api.instance_extra_get_by_instance_uuid(
        ctx, uuid, columns=['flavor'])['flavor'])


def _data(primitive):
    assert primitive['nova_object.name'] == 'Flavor'
    assert primitive['nova_object.version'] == '1.2'
    return primitive['nova_object.data']


# -- the scheduler --------------------------------------------------------

def test_room_is_nova_filters_arithmetic():
    node = {'memory_mb': 1000, 'memory_mb_used': 0, 'free_ram_mb': 200,
            'ram_allocation_ratio': 1.5, 'vcpus': 4, 'vcpus_used': 6,
            'cpu_allocation_ratio': 4.0, 'local_gb': 100,
            'local_gb_used': 10, 'free_disk_gb': None,
            'disk_available_least': 50, 'disk_allocation_ratio': None}
    # memory: 1000 * 1.5 - (1000 - 200); cores: 4 * 4 - 6; disk: the
    # free 90 capped by disk_available_least, ratio 1.0.
    assert scheduler.room(node) == (700.0, 10.0, 50.0)
    node.update(free_ram_mb=None, memory_mb_used=900,
                ram_allocation_ratio=0.0)
    assert scheduler.room(node)[0] == 100.0


def test_hosts_with_room_read_what_the_compute_reported(orch):
    # cmp1 reports most of its memory used (free_ram_mb, as nova's
    # resource tracker writes it): cmp2 wins.
    _report(orch, 'cmp1', memory_mb_used=8000, free_ram_mb=192)
    assert [h for _, h, _ in scheduler.hosts_with_room(
        orch, oc.FLAVOR)] == ['cmp2']
    # With an allocation ratio, cmp1 has room again, and more than cmp2.
    _report(orch, 'cmp1', ram_allocation_ratio=2.0)
    ranked = scheduler.hosts_with_room(orch, oc.FLAVOR)
    assert [(free, h) for free, h, _ in ranked] == [
        (8192 * 2.0 - 8000, 'cmp1'), (8192, 'cmp2')]
    _report(orch, 'cmp2', vcpus_used=16)
    assert [h for _, h, _ in scheduler.hosts_with_room(
        orch, oc.FLAVOR)] == ['cmp1']


def test_a_node_is_named_by_its_hypervisor_hostname(orch):
    cn = _add_nova_compute(orch, 'cmp3', 'cmp3.example.org')
    assert scheduler.node_of(orch, 'cmp3') == 'cmp3.example.org'
    assert scheduler.compute_node(orch, 'cmp3')['id'] == cn['id']
    assert ('cmp3', 'cmp3.example.org') in [
        (h, n) for _, h, n in scheduler.hosts_with_room(orch, oc.FLAVOR)]
    with pytest.raises(exception.ComputeHostNotFound):
        scheduler.compute_node(orch, 'cmp3', 'elsewhere')


# -- builds ---------------------------------------------------------------

def test_build_places_on_the_node_with_its_flavor_in_extra(orch, api):
    cn = _add_nova_compute(orch, 'cmp3', 'cmp3.example.org')
    op = api.build_instance(orch, values={
        'display_name': 'vm', 'memory_mb': 512, 'vcpus': 1, 'root_gb': 1,
        'instance_type_name': 'm1.tiny', 'instance_type_id': 1},
        host='cmp3')
    instance = db_api.instance_get_by_uuid(orch, op['instance_uuid'])
    assert (instance['host'], instance['node'], instance['compute_id'],
            instance['launched_on']) == ('cmp3', 'cmp3.example.org',
                                         cn['id'], 'cmp3')
    info = _flavor(orch, op['instance_uuid'])
    assert info['old'] is None and info['new'] is None
    cur = _data(info['cur'])
    assert (cur['id'], cur['flavorid'], cur['name'], cur['memory_mb'],
            cur['vcpus'], cur['root_gb'], cur['ephemeral_gb'],
            cur['extra_specs']) == (1, '1', 'm1.tiny', 512, 1, 1, 0, {})


# -- moves ----------------------------------------------------------------

def test_migration_row_and_instance_follow_nova(orch, api, runner):
    cn = _add_nova_compute(orch, 'cmp3', 'cmp3.example.org')
    inst = oc.add_instance(orch)
    source_cn = _node(orch, 'cmp1')
    op = api.migrate_server(orch, instance_uuid=inst['uuid'],
                            dest_host='cmp3', flavor=dict(oc.BIG, id=4))
    migration = db_api.migration_get(orch, op['migration_id'])
    assert {k: migration[k] for k in (
        'source_compute', 'source_node', 'dest_compute', 'dest_node',
        'dest_compute_id', 'dest_host', 'migration_type', 'status',
        'new_instance_type_id')} == {
        'source_compute': 'cmp1', 'source_node': 'cmp1',
        'dest_compute': 'cmp3', 'dest_node': 'cmp3.example.org',
        'dest_compute_id': cn['id'], 'dest_host': '192.0.2.7',
        'migration_type': 'resize', 'status': 'pre-migrating',
        'new_instance_type_id': 4}
    assert migration['uuid']
    # The new flavor is known from the start, as nova's prep_resize
    # sets it; the current one is still the old.
    info = _flavor(orch, inst['uuid'])
    assert _data(info['cur'])['name'] == 'm1.small'
    assert _data(info['new'])['name'] == 'm1.large'

    assert _run(runner, orch, op)['status'] == 'done'
    instance = db_api.instance_get_by_uuid(orch, inst['uuid'])
    assert (instance['host'], instance['node'], instance['compute_id'],
            instance['instance_type_id'], instance['memory_mb']) == \
        ('cmp3', 'cmp3.example.org', cn['id'], 4, 2048)
    info = _flavor(orch, inst['uuid'])
    assert (_data(info['cur'])['name'], _data(info['old'])['name'],
            _data(info['new'])['name']) == ('m1.large', 'm1.small',
                                            'm1.large')

    revert = _run(runner, orch, api.revert_resize(
        orch, instance_uuid=inst['uuid']))
    assert revert['status'] == 'done'
    instance = db_api.instance_get_by_uuid(orch, inst['uuid'])
    assert (instance['host'], instance['node'], instance['compute_id'],
            instance['memory_mb'], instance['instance_type_name']) == \
        ('cmp1', 'cmp1', source_cn['id'], 512, 'm1.small')
    info = _flavor(orch, inst['uuid'])
    assert _data(info['cur'])['name'] == 'm1.small'
    assert info['old'] is None and info['new'] is None
    assert db_api.migration_get(orch, op['migration_id'])['status'] == \
        'reverted'


def test_confirm_drops_old_and_new_flavor(orch, api, runner):
    inst = oc.add_instance(orch)
    _run(runner, orch, api.migrate_server(
        orch, instance_uuid=inst['uuid'], flavor=oc.BIG))
    assert _run(runner, orch, api.confirm_resize(
        orch, instance_uuid=inst['uuid']))['status'] == 'done'
    info = _flavor(orch, inst['uuid'])
    assert _data(info['cur'])['memory_mb'] == oc.BIG['memory_mb']
    assert info['old'] is None and info['new'] is None
    instance = db_api.instance_get_by_uuid(orch, inst['uuid'])
    assert (instance['host'], instance['compute_id']) == (
        'cmp2', _node(orch, 'cmp2')['id'])


def test_a_migration_keeps_nova_s_flavor_fields(orch, api, runner):
    """A cold migration (no flavor given) keeps the flavor nova wrote,
    fields the proxy's flavor dict lacks included."""
    inst = oc.add_instance(orch)
    flavors.write(orch, inst['uuid'], flavors.primitive(dict(
        oc.FLAVOR, id=2, swap=512, extra_specs={'hw:cpu': 'x'})))
    op = _run(runner, orch, api.migrate_server(
        orch, instance_uuid=inst['uuid']))
    assert op['status'] == 'done'
    migration = db_api.migration_get(orch, op['migration_id'])
    assert migration['migration_type'] == 'migration'
    info = _flavor(orch, inst['uuid'])
    assert (_data(info['cur'])['swap'], _data(info['cur'])['extra_specs'],
            _data(info['old'])['swap']) == (512, {'hw:cpu': 'x'}, 512)


def test_copy_progress_reads_nova_s_disk_counters_first():
    from nova_proxy.orchestration import runner
    assert runner.migration_percent(
        {'disk_total': 400, 'disk_processed': 100, 'progress': 90}) == 25
    assert runner.migration_percent(
        {'disk_total': None, 'disk_processed': None, 'progress': 90}) == 90
    assert runner.migration_percent(
        {'disk_total': 0, 'disk_processed': 0, 'progress': None}) == 0


def test_a_build_keeps_the_flavor_its_caller_gave(orch, api):
    given = flavors.extra_json(flavors.primitive(dict(
        oc.FLAVOR, id=9, swap=64)))
    op = api.build_instance(orch, values={
        'memory_mb': 512, 'vcpus': 1, 'root_gb': 1,
        'extra': {'flavor': given}})
    assert _data(_flavor(orch, op['instance_uuid'])['cur'])['swap'] == 64
    with pytest.raises(exception.InvalidUpdate):
        api.build_instance(orch, values={'memory_mb': 1, 'extra': 'x'})


def test_reverting_a_resize_nova_finished(orch, api, runner, compute):
    """A resize that nova's services did (no operation of ours): the
    revert takes the flavors nova's finish_resize left in
    instance_extra, and the hosts and nodes from the migration."""
    old = flavors.primitive(dict(oc.FLAVOR, id=2, swap=32))
    new = flavors.primitive(dict(oc.BIG, id=4))
    inst = oc.add_instance(orch, host='cmp2', vm_state='resized',
                           flavor=oc.BIG)
    flavors.write(orch, inst['uuid'], new, old=old, new=new)
    migration = db_api.migration_create(orch, {
        'instance_uuid': inst['uuid'], 'source_compute': 'cmp1',
        'source_node': 'cmp1', 'dest_compute': 'cmp2', 'dest_node': 'cmp2',
        'dest_compute_id': _node(orch, 'cmp2')['id'],
        'status': 'finished', 'migration_type': 'resize'})
    op = _run(runner, orch, api.revert_resize(orch,
                                              instance_uuid=inst['uuid']))
    assert op['status'] == 'done'
    assert op['migration_id'] == migration['id']
    assert [(c['step'], c['host']) for c in compute.calls] == [
        ('revert_resize', 'cmp2'), ('finish_revert_resize', 'cmp1')]
    assert compute.calls[-1]['kwargs']['flavor'] == dict(oc.FLAVOR, id=2)
    instance = db_api.instance_get_by_uuid(orch, inst['uuid'])
    assert (instance['host'], instance['compute_id'], instance['memory_mb'],
            instance['instance_type_id'], instance['vm_state']) == (
        'cmp1', _node(orch, 'cmp1')['id'], 512, 2, 'active')
    info = _flavor(orch, inst['uuid'])
    assert _data(info['cur'])['swap'] == 32 and info['old'] is None


def test_server_list_names_the_flavor_nova_keeps(orch):
    import io

    from nova_proxy.orchestration import server_cli
    ours = oc.add_instance(orch)
    # As nova's services create one: no instance_type_name, the flavor
    # in instance_extra only.
    novas = db_api.instance_create(orch, {
        'host': 'cmp2', 'node': 'cmp2', 'vm_state': 'active',
        'extra': {'flavor': flavors.extra_json(flavors.primitive(
            dict(oc.BIG, name='nova.large')))}})
    out = io.StringIO()
    listed = server_cli.list_instances(host=None, out=out)
    assert {i['uuid']: flavors.name_of(i) for i in listed} == {
        ours['uuid']: 'm1.small', novas['uuid']: 'nova.large'}
    assert 'nova.large' in out.getvalue()
    assert [flavors.name_of(i) for i in server_cli.list_instances(
        host='cmp2', out=io.StringIO())] == ['nova.large']
