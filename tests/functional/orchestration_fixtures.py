"""Helpers of the orchestration functional tests: a cluster of real proxy
and compute processes on RabbitMQ and PostgreSQL with short deadlines,
and readers of what happened (journal, instances, the fake driver's
effects log)."""

import collections
import json
import os

import pytest

from nova_proxy.common import context as np_context
from nova_proxy.common import states
from nova_proxy import conf
from nova_proxy.db import api as db_api
from nova_proxy.orchestration import hooks
from nova_proxy.orchestration import journal
from nova_proxy.orchestration import rpcapi
from nova_proxy.orchestration import scheduler
from nova_proxy.proxy import liveness
from tests.functional import periodic_fixtures as pf
from tests.functional.procs import merge_options as _merge
from tests.functional.procs import wait_for

CONF = conf.CONF

FLAVOR = {'name': 'm1.small', 'memory_mb': 256, 'vcpus': 1, 'root_gb': 1}
BIG = {'name': 'm1.medium', 'memory_mb': 512, 'vcpus': 2, 'root_gb': 2}

LIVENESS_DEADLINE = 4
COMPUTE_WAIT_DEADLINE = 6
SERVICE_DOWN_TIME = 5


def topics(exchange):
    """Topics of this test only. A per-test exchange is not enough: the
    rabbit driver names a topic's queue after the topic alone, so every
    exchange's ``compute_proxy`` messages meet in one queue, and other
    tests' proxies running at the same time would answer ours."""
    return {'proxy': {'topic': 'compute_proxy-%s' % exchange},
            'compute': {'topic': 'compute-%s' % exchange}}


def proxy_options(exchange, liveness_deadline=LIVENESS_DEADLINE):
    return _merge(
        pf.periodic_options(enabled=(), interval=60,
                            service_down_time=SERVICE_DOWN_TIME),
        {'proxy': {'heartbeat_interval': '1',
                   'liveness_deadline': str(liveness_deadline)},
         'orchestration': {'poll_interval': '0.5',
                           'compute_wait_deadline':
                               str(COMPUTE_WAIT_DEADLINE),
                           'max_attempts': '3'},
         'compute': {'rpc_timeout': '20', 'call_monitor_timeout': '2'},
         # A paused proxy then holds one unanswered shim call, not every
         # n-th call it is dealt (RabbitMQ stops feeding an unacking
         # consumer once it holds its prefetch).
         'oslo_messaging_rabbit': {'rabbit_qos_prefetch_count': '1'}},
        topics(exchange))


def compute_options(exchange):
    # A SIGSTOPped proxy still holds the shim calls RabbitMQ delivered to
    # it: a short timeout and retries send them to a live proxy instead.
    return _merge({'compute': {'report_interval': '1',
                               'fake_copy_seconds': '1.5',
                               'resource_update_interval': '1'},
                   'proxy_client': {'rpc_timeout': '3', 'retries': '5',
                                    'retry_interval': '0.2'}},
                  topics(exchange))


