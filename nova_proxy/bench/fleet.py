"""Fleet simulation: how many compute nodes the proxies serve.

Each simulated node has its own rows (service, compute node, instances) and
makes the database calls nova 34's compute service makes with its default
options, through the 2.x shim (``nova_proxy.compute.db``, nova's names and
arguments), plus one instance build every ``BUILD_INTERVAL`` seconds. The
mix, per node (``periodic_tasks()``; docs/benchmark.rst has the table):

* every ``report_interval`` (10 s): the service heartbeat
  (``ServiceGroup``'s DB driver: ``Service.save()``, ``service_update``);
* every 60 s, ``update_available_resource`` (``update_resources_interval``
  0: the default spacing of oslo.service's periodic tasks): the node's
  compute nodes, its instances on the node, its migrations in progress or
  in error, the block device mappings of its instances (the libvirt
  driver's disk over-commit), the compute node's save;
* every ``scheduler_instance_sync_interval`` (120 s): the host's instances
  (``_sync_scheduler_instance_info``);
* every ``instance_delete_interval`` (300 s): deleted instances not yet
  cleaned (``_run_pending_deletes``), migrations in error
  (``_cleanup_incomplete_migrations``), expired console tokens
  (``_cleanup_expired_console_auth_tokens``, by host: see
  ``_deletes_and_cleanups``);
* every ``sync_power_state_interval`` (600 s): the host's instances, then
  each instance read again (``_sync_power_states``' ``refresh()``);
* every ``running_deleted_instance_poll_interval`` (1,800 s): deleted
  instances still on the hypervisor; every ``[image_cache]
  manager_interval`` (2,400 s): the instances using the image cache;
* one build (``workloads.build_once_nova``) every ``BUILD_INTERVAL``.

``_heal_instance_info_cache`` is not in it: ``heal_instance_info_cache_
interval`` is -1 (off) in nova 34. The other periodic tasks return before
any database call with nova's defaults (build, reboot, rescue and resize
timeouts 0, no usage audit, no volume usage poll, no shelved offload).

Nodes start at random phases, as a real fleet does. The load is open-loop:
a scheduler thread releases each node's task when it is due into a pool of
caller threads (a node's tasks are independent, as nova-compute's periodic
tasks are), and a call's latency counts from its due time. A fleet the
proxies cannot keep up with therefore shows as growing latency, never as a
smaller offered load.

``find_capacity()`` doubles the node count until the p99 latency passes the
bound (or fewer than 90% of the calls released in the measured time are
answered in it), then bisects once between the last good and the first bad
count; ``capacity_model()`` turns the CPU per call of the largest good
fleet into cores per 10,000 nodes of this mix.

The cores have floors of their own (``run_echo_fleet()``): the same
nodes, tasks and calls, at the same moments, each call made to an echo
server (two processes, as the proxies are two) instead of the proxies:
oslo.messaging's, called through oslo.messaging, and the raw AMQP one,
the least any RPC over RabbitMQ costs. A machine's speed moves cold
calls more than calls in a row, which the bench's other floors are made
of: two calm runs of the same code, 30 minutes apart, needed 4.9 and 8.2
proxy cores while those floors moved by 9 to 41% (docs/benchmark.rst,
runs P and Q). The echo fleets are measured as the proxies' is; in two
runs (R and S there) the oslo.messaging one moved less than theirs did
(the proxy 1.10 and 1.47 times the echo), so judge a change by those
ratios over several pairs.

The database part has its floor too (``run_driver_fleet()``, PostgreSQL):
the same fleet once more on proxies with their psycopg2 timed
(``drivercpu``), the driver's own CPU per call in them. An echo server's
cores and the driver's together are what a proxy adding nothing of its
own would need.
"""

import concurrent.futures
import heapq
import logging
import random
import tempfile
import threading
import time

from nova_proxy.bench import drivercpu
from nova_proxy.bench import load
from nova_proxy.bench import workloads

LOG = logging.getLogger(__name__)

__all__ = ['periodic_tasks', 'calls_per_node_per_s', 'run_fleet',
           'run_echo_fleet', 'run_driver_fleet', 'echo_tasks',
           'find_capacity', 'capacity_model', 'BUILD_INTERVAL',
           'NOVA_INTERVALS']

