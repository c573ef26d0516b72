"""Load through the shim during a fault, and the counts that judge it.

``ShimLoad`` runs callers in threads of the test process, each a compute
host writing its own instances through the shim (one ``rpc.call`` per
write, as nova-compute makes them): compare-and-swap updates
(``instance_update``) and plain inserts (``instance_fault_create``, which
no unique key protects, so a write applied twice shows as two rows).
Every write that returned success is recorded. After the fault, with the
proxies healthy again, ``Counts`` reads the database and tells:

* ``calls``, ``failed`` (by error name);
* ``lost``: acknowledged writes the database does not show (an instance
  whose stored counter is below the last acknowledged one, an
  acknowledged fault missing). Must be 0;
* ``duplicated``: a fault stored more than once. Must be 0;
* ``longest_gap``: the longest time, in seconds, with no successful call
  in any caller.

Only the test's process reads the database, with the admin context; the
callers reach the proxies through RabbitMQ like any compute.
"""

import collections
import os
import threading
import time

import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy.common import states
from nova_proxy.compute import db_v1 as shim
from nova_proxy import conf
from nova_proxy.db import api as db
from nova_proxy.db import migration
from nova_proxy.db import session as db_session
from tests.functional import orchestration_fixtures as of

__all__ = ['ShimLoad', 'Counts', 'orchestra_on', 'under_load']

CONF = conf.CONF

# One fault in this many writes.
FAULT_EVERY = 4

# CI runs the fault scenarios short; NOVA_PROXY_FAULTS=full runs more
# callers for longer (docs/operations.rst).
FULL = os.environ.get('NOVA_PROXY_FAULTS') == 'full'
CALLERS = 8 if FULL else 3
# Seconds of load after the fault.
LOAD_AFTER = 60 if FULL else 4
BUILDS = 6 if FULL else 2


class Counts:

    def __init__(self):
        self.calls = 0
        self.failed = collections.Counter()
        self.lost = []
        self.duplicated = []
        self.longest_gap = 0.0
        self.unfinished_operations = []

    def as_dict(self):
        return {'calls': self.calls, 'failed': dict(self.failed),
                'lost': len(self.lost), 'duplicated': len(self.duplicated),
                'unfinished_operations': len(self.unfinished_operations),
                'longest_gap_s': round(self.longest_gap, 2)}

    def __str__(self):
        return ', '.join('%s=%s' % item for item in self.as_dict().items())

    def assert_nothing_lost(self):
        assert not self.lost, ('acknowledged writes lost', self.lost[:10],
                               str(self))
        assert not self.duplicated, ('writes applied twice',
                                     self.duplicated[:10], str(self))
        assert not self.unfinished_operations, (
            'operations neither finished nor rolled back',
            self.unfinished_operations, str(self))


class _Caller:

    def __init__(self, host, instance_uuid):
        self.host = host
        self.instance_uuid = instance_uuid
        self.context = np_context.get_compute_context(host)
        self.acked_counter = 0
        self.acked_faults = []
        self.calls = 0
        self.failed = collections.Counter()
        # (when the call began, error name) of each failed call.
        self.failures = []
        self.successes = []


# Loads started and not yet stopped, for stop_all().
_started = []


def stop_all():
    """Stop every load still running: call it in a test's clean-up, also
    when the test failed (a caller left running holds the shim's
    transport, and the next test's clean-up would wait on it forever)."""
    while _started:
        _started.pop().stop()


