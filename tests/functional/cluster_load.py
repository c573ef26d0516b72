"""Load for fault scenarios, and its accounting: shim calls from several
simulated compute hosts, and builds then resizes through the
orchestration, run from this process while a test breaks something.

``ShimLoad``: one thread per simulated host, each writing its own
instance in a loop (``instance_update``, then
``instance_update_and_get_original``), every write numbered. A write whose
call returned is acknowledged; at the end the database must hold, for each
instance, that write or a later one (a failed call may still have been
applied): otherwise an acknowledged write was lost.

``OperationLoad``: builds one instance at a time with an operation id of
its own, then resizes it, each request repeated with the same id until a
proxy answers (what a caller that lost a reply does). At the end every
operation must be final and every build must have made one instance.

``Report``: the counts, printed, with the longest time no shim call
succeeded.
"""

import collections
import threading
import time

from nova_proxy.common import context as np_context
from nova_proxy.common import states
from nova_proxy.compute import db_v1 as shim
from nova_proxy.db import api as db_api
from nova_proxy import exception
from tests.functional import orchestration_fixtures as of
from tests.functional.procs import wait_for

__all__ = ['OperationLoad', 'Report', 'ShimLoad']


class ShimLoad:
    """Numbered writes from ``hosts`` simulated compute hosts."""

    def __init__(self, hosts, pause=0.02):
        self.pause = pause
        admin = np_context.get_admin_context()
        self.instances = {}
        for n in range(hosts):
            host = 'sim-%d' % n
            instance = db_api.instance_create(admin, {
                'host': host, 'node': host, 'vm_state': 'active',
                'display_name': '%s-0' % host})
            self.instances[host] = instance['uuid']
        self.lock = threading.Lock()
        self.calls = 0
        self.failed = collections.Counter()
        self.successes = []          # monotonic times
        self.acked = {}              # host: highest acknowledged write
        self._stop = threading.Event()
        self._threads = []

    def start(self):
        for host in self.instances:
            thread = threading.Thread(target=self._run, args=(host,),
                                      name='shim-' + host, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, host):
        ctx = np_context.get_compute_context(host)
        uuid = self.instances[host]
        n = 0
        while not self._stop.is_set():
            n += 1
            values = {'display_name': '%s-%d' % (host, n)}
            try:
                if n % 2:
                    shim.instance_update(ctx, uuid, values)
                else:
                    shim.instance_update_and_get_original(ctx, uuid, values)
            except Exception as e:
                with self.lock:
                    self.calls += 1
                    self.failed[type(e).__name__] += 1
            else:
                with self.lock:
                    self.calls += 1
                    self.successes.append(time.monotonic())
                    self.acked[host] = n
            time.sleep(self.pause)

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)
        assert not any(t.is_alive() for t in self._threads), \
            'a shim call outlived its deadline'

    def lost(self):
        """``{host: (acknowledged, in the database)}`` for every instance
        whose database value is older than its last acknowledged write."""
        admin = np_context.get_admin_context()
        lost = {}
        for host, uuid in self.instances.items():
            name = db_api.instance_get_by_uuid(admin, uuid)['display_name']
            stored = int(name.rsplit('-', 1)[1])
            if stored < self.acked.get(host, 0):
                lost[host] = (self.acked[host], stored)
        return lost

    def longest_gap(self, since, until):
        times = sorted(t for t in self.successes if since <= t <= until)
        edges = [since] + times + [until]
        return max(b - a for a, b in zip(edges, edges[1:]))