# One instance build per node every ten minutes: a busy cloud.
BUILD_INTERVAL = 600.0
# The task of a build: one per node at a time (told by its name, which
# the echo fleet's tasks keep).
BUILD = 'build'
INSTANCES_PER_NODE = 4
# Caller threads of the simulation: calls in flight at once at most.
CALLER_THREADS = 64

# nova 34's defaults (nova/conf/service.py, compute.py, imagecache.py) of
# the periodic tasks that reach the database; 60 s is oslo.service's
# spacing of a periodic task with none of its own.
NOVA_INTERVALS = {
    'heartbeat': 10.0,              # [DEFAULT] report_interval
    'resources': 60.0,              # update_resources_interval = 0
    'scheduler_sync': 120.0,        # scheduler_instance_sync_interval
    'deletes_and_cleanups': 300.0,  # instance_delete_interval
    'power_sync': 600.0,            # sync_power_state_interval
    'running_deleted': 1800.0,      # running_deleted_instance_poll_interval
    'image_cache': 2400.0,          # [image_cache] manager_interval
}

# columns_to_join of the resource tracker's InstanceList.get_by_host_and_node
# (expected_attrs system_metadata, numa_topology, flavor,
# migration_context, resources, through nova's _expected_cols).
_TRACKER_JOINS = ['system_metadata', 'extra', 'extra.numa_topology',
                  'extra.flavor', 'extra.migration_context',
                  'extra.resources']


def _heartbeat(api, host, ctx):
    api.service_update(ctx, host.service_id,
                       {'report_count': next(host.counter)})


def _resources(api, host, ctx):
    api.compute_node_get_all_by_host(ctx, host.name)
    instances = api.instance_get_all_by_host_and_node(
        ctx, host.name, host.node_name, columns_to_join=_TRACKER_JOINS)
    api.migration_get_in_progress_and_error_by_host_and_node(
        ctx, host.name, host.node_name)
    api.block_device_mapping_get_all_by_instance_uuids(
        ctx, [i['uuid'] for i in instances] or host.instance_uuids)
    api.compute_node_update(ctx, host.node_id, {
        'running_vms': len(instances), 'vcpus_used': len(instances),
        'memory_mb_used': 512 * len(instances)})


def _scheduler_sync(api, host, ctx):
    api.instance_get_all_by_host(ctx, host.name, columns_to_join=[])


def _deletes_and_cleanups(api, host, ctx):
    api.instance_get_all_by_filters_sort(
        ctx, {'deleted': True, 'soft_deleted': False, 'host': host.name,
              'cleaned': False}, columns_to_join=['system_metadata'])
    api.migration_get_all_by_filters(ctx, {'host': host.name,
                                           'status': 'error'})
    # nova 34's ConsoleAuthToken.clean_expired_console_auths calls
    # console_auth_token_destroy_expired, every host's tokens, which the
    # proxies refuse to a compute host: its own host's is the call that
    # can be served.
    api.console_auth_token_destroy_expired_by_host(ctx, host.name)


def _power_sync(api, host, ctx):
    instances = api.instance_get_all_by_host(ctx, host.name,
                                             columns_to_join=[])
    for uuid in [i['uuid'] for i in instances] or host.instance_uuids:
        api.instance_get_by_uuid(ctx, uuid, columns_to_join=[])


def _running_deleted(api, host, ctx):
    api.instance_get_all_by_filters_sort(
        ctx, {'deleted': True, 'soft_deleted': False,
              'uuid': list(host.instance_uuids)}, columns_to_join=[])


def _image_cache(api, host, ctx):
    api.instance_get_all_by_filters_sort(
        ctx, {'deleted': False, 'soft_deleted': True, 'host': [host.name]},
        columns_to_join=[])


def _build(api, host, ctx):
    # In the user's context, as the build request comes.
    workloads.build_once_nova(api, host, host.nova_context())


