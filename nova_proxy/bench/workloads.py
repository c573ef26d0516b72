"""What the callers do: the data they work on and the calls they make.

``seed_hosts()`` creates, per simulated compute host, the rows nova-compute
would find: its service, its compute node, its instances (``building``, no
task) and the instance action of a pending build. The same calls then run
in-process (``DirectAPI``: nova-compute before this project) or over RPC
(the proxy client), so both paths do exactly the same database work.

Two clients of the proxy: the 1.x shim (``nova_proxy.compute.db_v1``,
``remote_api()``), which the figures of earlier runs measured, and the 2.x
shim that nova-compute uses (``nova_proxy.compute.db``, ``nova_api()``):
nova's own function names and arguments, as nova 34's objects call them
(``update_once_nova``, ``build_once_nova``).
"""

import datetime

import itertools
import uuid

import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy.common import states
from nova_proxy.db import api as db
from nova_proxy.db import models
from nova_proxy.db import session as db_session

__all__ = ['DirectAPI', 'remote_api', 'nova_api', 'Host', 'seed_hosts',
           'seed_hosts_bulk', 'update_once', 'build_once', 'BUILD_CALLS',
           'build_once_combined', 'BUILD_COMBINED_CALLS', 'update_once_nova',
           'build_once_nova', 'BUILD_NOVA_CALLS', 'NOVA_SAVE_JOINS']

# The calls one instance build makes from nova-compute
# (_do_build_and_run_instance / _build_and_run_instance): the task state
# steps, the resource claim and the action event around it.
BUILD_CALLS = 8
# The same build with the event start and finish carried by the first and
# the last state change (``instance_update_and_record``, proxy API 1.1).
BUILD_COMBINED_CALLS = 6
# The build as nova 34's compute makes it through its objects: the event
# start, six ``Instance.save()`` (the build state, the claim's host and
# node, networking, block device mapping, spawning, active), the claim's
# ``ComputeNode.save()``, the event finish.
BUILD_NOVA_CALLS = 9
# What ``Instance.save()`` asks back (``columns_to_join``) for an instance
# loaded as nova-compute gets it for a build: nova's default fields and
# its flavor (``nova.objects.instance._expected_cols``).
NOVA_SAVE_JOINS = ('metadata', 'system_metadata', 'info_cache',
                   'security_groups', 'extra', 'extra.flavor')


class DirectAPI:
    """The database API called in-process, with the proxy client's method
    signatures. As nova-compute did, it applies no host scope."""

    def __getattr__(self, name):
        return getattr(db, name)


def remote_api():
    """What nova-compute calls instead of its database: the shim
    (``nova_proxy.compute.db_v1``), one ``rpc.call`` per function."""
    from nova_proxy.compute import db_v1 as shim
    return shim


def nova_api():
    """What nova-compute 34 calls instead of ``nova.db.main.api``: the 2.x
    shim (``nova_proxy.compute.db``), one ``rpc.call`` per function."""
    from nova_proxy.compute import db as shim
    return shim


class HostSigners:
    """Signs each call as the compute host its context names, with
    ``key_file``, as that host's nova-compute would with ``[proxy_client]
    key_file``: one process calling as many hosts (``compute.db._client.
    set_signer``)."""

    def __init__(self, key_file):
        self.key_file = key_file
        self._signers = {}

    def sign(self, context, target, method, args):
        from nova_proxy.common import auth
        host = context['compute_host']
        signer = self._signers.get(host)
        if signer is None:
            signer = self._signers.setdefault(host, auth.Signer(
                'compute', host, key_file=self.key_file))
        return signer.sign(context, target, method, args)


