"""Fleet simulation: how many compute nodes the proxies serve.

Each simulated node is a thread making nova-compute's periodic database
traffic through the proxy client, with the intervals of the reference
compute service (``[compute]`` options) and one instance build every
``BUILD_INTERVAL`` seconds, all compressed ``speedup`` times: a thread
stands for ``speedup`` real nodes. The traffic is open-loop: each call has
a due time, and its latency is counted from that due time, so a fleet the
proxies cannot keep up with shows as growing latency rather than as a
slower offered load.

``find_capacity()`` doubles the node count until the p99 latency passes the
bound (or the achieved call rate falls below 95% of the offered one), then
bisects once between the last good and the first bad count.
"""

import random
import threading
import time

from nova_proxy.bench import load
from nova_proxy.bench import workloads
from nova_proxy import conf

CONF = conf.CONF

__all__ = ['periodic_tasks', 'calls_per_node_per_s', 'run_fleet',
           'find_capacity', 'BUILD_INTERVAL']

# One instance build per node every ten minutes: a busy cloud.
BUILD_INTERVAL = 600.0
INSTANCES_PER_NODE = 4


def _heartbeat(api, host, ctx):
    api.service_heartbeat(ctx, host.service_id)


def _resources(api, host, ctx):
    # update_available_resource: the node's instances and migrations, then
    # the new usage figures.
    instances = api.instance_get_all_by_host(ctx, host.name, host.node_name)
    api.migration_get_in_progress_by_host_and_node(ctx, host.name,
                                                   host.node_name)
    api.compute_node_update(ctx, host.node_id, {
        'running_vms': len(instances), 'vcpus_used': len(instances),
        'memory_mb_used': 512 * len(instances)})


def _power_sync(api, host, ctx):
    api.instance_get_all_by_host(ctx, host.name)


def _build(api, host, ctx):
    workloads.build_once(api, host, ctx)


def periodic_tasks():
    """``[(name, interval_s, calls, function)]`` of one node."""
    return [
        ('heartbeat', float(CONF.compute.report_interval), 1, _heartbeat),
        ('resources', float(CONF.compute.resource_update_interval), 3,
         _resources),
        ('power_sync', float(CONF.compute.sync_power_state_interval), 1,
         _power_sync),
        ('build', BUILD_INTERVAL, workloads.BUILD_CALLS, _build),
    ]


def calls_per_node_per_s():
    return sum(calls / interval for _, interval, calls, _ in
               periodic_tasks())


class _Node(threading.Thread):

    def __init__(self, api, host, speedup, stop, rng):
        super().__init__(daemon=True)
        self.api = api
        self.host = host
        self.ctx = host.context(True)
        self.stop_event = stop
        self.latencies = []
        self.calls = 0
        self.errors = 0
        self.first_error = None
        self.tasks = []
        now = time.monotonic()
        for name, interval, calls, fn in periodic_tasks():
            period = interval / speedup
            # Random phases: nodes do not start their timers together.
            self.tasks.append([now + rng.uniform(0, period), period, calls,
                               fn])

    def run(self):
        while not self.stop_event.is_set():
            task = min(self.tasks, key=lambda t: t[0])
            due, period, calls, fn = task
            delay = due - time.monotonic()
            if delay > 0 and self.stop_event.wait(delay):
                break
            try:
                fn(self.api, self.host, self.ctx)
            except Exception as e:
                self.errors += 1
                self.first_error = self.first_error or '%s: %s' % (
                    type(e).__name__, e)
            else:
                # Per call of the task: a build's eight calls share its delay.
                latency = (time.monotonic() - due) / calls
                self.latencies.extend([latency] * calls)
                self.calls += calls
            task[0] = due + period