def periodic_tasks():
    """``[(name, interval_s, calls, function)]`` of one node."""
    return [
        ('heartbeat', NOVA_INTERVALS['heartbeat'], 1, _heartbeat),
        ('resources', NOVA_INTERVALS['resources'], 5, _resources),
        ('scheduler_sync', NOVA_INTERVALS['scheduler_sync'], 1,
         _scheduler_sync),
        ('deletes_and_cleanups', NOVA_INTERVALS['deletes_and_cleanups'], 3,
         _deletes_and_cleanups),
        ('power_sync', NOVA_INTERVALS['power_sync'],
         1 + INSTANCES_PER_NODE, _power_sync),
        ('running_deleted', NOVA_INTERVALS['running_deleted'], 1,
         _running_deleted),
        ('image_cache', NOVA_INTERVALS['image_cache'], 1, _image_cache),
        (BUILD, BUILD_INTERVAL, workloads.BUILD_NOVA_CALLS, _build),
    ]


def calls_per_node_per_s():
    return sum(calls / interval for _, interval, calls, _ in
               periodic_tasks())


class _Fleet:
    """The scheduler and the callers of one run."""

    def __init__(self, api, hosts, speedup, rng, tasks=None):
        self.api = api
        self.hosts = hosts
        # The periodic tasks' admin context, with the host's scope.
        self.contexts = [host.nova_context(admin=True) for host in hosts]
        self.tasks = tasks or periodic_tasks()
        self.speedup = speedup
        self.lock = threading.Lock()
        self.measuring = False
        self.latencies = []
        self.calls = 0
        self.released = 0
        self.errors = 0
        self.first_error = None
        # A build is the only task that is not a plain read or write: one
        # per node at a time, as nova-compute has one build per instance.
        self.building = set()
        now = time.monotonic()
        self.heap = []
        for n in range(len(hosts)):
            for t, (_, interval, _, _) in enumerate(self.tasks):
                period = interval / speedup
                self.heap.append((now + rng.uniform(0, period), n, t))
        heapq.heapify(self.heap)

    def _call(self, due, n, t):
        _, _, calls, fn = self.tasks[t]
        try:
            fn(self.api, self.hosts[n], self.contexts[n])
        except Exception as e:
            with self.lock:
                self.errors += 1
                self.first_error = self.first_error or '%s: %s' % (
                    type(e).__name__, e)
            return
        finally:
            if self.tasks[t][0] == BUILD:
                with self.lock:
                    self.building.discard(n)
        # Per call of the task: a build's calls share its delay.
        latency = (time.monotonic() - due) / calls
        with self.lock:
            if self.measuring:
                self.latencies.extend([latency] * calls)
                self.calls += calls

    def schedule(self, pool, stop):
        while not stop.is_set():
            due, n, t = self.heap[0]
            delay = due - time.monotonic()
            if delay > 0:
                stop.wait(min(delay, 0.05))
                continue
            heapq.heapreplace(self.heap, (
                due + self.tasks[t][1] / self.speedup, n, t))
            with self.lock:
                if self.tasks[t][0] == BUILD:
                    if n in self.building:
                        continue
                    self.building.add(n)
                if self.measuring:
                    self.released += self.tasks[t][2]
            pool.submit(self._call, due, n, t)


def run_fleet(bench, hosts, duration, speedup=1.0, driver_report=None):
    """Run ``len(hosts)`` simulated nodes for ``duration`` seconds, every
    call signed as its host (the proxies' default refuses unsigned ones).
    ``driver_report``: the ``drivercpu`` directory of proxies started
    with their driver timed, whose figures the step then gives too."""
    from nova_proxy.compute.db import _client as nova_shim
    started = time.time()
    before = bench.recorded_nonces(started)
    nova_shim.set_signer(workloads.HostSigners(bench.host_key_file))
    try:
        step = _run_fleet(bench, hosts, duration, speedup,
                          driver_report=driver_report)
    finally:
        nova_shim.set_signer(None)
    # Each signed call the proxies served recorded its nonce: calls made
    # before and after the measured time included.
    step['nonces_recorded'] = bench.recorded_nonces(started) - before
    return step