class Host:
    """A simulated compute host and its rows."""

    def __init__(self, name, service_id, node_id, node_name,
                 instance_uuids, request_id):
        self.name = name
        self.service_id = service_id
        self.node_id = node_id
        self.node_name = node_name
        self.instance_uuids = instance_uuids
        self.request_id = request_id
        self.counter = itertools.count()

    def context(self, remote):
        """A fresh context: scoped to this host over RPC, as the shim
        sends; unscoped in-process, as nova-compute had."""
        if remote:
            return np_context.get_compute_context(self.name)
        return np_context.get_admin_context()

    def nova_context(self, admin=False):
        """The context nova-compute 34 sends with this host's calls:
        ``admin``, its periodic tasks' (``nova.context.get_admin_context``);
        else the user's request (a build, an action), whose project owns
        the instances."""
        if admin:
            return np_context.RequestContext(
                compute_host=self.name, is_admin=True, overwrite=False)
        return np_context.RequestContext(
            compute_host=self.name, user_id='bench-user',
            project_id='bench-project', overwrite=False)


def seed_hosts(prefix, count, instances_per_host=1):
    """Create ``count`` hosts named ``<prefix>-<n>`` with their rows."""
    ctx = np_context.get_admin_context()
    hosts = []
    for n in range(count):
        name = '%s-%04d' % (prefix, n)
        service = db.service_create(ctx, {
            'host': name, 'binary': 'nova-compute', 'topic': 'compute',
            'report_count': 0, 'version': 1})
        node = db.compute_node_create(ctx, {
            'host': name, 'node': name, 'hypervisor_type': 'fake',
            'vcpus': 16, 'memory_mb': 32768, 'local_gb': 1000,
            'vcpus_used': 0, 'memory_mb_used': 0, 'local_gb_used': 0,
            'running_vms': 0})
        uuids = []
        for i in range(instances_per_host):
            instance = db.instance_create(ctx, {
                'uuid': str(uuid.uuid4()), 'host': name, 'node': name,
                'launched_on': name, 'vm_state': states.VM_BUILDING,
                'task_state': None, 'power_state': states.POWER_NOSTATE,
                'memory_mb': 512, 'vcpus': 1, 'root_gb': 1, 'ephemeral_gb': 0,
                'instance_type_name': 'm1.tiny',
                'display_name': 'bench-%d-%d' % (n, i),
                'hostname': 'bench-%d-%d' % (n, i),
                'user_id': 'bench-user', 'project_id': 'bench-project',
                'metadata': {'role': 'bench'},
                'system_metadata': {'image_min_disk': '1'}})
            uuids.append(instance['uuid'])
        request_id = 'req-%s' % uuid.uuid4()
        db.instance_action_start(ctx, {
            'instance_uuid': uuids[0], 'action': 'create',
            'request_id': request_id, 'user_id': 'bench-user',
            'project_id': 'bench-project'})
        hosts.append(Host(name, service['id'], node['id'], name, uuids,
                          request_id))
    return hosts