class Orchestra:
    """The test's view of a cluster: start processes, call the API, read
    the results."""

    def __init__(self, cluster, db_url):
        self.cluster = cluster
        self.ctx = np_context.get_admin_context()
        self.api = rpcapi.ComputeTaskAPI(timeout=30)
        self.procs = {}
        CONF.set_override('service_down_time', SERVICE_DOWN_TIME,
                          group='periodic')
        for group, values in topics(cluster.exchange).items():
            CONF.set_override('topic', values['topic'], group=group)

    # -- processes --------------------------------------------------------

    def start_proxy(self, name, hook=None, liveness_deadline=None,
                    wait=True, extra=None, prefix=None):
        env = {hooks.ENV: hook} if hook else {hooks.ENV: ''}
        proc = self.cluster.start(
            'proxy', name,
            extra=_merge(proxy_options(self.cluster.exchange,
                                       liveness_deadline or
                                       LIVENESS_DEADLINE), extra or {}),
            env=env, prefix=prefix)
        self.procs[name] = proc
        if wait:
            self.wait_live(name)
        return proc

    def wait_live(self, name):
        wait_for(lambda: name in liveness.live_members(
            self.ctx, deadline=LIVENESS_DEADLINE), timeout=60,
            message='proxy %s live' % name)

    def start_compute(self, name, wait=True, env=None, extra=None,
                      prefix=None):
        proc = self.cluster.start(
            'compute', name,
            extra=_merge(compute_options(self.cluster.exchange),
                         extra or {}),
            env=env, prefix=prefix)
        self.procs[name] = proc
        if wait:
            wait_for(lambda: scheduler.compute_host_up(self.ctx, name) and
                     scheduler.hosts_with_room(self.ctx, FLAVOR),
                     timeout=60, message='compute %s up' % name)
        return proc

    def stopped_worker(self, name):
        """The pid of a process of ``name``'s group that is stopped
        (SIGSTOP by its step hook), or None."""
        group = self.procs[name].pid
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % entry) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            # After the command: state, ppid, pgrp, ...
            if int(fields[2]) == group and fields[0] == 'T':
                return int(entry)
        return None

    def wait_stopped(self, name, timeout=90):
        return wait_for(lambda: self.stopped_worker(name), timeout=timeout,
                        interval=0.1, message='%s stopped by its hook' % name)

    def kill(self, name):
        """``kill -9`` the whole process group (launcher and worker)."""
        self.procs[name].kill()

    def kill_all(self):
        for proc in self.cluster.processes:
            if proc.alive():
                proc.kill()

    # -- API --------------------------------------------------------------

    def call(self, proxy, method, **kwargs):
        """Call the orchestration API of one given proxy (its own queue),
        so that the test knows which proxy owns the operation."""
        client = self.api.client.prepare(server=proxy, version='1.0')
        return client.call(self.ctx, method, **kwargs)

    def build(self, count, host='cmp1', proxy=None):
        """Build ``count`` instances on ``host``; returns their uuids once
        active."""
        ops = []
        for n in range(count):
            values = dict(display_name='vm%d' % n,
                          instance_type_name=FLAVOR['name'],
                          memory_mb=FLAVOR['memory_mb'],
                          vcpus=FLAVOR['vcpus'], root_gb=FLAVOR['root_gb'])
            if proxy:
                ops.append(self.call(proxy, 'build_instance', values=values,
                                     host=host, operation_id=None))
            else:
                ops.append(self.api.build_instance(self.ctx, values,
                                                   host=host))
        for op in ops:
            assert self.wait_finished(op['id'])['status'] == 'done'
        return [op['instance_uuid'] for op in ops]

    # -- reading ----------------------------------------------------------

    def op(self, operation_id):
        return journal.get(self.ctx, operation_id)

    def wait_finished(self, operation_id, timeout=90):
        def finished():
            record = self.op(operation_id)
            return record if record['status'] in states.OP_FINAL_STATUSES \
                else None
        return wait_for(finished, timeout=timeout, interval=0.2,
                        message='operation %s finished' % operation_id)

    def wait_step(self, operation_id, step, timeout=60, progress=False):
        """Until the operation is at ``step`` (and, with ``progress``, its
        migration has copied something)."""
        def at_step():
            record = self.op(operation_id)
            if record['step'] != step:
                return None
            if progress:
                migration = db_api.migration_get(self.ctx,
                                                 record['migration_id'])
                return record if (migration['progress'] or 0) > 0 else None
            return record
        return wait_for(at_step, timeout=timeout, interval=0.05,
                        message='operation %s at %s' % (operation_id, step))

    def instance(self, uuid):
        return db_api.instance_get_by_uuid(self.ctx, uuid)

    def migration(self, record):
        return db_api.migration_get(self.ctx, record['migration_id'])

    def effects(self):
        """``Counter((operation_id, step))`` of the effects every compute
        applied (replays from the ledger are not in the log)."""
        counts = collections.Counter()
        for name, proc in self.procs.items():
            if proc.kind != 'compute':
                continue
            path = os.path.join(self.cluster.directory, 'state-' + name,
                                'fake-virt', 'effects.jsonl')
            if not os.path.exists(path):
                continue
            with open(path) as f:
                for line in f:
                    if line.strip():
                        effect = json.loads(line)
                        counts[(effect['operation_id'],
                                effect['step'])] += 1
        return counts

    def assert_effects_once(self, operation_ids, steps):
        effects = self.effects()
        for op_id in operation_ids:
            for step in steps:
                assert effects[(op_id, step)] == 1, (op_id, step, effects)
        repeated = {k: v for k, v in effects.items() if v != 1}
        assert not repeated, repeated

    def assert_migrated(self, record, uuid, dest='cmp2', vm_state='resized'):
        assert record['status'] == 'done', record
        instance = self.instance(uuid)
        assert (instance['host'], instance['vm_state'],
                instance['task_state']) == (dest, vm_state, None)
        assert self.migration(record)['status'] == 'finished'

    def assert_on_source_clean(self, record, uuid, source='cmp1'):
        instance = self.instance(uuid)
        assert (instance['host'], instance['vm_state'],
                instance['task_state']) == (source, 'active', None)
        assert self.migration(record)['status'] == 'error'
        faults = db_api.instance_fault_get_by_instance_uuids(
            self.ctx, [uuid])[uuid]
        assert faults, 'no fault recorded'


MIGRATION_STEPS = ('prep_resize', 'resize_instance', 'finish_resize')


@pytest.fixture
def orchestra(cluster, tmp_path):
    """An ``Orchestra`` on a fresh PostgreSQL database; every process is
    killed at the end (graceful stops only cost time here)."""
    url = pf.postgresql(tmp_path)
    cluster.db_url = url
    orchestra = Orchestra(cluster, url)
    yield orchestra
    orchestra.kill_all()
    pf.drop(url)