def _run_fleet(bench, hosts, duration, speedup, api=None, tasks=None,
               server_pids=None, driver_report=None):
    """``hosts``' ``tasks`` (default: ``periodic_tasks()``) called on
    ``api`` (default: nova's calls to the proxies) for ``duration``
    seconds, the CPU metered of ``server_pids`` (default: the proxies').
    The nodes' phases come from one seed: every fleet of the same hosts
    releases its tasks at the same moments."""
    fleet = _Fleet(api or workloads.nova_api(), hosts, speedup,
                   random.Random(42), tasks=tasks)
    stop = threading.Event()
    meter = bench._meter(server_pids or bench.proxy_pids)
    with concurrent.futures.ThreadPoolExecutor(CALLER_THREADS) as pool:
        scheduler = threading.Thread(target=fleet.schedule,
                                     args=(pool, stop), daemon=True)
        scheduler.start()
        time.sleep(min(duration / 4, 1.0))
        # Each timed process writes its totals every REPORT_INTERVAL: the
        # window's ends are read as written just after them, on both
        # sides, before the calls' window opens and after it closes.
        driver_before = driver_report and drivercpu.read_totals(
            driver_report, written_after=time.time())
        with fleet.lock:
            fleet.measuring = True
        meter.start()
        started = time.monotonic()
        time.sleep(duration)
        with fleet.lock:
            fleet.measuring = False
            calls, released = fleet.calls, fleet.released
        elapsed = time.monotonic() - started
        used = meter.stop()
        if driver_report:
            # The calls' threads are the floor; the background's work
            # (periodic tasks, the engine) is shown apart.
            driver_after = drivercpu.read_totals(driver_report,
                                                 written_after=time.time())
            driver = {kind: [after - before for after, before in zip(
                driver_after[kind], driver_before[kind])]
                for kind in drivercpu.KINDS}
            used['driver'] = driver['calls'][0]
            used['driver_background'] = driver['background'][0]
        stop.set()
        scheduler.join(timeout=10)
    offered = len(hosts) * speedup * calls_per_node_per_s()
    step = {
        'nodes': len(hosts) * speedup,
        'simulated': len(hosts),
        'speedup': speedup,
        'offered_calls_per_s': offered,
        'released_calls_per_s': released / elapsed,
        'calls_per_s': calls / elapsed,
        'p50_ms': _ms(load.percentile(fleet.latencies, 0.5)),
        'p99_ms': _ms(load.percentile(fleet.latencies, 0.99)),
        'errors': fleet.errors,
        'first_error': fleet.first_error,
        'cpu_us_per_call': {role: (s * 1e6 / calls if calls else None)
                            for role, s in used.items()},
        'proxy_processes': len(bench.proxies),
    }
    if driver_report:
        step['driver_operations_per_call'] = (
            driver['calls'][1] / calls if calls else None)
        step['driver_background_operations_per_call'] = (
            driver['background'][1] / calls if calls else None)
    return step


def _echo_task(calls, payload):
    def task(client, host, ctx):
        for _ in range(calls):
            client.call(payload)
    return task


def echo_tasks(payload):
    """``periodic_tasks()`` with each task's calls, one after the other,
    made to the echo server with ``payload``."""
    return [(name, interval, calls, _echo_task(calls, payload))
            for name, interval, calls, _ in periodic_tasks()]


# The proxy processes of the fleet, and the echo servers of its floors.
ECHO_PROCESSES = 2
# The floors' echo servers: an oslo.messaging RPC server, and a raw AMQP
# one (py-amqp; nova_proxy.bench.echo).
ECHO_KINDS = ('oslo', 'amqp')


def run_echo_fleet(bench, hosts, duration, speedup=1.0, kind='oslo'):
    """A floor of the fleet: ``hosts``' tasks, at the same moments as in
    ``run_fleet`` (the same random phases), each call a call of an echo
    server, served by ``ECHO_PROCESSES`` processes on one queue; CPU
    metered of those processes (``server``).

    ``kind`` 'oslo': oslo.messaging's echo server, called through
    oslo.messaging, as the proxies are. 'amqp': the raw AMQP echo (one
    thread, no publisher confirm, RabbitMQ's direct reply-to), called
    from a connection of each caller thread: what any RPC over RabbitMQ
    costs at least, below the proxies' own server (``direct_rpc``) as
    well as oslo.messaging's."""
    if kind not in ECHO_KINDS:
        raise ValueError('no echo server of kind %r' % (kind,))
    echoes = bench.start_echo(kind, ['%s-fleet-%d' % (kind, n)
                                     for n in range(ECHO_PROCESSES)])
    try:
        step = _run_fleet(bench, hosts, duration, speedup,
                          api=echoes.shared_caller(),
                          tasks=echo_tasks(echoes.payload),
                          server_pids=echoes.pids)
    finally:
        echoes.stop()
    step['proxy_processes'] = 0
    step['echo_processes'] = ECHO_PROCESSES
    step['echo_kind'] = kind
    return step