def run_fleet(bench, hosts, speedup, duration):
    """Run ``len(hosts)`` simulated nodes for ``duration`` seconds."""
    api = workloads.remote_api()
    stop = threading.Event()
    rng = random.Random(42)
    nodes = [_Node(api, host, speedup, stop, rng) for host in hosts]
    meter = bench._meter(bench.proxy_pids)
    for node in nodes:
        node.start()
    # Let every node's first timers fire before counting.
    time.sleep(min(duration / 4, 1.0))
    for node in nodes:
        node.latencies = []
        node.calls = 0
    meter.start()
    started = time.monotonic()
    time.sleep(duration)
    elapsed = time.monotonic() - started
    used = meter.stop()
    stop.set()
    for node in nodes:
        node.join(timeout=60)
    latencies = [x for node in nodes for x in node.latencies]
    calls = sum(node.calls for node in nodes)
    offered = len(hosts) * speedup * calls_per_node_per_s()
    return {
        'threads': len(hosts),
        'speedup': speedup,
        'nodes': len(hosts) * speedup,
        'offered_calls_per_s': offered,
        'calls_per_s': calls / elapsed,
        'p50_ms': _ms(load.percentile(latencies, 0.5)),
        'p99_ms': _ms(load.percentile(latencies, 0.99)),
        'errors': sum(node.errors for node in nodes),
        'first_error': next((n.first_error for n in nodes if n.first_error),
                            None),
        'cpu_us_per_call': {role: (s * 1e6 / calls if calls else None)
                            for role, s in used.items()},
        'proxy_processes': len(bench.proxies),
    }


def _ms(value):
    return None if value is None else value * 1000.0


def find_capacity(bench, bound_ms=100.0, speedup=None, start=4):
    """The largest simulated fleet served with p99 under ``bound_ms``."""
    profile = bench.profile
    per_node = calls_per_node_per_s()
    if speedup is None:
        # About 10 calls/s per thread: enough threads to look like a fleet,
        # few enough for one client process.
        speedup = max(1, int(round(10.0 / per_node)))
    hosts = list(bench.hosts)

    def hosts_for(count):
        while len(hosts) < count:
            hosts.extend(workloads.seed_hosts(
                'bench-fleet-%d' % len(hosts), 1, INSTANCES_PER_NODE))
        return hosts[:count]

    def good(step):
        return (step['p99_ms'] is not None and step['p99_ms'] <= bound_ms
                and not step['errors']
                and step['calls_per_s'] >= 0.95 * step['offered_calls_per_s'])

    steps = []

    def run(count):
        step = run_fleet(bench, hosts_for(count), speedup,
                         profile.fleet_duration)
        step['good'] = good(step)
        steps.append(step)
        bench.progress('fleet %4d threads = %6d nodes: offered %6.0f '
                       'calls/s, got %6.0f, p99 %7.1f ms %s' % (
                           count, step['nodes'], step['offered_calls_per_s'],
                           step['calls_per_s'], step['p99_ms'] or 0,
                           'ok' if step['good'] else 'OVER'))
        return step

    best = None
    count = min(start, profile.fleet_max_nodes)
    bad = None
    while True:
        step = run(count)
        if not step['good']:
            bad = count
            break
        best = step
        if count >= profile.fleet_max_nodes:
            break
        count = min(count * 2, profile.fleet_max_nodes)
    if best is not None and bad is not None and bad - best['threads'] > 1:
        middle = (best['threads'] + bad) // 2
        step = run(middle)
        if step['good']:
            best = step
    return {
        'bound_ms': bound_ms,
        'speedup': speedup,
        'calls_per_node_per_s': per_node,
        'tasks': [{'name': name, 'interval_s': interval, 'calls': calls}
                  for name, interval, calls, _ in periodic_tasks()],
        'best': best,
        'limited_by_max_nodes': bad is None,
        'steps': steps,
        'capacity': capacity_model(best, per_node) if best else None,
    }


def capacity_model(step, per_node, fleet=10000, utilisation=0.5):
    """Nodes per core of proxy, broker and database from the CPU each
    spends per call, and what ``fleet`` nodes need at ``utilisation``."""
    cpu_us = step['cpu_us_per_call']
    model = {'per_node_calls_per_s': per_node, 'fleet': fleet,
             'utilisation': utilisation, 'roles': {}}
    for role, label in (('server', 'proxy'), ('broker', 'rabbitmq'),
                        ('database', 'database')):
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