def seed_hosts_bulk(prefix, count, instances_per_host=1):
    """As ``seed_hosts``, for thousands of hosts: bulk inserts in one
    transaction instead of one API call per row. The rows are the same
    except for the creation and update times, left NULL."""
    names = ['%s-%05d' % (prefix, n) for n in range(count)]
    instances = {name: [str(uuid.uuid4()) for _ in range(instances_per_host)]
                 for name in names}
    requests = {name: 'req-%s' % uuid.uuid4() for name in names}
    engine = db_session.get_engine()
    with engine.begin() as conn:
        # Up as of now, as a running fleet is: a NULL heartbeat would have
        # the proxies' mark_services_down task disable (and later enable)
        # every new node, a start-up burst no real fleet has.
        now = conn.execute(sa.select(db_session.db_utcnow())).scalar_one()
        conn.execute(sa.insert(models.Service.__table__), [
            {'uuid': str(uuid.uuid4()), 'host': name,
             'binary': 'nova-compute', 'topic': 'compute',
             'report_count': 0, 'disabled': False, 'forced_down': False,
             'last_seen_up': now, 'version': 1, 'deleted': 0}
            for name in names])
        conn.execute(sa.insert(models.ComputeNode.__table__), [
            {'uuid': str(uuid.uuid4()), 'host': name, 'node': name,
             'hypervisor_type': 'fake', 'vcpus': 16, 'memory_mb': 32768,
             'local_gb': 1000, 'vcpus_used': 0, 'memory_mb_used': 0,
             'local_gb_used': 0, 'running_vms': 0, 'deleted': 0}
            for name in names])
        conn.execute(sa.insert(models.Instance.__table__), [
            {'uuid': u, 'host': name, 'node': name, 'launched_on': name,
             'vm_state': states.VM_ACTIVE, 'task_state': None,
             'power_state': states.POWER_RUNNING,
             'memory_mb': 512, 'vcpus': 1, 'root_gb': 1, 'ephemeral_gb': 0,
             'instance_type_name': 'm1.tiny', 'display_name': u[:8],
             'hostname': u[:8], 'user_id': 'bench-user',
             'project_id': 'bench-project', 'deleted': 0}
            for name in names for u in instances[name]])
        conn.execute(sa.insert(models.InstanceMetadata.__table__), [
            {'instance_uuid': u, 'key': 'role', 'value': 'bench'}
            for name in names for u in instances[name]])
        conn.execute(sa.insert(models.InstanceAction.__table__), [
            {'instance_uuid': instances[name][0], 'action': 'create',
             'request_id': requests[name], 'user_id': 'bench-user',
             'project_id': 'bench-project', 'deleted': 0}
            for name in names])
        services = dict(conn.execute(
            sa.select(models.Service.host, models.Service.id).where(
                models.Service.host.in_(names))).all())
        nodes = dict(conn.execute(
            sa.select(models.ComputeNode.host, models.ComputeNode.id).where(
                models.ComputeNode.host.in_(names))).all())
    return [Host(name, services[name], nodes[name], name, instances[name],
                 requests[name]) for name in names]


def update_once(api, host, ctx, **kwargs):
    """One compare-and-swap ``instance_update``, as a progress report
    during a task: valid only while no task of another kind took over.
    ``kwargs`` go to the call (``scope_host`` for the in-process API)."""
    api.instance_update(ctx, host.instance_uuids[0], {
        'progress': next(host.counter) % 100,
        'expected_task_state': None}, **kwargs)


_BUILD_STEPS = (
    # (values, expected_task_state)
    ({'vm_state': states.VM_BUILDING, 'task_state': None},
     [states.TASK_SCHEDULING, None]),
    ({'task_state': states.TASK_NETWORKING}, [None]),
    ({'task_state': states.TASK_BLOCK_DEVICE_MAPPING},
     [states.TASK_NETWORKING]),
    ({'task_state': states.TASK_SPAWNING},
     [states.TASK_BLOCK_DEVICE_MAPPING]),
)


_BUILD_DONE = {'vm_state': states.VM_ACTIVE, 'task_state': None,
               'power_state': states.POWER_RUNNING,
               'launched_at': '2026-01-01T00:00:00+00:00',
               'expected_task_state': states.TASK_SPAWNING}


def _build_event(host):
    return {'instance_uuid': host.instance_uuids[0],
            'request_id': host.request_id,
            'event': 'compute__do_build_and_run_instance'}


def _claim(api, host, ctx):
    n = next(host.counter) % 8
    api.compute_node_update(ctx, host.node_id, {
        'vcpus_used': n, 'memory_mb_used': 512 * n, 'running_vms': n})


def build_once(api, host, ctx):
    """The calls of one instance build, ``BUILD_CALLS`` of them. It ends
    with the instance active and no task, which the next build's first
    step accepts, so builds can repeat on one instance."""
    instance_uuid = host.instance_uuids[0]
    event = _build_event(host)
    api.action_event_start(ctx, dict(event, host=host.name))
    for values, expected in _BUILD_STEPS:
        api.instance_update(ctx, instance_uuid,
                            dict(values, expected_task_state=expected))
    _claim(api, host, ctx)
    api.instance_update(ctx, instance_uuid, _BUILD_DONE)
    api.action_event_finish(ctx, dict(event, result='Success'))