def run_driver_fleet(bench, hosts, duration, speedup=1.0, processes=2):
    """The database's floor of the fleet: ``run_fleet`` again on proxy
    processes started with their psycopg2 timed (``drivercpu``), as many
    as ran the fleet; ``cpu_us_per_call['driver']`` is the driver's own
    CPU per call in their threads that serve calls (``driver_background``
    in their other threads, which a fresh proxy keeps busier than one
    that has run for a while), and ``cpu_us_per_call['server']`` theirs,
    timing included (not the proxy's figure: that is ``run_fleet``'s,
    untimed). The proxies are stopped at the end."""
    report_dir = tempfile.mkdtemp(prefix='drivercpu-', dir=bench.directory)
    bench.stop_proxies()
    bench.start_proxies(processes, driver_report=report_dir)
    try:
        # Fresh processes: their first calls fill SQLAlchemy's caches and
        # the pools, which the measured proxies had done long before;
        # signed, so the signature's path is warm too.
        run_fleet(bench, hosts, min(duration, 2.0), speedup)
        step = run_fleet(bench, hosts, duration, speedup,
                         driver_report=report_dir)
    finally:
        bench.stop_proxies()
    if step['calls_per_s'] and not step['driver_operations_per_call']:
        # Calls served, none of their driver work seen: the proxies' RPC
        # server is not direct_rpc (``--set proxy.rpc_server=...``), whose
        # threads are the calls'.
        step['problem'] = ('no driver operation in the threads of the '
                           'direct RPC server (is [proxy] rpc_server '
                           'direct?)')
    return step


def _ms(value):
    return None if value is None else value * 1000.0


