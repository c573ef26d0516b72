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
    events = db_api.actions_get_with_events(
        admin_context, host.instance_uuids[0])[0]['events']
    assert [(e['event'], e['result']) for e in events] == [
        ('compute__do_build_and_run_instance', 'Success')]


def test_remote_context_is_scoped_to_the_host():
    host = workloads.Host('h1', 1, 1, 'h1', ['u'], 'req')
    assert host.context(remote=True).compute_host == 'h1'
    assert host.context(remote=False).compute_host is None


def test_combined_build_makes_the_same_writes(db, admin_context):
    """The combined build leaves the rows the 8-call build leaves, in
    BUILD_COMBINED_CALLS calls, and repeats on one instance."""
    first, second = workloads.seed_hosts('c', 2)
    calls = []

    class Counting(workloads.DirectAPI):
        def __getattr__(self, name):
            calls.append(name)
            return super().__getattr__(name)

    for host, build in ((first, workloads.build_once),
                        (second, workloads.build_once_combined)):
        for _ in range(2):
            build(Counting(), host, host.context(remote=False))
    assert calls[:workloads.BUILD_CALLS] * 2 == \
        calls[:2 * workloads.BUILD_CALLS]
    combined = calls[2 * workloads.BUILD_CALLS:]
    assert len(combined) == 2 * workloads.BUILD_COMBINED_CALLS
    assert combined.count('instance_update_and_record') == 4
    assert 'action_event_start' not in combined

    def state(host):
        uuid = host.instance_uuids[0]
        instance = db_api.instance_get_by_uuid(admin_context, uuid)
        [action] = db_api.actions_get_with_events(admin_context, uuid)
        node = db_api.compute_node_get_by_host_and_node(admin_context,
                                                        host.name, host.name)
        return ((instance['vm_state'], instance['task_state'],
                 instance['power_state'], instance['launched_at']),
                [(e['event'], e['host'] == host.name, e['result'])
                 for e in action['events']], node['running_vms'])
    assert state(first) == state(second)
    assert state(second)[1] == [
        ('compute__do_build_and_run_instance', True, 'Success')]