def build_once_combined(api, host, ctx):
    """The same build, the same writes, in ``BUILD_COMBINED_CALLS`` calls:
    the event start goes with the first state change and the finish with
    the last (``instance_update_and_record``)."""
    instance_uuid = host.instance_uuids[0]
    event = _build_event(host)
    (first, first_expected), *steps = _BUILD_STEPS
    api.instance_update_and_record(
        ctx, instance_uuid, dict(first, expected_task_state=first_expected),
        event_start=dict(event, host=host.name))
    for values, expected in steps:
        api.instance_update(ctx, instance_uuid,
                            dict(values, expected_task_state=expected))
    _claim(api, host, ctx)
    api.instance_update_and_record(
        ctx, instance_uuid, _BUILD_DONE,
        event_finish=dict(event, result='Success'))


def update_once_nova(api, host, ctx):
    """``update_once`` as nova's ``Instance.save(expected_task_state=
    [None])`` makes it: ``instance_update_and_get_original``, the
    original and the updated instance back with their joins."""
    api.instance_update_and_get_original(
        ctx, host.instance_uuids[0], {
            'progress': next(host.counter) % 100,
            'expected_task_state': [None]},
        columns_to_join=list(NOVA_SAVE_JOINS))


# (values, expected_task_state) of each Instance.save() of a build in nova
# 34's compute manager: _do_build_and_run_instance, the resource claim
# (ResourceTracker._set_instance_host_and_node), _allocate_network,
# _build_resources, _build_and_run_instance.
_NOVA_BUILD_STEPS = (
    ({'vm_state': 'building', 'task_state': None}, ('scheduling', None)),
    (None, None),
    ({'vm_state': 'building', 'task_state': 'networking'}, [None]),
    ({'vm_state': 'building', 'task_state': 'block_device_mapping'}, None),
    ({'task_state': 'spawning'}, 'block_device_mapping'),
)


def _nova_save(api, host, ctx, values, expected):
    if expected is not None:
        values = dict(values, expected_task_state=expected)
    api.instance_update_and_get_original(
        ctx, host.instance_uuids[0], values,
        columns_to_join=list(NOVA_SAVE_JOINS))


def build_once_nova(api, host, ctx):
    """One build as nova 34's compute makes it, ``BUILD_NOVA_CALLS``
    calls of the 2.x API: ``action_event_start`` (the
    ``wrap_instance_event`` around ``_do_build_and_run_instance``), the
    ``Instance.save()`` steps, the claim's ``compute_node_update``,
    ``action_event_finish``. Like ``build_once``, it ends with the
    instance active and no task, so builds repeat on one instance."""
    now = datetime.datetime.utcnow
    event = {'instance_uuid': host.instance_uuids[0],
             'request_id': host.request_id,
             'event': 'compute__do_build_and_run_instance'}
    api.action_event_start(ctx, dict(event, start_time=now(),
                                     host=host.name))
    for values, expected in _NOVA_BUILD_STEPS:
        if values is None:
            # The claim: the instance's host and node, then the node's
            # usage.
            _nova_save(api, host, ctx, {'host': host.name,
                                        'node': host.node_name,
                                        'launched_on': host.name}, None)
            n = next(host.counter) % 8
            api.compute_node_update(ctx, host.node_id, {
                'vcpus_used': n, 'memory_mb_used': 512 * n,
                'running_vms': n})
            continue
        _nova_save(api, host, ctx, values, expected)
    _nova_save(api, host, ctx, {
        'vm_state': 'active', 'task_state': None, 'power_state': 1,
        'launched_at': now()}, 'spawning')
    api.action_event_finish(ctx, dict(event, finish_time=now(),
                                      result='Success'))