def find_capacity(bench, bound_ms=100.0, start=None, speedup=1.0,
                  echo_floors=(), driver_floor=False):
    """The largest fleet served with p99 under ``bound_ms``; that fleet
    run again on each kind of echo server in ``echo_floors``
    (``ECHO_KINDS``, ``run_echo_fleet``): its floors, ``echo``
    (oslo.messaging) and ``amqp_echo`` (raw AMQP); with ``driver_floor``
    (PostgreSQL only), once more on proxies with their psycopg2 timed
    (``run_driver_fleet``): the floor of its database part, ``driver``.
    The proxies are stopped after that last run."""
    profile = bench.profile
    per_node = calls_per_node_per_s()
    hosts = []

    def hosts_for(count):
        if len(hosts) < count:
            new = workloads.seed_hosts_bulk(
                'fleet%d' % len(hosts), count - len(hosts),
                INSTANCES_PER_NODE)
            bench.add_host_keys(new)
            hosts.extend(new)
        return hosts[:count]

    def good(step):
        return (step['p99_ms'] is not None and step['p99_ms'] <= bound_ms
                and not step['errors']
                and step['calls_per_s'] >= 0.9 * step['released_calls_per_s'])

    steps = []

    def run(count):
        step = run_fleet(bench, hosts_for(count), profile.fleet_duration,
                         speedup)
        step['good'] = good(step)
        steps.append(step)
        bench.progress('fleet %6d nodes: offered %6.0f calls/s, got %6.0f, '
                       'p99 %7.1f ms %s' % (
                           step['nodes'], step['offered_calls_per_s'],
                           step['calls_per_s'], step['p99_ms'] or 0,
                           'ok' if step['good'] else 'OVER'))
        return step

    # Start at about 5 calls/s.
    count = start or max(2, min(profile.fleet_max_nodes,
                                int(5 / per_node / speedup)))
    best = bad = None
    while True:
        step = run(count)
        if not step['good']:
            bad = count
            break
        best = step
        if count >= profile.fleet_max_nodes:
            break
        count = min(count * 2, profile.fleet_max_nodes)
    if best is not None and bad is not None and \
            bad - best['simulated'] > 1:
        step = run((best['simulated'] + bad) // 2)
        if step['good']:
            best = step
    floors = dict.fromkeys(ECHO_KINDS)
    if best is not None:
        for kind in (k for k in ECHO_KINDS if k in echo_floors):
            floor = run_echo_fleet(bench, hosts_for(best['simulated']),
                                   profile.fleet_duration, speedup, kind)
            floors[kind] = floor
            bench.progress('fleet %6d nodes on the %s echo servers: %6.0f '
                           'calls/s, p99 %7.1f ms' % (
                               floor['nodes'], kind, floor['calls_per_s'],
                               floor['p99_ms'] or 0))
    driver = None
    if best is not None and driver_floor:
        try:
            driver = run_driver_fleet(bench, hosts_for(best['simulated']),
                                      profile.fleet_duration, speedup,
                                      best['proxy_processes'])
        except Exception as e:
            # The run's other figures stand without this floor.
            LOG.exception('The fleet\'s database floor failed')
            driver = {'problem': '%s: %s' % (type(e).__name__, e)}
        else:
            driver['good'] = good(driver)
            bench.progress(
                'fleet %6d nodes with the proxies\' driver timed: %6.0f '
                'calls/s, p99 %7.1f ms, driver %4.0f us of CPU per call' % (
                    driver['nodes'], driver['calls_per_s'],
                    driver['p99_ms'] or 0,
                    driver['cpu_us_per_call'].get('driver') or 0))
    return {
        'bound_ms': bound_ms,
        'speedup': speedup,
        'calls_per_node_per_s': per_node,
        'echo': floors['oslo'],
        'amqp_echo': floors['amqp'],
        'driver': driver,
        'tasks': [{'name': name, 'interval_s': interval, 'calls': calls}
                  for name, interval, calls, _ in periodic_tasks()],
        'best': best,
        'limited_by_max_nodes': bad is None,
        'steps': steps,
        'capacity': capacity_model(best, per_node, floors['oslo'],
                                   floors['amqp'], driver) if best else None,
    }


def capacity_model(step, per_node, echo_step=None, amqp_echo_step=None,
                   driver_step=None, fleet=10000, utilisation=0.5):
    """Nodes per core of proxy, broker and database from the CPU each
    spends per call, and what ``fleet`` nodes need at ``utilisation``;
    with ``echo_step`` and ``amqp_echo_step`` (``run_echo_fleet``), the
    echo servers' too, the floors of the proxy's RPC; with
    ``driver_step`` (``run_driver_fleet``), the driver's in the proxies,
    the floor of its database part, and each echo server's with it: what
    a proxy that added nothing to its RPC and its driver would need."""
    cpu_us = dict(step['cpu_us_per_call'])
    for role, floor in (('echo', echo_step), ('amqp_echo', amqp_echo_step)):
        if floor is not None:
            cpu_us[role] = floor['cpu_us_per_call'].get('server')
    driver_us = driver_step and driver_step.get(
        'cpu_us_per_call', {}).get('driver')
    if driver_us:
        cpu_us['driver'] = driver_us
        for role in ('echo', 'amqp_echo'):
            if cpu_us.get(role):
                cpu_us[role + '+driver'] = cpu_us[role] + driver_us
    model = {'per_node_calls_per_s': per_node, 'fleet': fleet,
             'utilisation': utilisation, 'roles': {}}
    for role, label in (('server', 'proxy'), ('broker', 'rabbitmq'),
                        ('database', 'database'),
                        ('echo', 'oslo echo (floor)'),
                        ('amqp_echo', 'raw AMQP echo (floor)'),
                        ('driver', 'psycopg2 in the proxies (floor)'),
                        ('echo+driver', 'oslo echo + psycopg2 (floor)'),
                        ('amqp_echo+driver',
                         'raw AMQP echo + psycopg2 (floor)')):
        us = cpu_us.get(role)
        if not us:
            continue
        nodes_per_core = 1e6 / (us * per_node)
        model['roles'][label] = {
            'cpu_us_per_call': us,
            'nodes_per_core': nodes_per_core,
            'cores_for_fleet': fleet / (nodes_per_core * utilisation),
        }
    model['fleet_calls_per_s'] = fleet * per_node
    return model