class OperationLoad:
    """Builds then resizes, one instance at a time, through any proxy."""

    def __init__(self, orchestra, retry_for=120):
        self.o = orchestra
        self.retry_for = retry_for
        self.builds = []             # (operation id, display name)
        self.operations = []
        self.failed = collections.Counter()
        self.refused = collections.Counter()
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='operations')
        self._thread.start()
        return self

    def _request(self, method, *args, **kwargs):
        """Call until a proxy answers; the same operation id each time."""
        deadline = time.monotonic() + self.retry_for
        while True:
            try:
                return method(self.o.ctx, *args, **kwargs)
            except exception.NovaProxyException as e:
                # A named refusal is an answer, not a fault: counted.
                self.refused[type(e).__name__] += 1
                return None
            except Exception as e:
                self.failed[type(e).__name__] += 1
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def _run(self):
        k = 0
        while not self._stop.is_set():
            k += 1
            name = 'load-vm-%d' % k
            op_id = 'load-build-%d' % k
            values = dict(display_name=name,
                          instance_type_name=of.FLAVOR['name'],
                          memory_mb=of.FLAVOR['memory_mb'],
                          vcpus=of.FLAVOR['vcpus'],
                          root_gb=of.FLAVOR['root_gb'])
            op = self._request(self.o.api.build_instance, values,
                               operation_id=op_id)
            if op is None:
                continue
            self.builds.append((op_id, name))
            self.operations.append(op_id)
            record = self.o.wait_finished(op_id, timeout=self.retry_for)
            if record['status'] != states.OP_DONE:
                continue
            resize_id = 'load-resize-%d' % k
            if self._request(self.o.api.migrate_server, op['instance_uuid'],
                             flavor=of.BIG, operation_id=resize_id) is None:
                continue
            self.operations.append(resize_id)
            self.o.wait_finished(resize_id, timeout=self.retry_for)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=3 * self.retry_for)
        assert not self._thread.is_alive(), 'operations load stuck'

    def unfinished(self, timeout=180):
        """Operations still pending or running after ``timeout``."""
        def final():
            return all(self.o.op(op_id)['status'] in states.OP_FINAL_STATUSES
                       for op_id in self.operations)
        try:
            wait_for(final, timeout=timeout, interval=1,
                     message='every operation final')
        except AssertionError:
            pass
        return [op_id for op_id in self.operations
                if self.o.op(op_id)['status'] not in
                (states.OP_DONE, states.OP_ROLLED_BACK)]

    def duplicated(self):
        """Builds that made more than one instance."""
        admin = np_context.get_admin_context()
        counts = collections.Counter(
            i['display_name'] for i in db_api.instance_get_all(admin)
            if i['display_name'].startswith('load-vm-'))
        return {name: counts[name] for _op, name in self.builds
                if counts[name] != 1}

    def statuses(self):
        return collections.Counter(self.o.op(op_id)['status']
                                   for op_id in self.operations)


class Report:
    """The counts of one fault, printed for the log of the run."""

    def __init__(self, fault, shim_load, op_load, since, until):
        self.fault = fault
        self.calls = shim_load.calls
        self.failed = dict(shim_load.failed)
        self.lost = shim_load.lost()
        self.longest_gap = shim_load.longest_gap(since, until)
        self.duplicated = op_load.duplicated()
        self.unfinished = op_load.unfinished()
        self.operations = dict(op_load.statuses())
        self.operation_retries = dict(op_load.failed)
        self.refused = dict(op_load.refused)

    def print(self):
        print('\n== %s ==' % self.fault)
        print('shim calls made: %d' % self.calls)
        print('shim calls failed, by error: %s' % (self.failed or 0))
        print('acknowledged writes lost: %d %s' % (len(self.lost),
                                                   self.lost or ''))
        print('operations: %s; API calls repeated, by error: %s' % (
            self.operations, self.operation_retries or 0))
        print('operation requests refused by name: %s' % (self.refused or 0))
        print('duplicated creates: %d %s' % (len(self.duplicated),
                                             self.duplicated or ''))
        print('operations not finished or rolled back: %d %s' % (
            len(self.unfinished), self.unfinished or ''))
        print('longest time with no successful shim call: %.1f s'
              % self.longest_gap)

    def assert_zeros(self):
        assert not self.lost, self.lost
        assert not self.duplicated, self.duplicated
        assert not self.unfinished, self.unfinished