class ShimLoad:
    """``callers`` compute hosts, one instance each, writing until
    ``stop()``."""

    def __init__(self, callers=4, prefix='load'):
        # The shim's client may have been built on an earlier test's
        # configuration.
        shim.reset()
        self.callers = []
        admin = np_context.get_admin_context()
        for n in range(callers):
            host = '%s-%d' % (prefix, n)
            instance = db.instance_create(admin, {
                'host': host, 'node': host, 'vm_state': 'active',
                'display_name': '0'})
            self.callers.append(_Caller(host, instance['uuid']))
        self._stop = threading.Event()
        self._threads = []
        self.started = None
        self.stopped = None

    def start(self):
        _started.append(self)
        self.started = time.monotonic()
        for caller in self.callers:
            thread = threading.Thread(target=self._run, args=(caller,),
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout=120):
        if self.stopped is not None:
            return
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
            assert not thread.is_alive(), 'a caller did not stop'
        self.stopped = time.monotonic()

    def successes(self):
        return sum(len(c.successes) for c in self.callers)

    def wait_successes(self, more, timeout=120):
        """Until ``more`` calls succeeded beyond those so far."""
        target = self.successes() + more
        deadline = time.monotonic() + timeout
        while self.successes() < target:
            assert time.monotonic() < deadline, (
                'the load made no progress: %s' % self.failures())
            time.sleep(0.05)

    def failed_since(self, when):
        """Names of the errors of the calls that began after ``when``
        (``time.monotonic()``) and failed."""
        return sorted(name for caller in self.callers
                      for began, name in caller.failures if began > when)

    def failures(self):
        total = collections.Counter()
        for caller in self.callers:
            total.update(caller.failed)
        return total

    def _run(self, caller):
        n = 0
        while not self._stop.is_set():
            n += 1
            caller.calls += 1
            began = time.monotonic()
            try:
                if n % FAULT_EVERY == 0:
                    message = '%s-%d' % (caller.host, n)
                    shim.instance_fault_create(caller.context, {
                        'instance_uuid': caller.instance_uuid, 'code': 500,
                        'message': message, 'details': 'load'})
                    caller.acked_faults.append(message)
                else:
                    shim.instance_update(caller.context,
                                         caller.instance_uuid,
                                         {'display_name': str(n)})
                    caller.acked_counter = n
                caller.successes.append(time.monotonic())
            except Exception as e:
                caller.failed[type(e).__name__] += 1
                caller.failures.append((began, type(e).__name__))
                # A caller that fails fast must not spin.
                time.sleep(0.05)

    def counts(self, counts=None):
        """Read back every caller's writes (admin, from the database)."""
        counts = counts or Counts()
        admin = np_context.get_admin_context()
        times = []
        for caller in self.callers:
            counts.calls += caller.calls
            counts.failed.update(caller.failed)
            times.extend(caller.successes)
            stored = int(db.instance_get_by_uuid(
                admin, caller.instance_uuid)['display_name'])
            if stored < caller.acked_counter:
                counts.lost.append((caller.instance_uuid, 'counter',
                                    caller.acked_counter, stored))
            faults = collections.Counter(
                f['message'] for f in db.instance_fault_get_by_instance_uuids(
                    admin, [caller.instance_uuid])[caller.instance_uuid])
            for message in caller.acked_faults:
                if faults[message] == 0:
                    counts.lost.append((caller.instance_uuid, 'fault',
                                        message))
            counts.duplicated.extend(
                (caller.instance_uuid, m, c) for m, c in faults.items()
                if c > 1)
        times.sort()
        edges = [self.started] + times + [self.stopped or time.monotonic()]
        counts.longest_gap = max(b - a for a, b in zip(edges, edges[1:]))
        return counts


def orchestra_on(cluster, url):
    """An ``Orchestra`` whose processes, and this one, use the database at
    ``url`` (migrated here)."""
    # The shim's client may have been built on an earlier test's
    # configuration (the tests that call it without a ShimLoad too).
    shim.reset()
    engine = sa.create_engine(url)
    migration.db_sync(engine=engine)
    engine.dispose()
    CONF.set_override('connection', url, group='database')
    db_session.dispose()
    cluster.db_url = url
    return of.Orchestra(cluster, url)


def build_values(n, prefix='load'):
    """``build_instance`` values of the small flavor."""
    return dict(display_name='%s-%d' % (prefix, n),
                instance_type_name=of.FLAVOR['name'],
                memory_mb=of.FLAVOR['memory_mb'], vcpus=of.FLAVOR['vcpus'],
                root_gb=of.FLAVOR['root_gb'])


def finish_operations(orchestra, operation_ids, counts, timeout=180):
    """Wait for each operation to end; those that do not go to
    ``counts.unfinished_operations``. Ended ones must have left their
    instance with no task in progress (finished, or rolled back)."""
    for op_id in operation_ids:
        try:
            record = orchestra.wait_finished(op_id, timeout=timeout)
        except AssertionError:
            counts.unfinished_operations.append(orchestra.op(op_id))
            continue
        instance = orchestra.instance(record['instance_uuid'])
        assert instance['task_state'] is None, (record, instance)


def under_load(orchestra, fault, label):
    """Two proxies and two computes; while the shim load writes and a
    resize and builds run, ``fault()``; then count and assert the zeros.
    Returns the ``Counts``."""
    o = orchestra
    o.start_proxy('p1')
    o.start_proxy('p2')
    o.start_compute('cmp1')
    o.start_compute('cmp2')
    (moving,) = o.build(1, host='cmp1')

    try:
        return _under_load(o, fault, label, moving)
    finally:
        stop_all()


def _under_load(o, fault, label, moving):
    load = ShimLoad(callers=CALLERS).start()
    load.wait_successes(20)
    resize = o.api.migrate_server(o.ctx, moving, flavor=of.BIG,
                                  operation_id='resize-under-fault')
    builds = [o.api.build_instance(o.ctx, build_values(n))['id']
              for n in range(BUILDS)]

    fault()
    faulted = time.monotonic()
    # The load goes on after the fault.
    load.wait_successes(20, timeout=180)
    while time.monotonic() - faulted < LOAD_AFTER:
        time.sleep(0.2)
    load.stop()

    counts = Counts()
    finish_operations(o, [resize['id']] + builds, counts)
    load.counts(counts)
    print('\n%s: %s' % (label, counts))
    counts.assert_nothing_lost()

    resized = o.op('resize-under-fault')
    if resized['status'] == states.OP_DONE:
        o.assert_migrated(resized, moving)
        o.assert_effects_once([resized['id']], of.MIGRATION_STEPS)
    return counts
