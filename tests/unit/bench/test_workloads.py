from nova_proxy.bench import workloads
from nova_proxy.db import api as db_api


def test_seeded_hosts_update_and_repeated_builds(db, admin_context):
    hosts = workloads.seed_hosts('t', 2, instances_per_host=2)
    assert [h.name for h in hosts] == ['t-0000', 't-0001']
    host = hosts[0]
    assert len(db_api.instance_get_all_by_host(admin_context, host.name)) == 2
    api = workloads.DirectAPI()
    ctx = host.context(remote=False)
    workloads.update_once(api, host, ctx)
    instance = db_api.instance_get_by_uuid(
        admin_context, host.instance_uuids[0])
    assert instance['progress'] == 0
    for _ in range(2):
        workloads.build_once(api, host, ctx)
        instance = db_api.instance_get_by_uuid(
            admin_context, host.instance_uuids[0])
        assert (instance['vm_state'], instance['task_state'],
                instance['power_state']) == ('active', None, 1)
    events = db_api.actions_get(admin_context, host.instance_uuids[0])[0][
        'events']
    assert [(e['event'], e['result']) for e in events] == [
        ('compute__do_build_and_run_instance', 'Success')]


def test_remote_context_is_scoped_to_the_host():
    host = workloads.Host('h1', 1, 1, 'h1', ['u'], 'req')
    assert host.context(remote=True).compute_host == 'h1'
    assert host.context(remote=False).compute_host is None
