"""Helpers of the orchestration functional tests: a cluster of real proxy
and compute processes on RabbitMQ and PostgreSQL with short deadlines,
and readers of what happened (journal, instances, the fake driver's
effects log)."""

import collections
import json
import os

from nova_proxy.common import context as np_context
from nova_proxy import conf
from nova_proxy.db import api as db_api
from nova_proxy.orchestration import hooks
from nova_proxy.orchestration import journal
from nova_proxy.orchestration import rpcapi
from nova_proxy.orchestration import scheduler
from nova_proxy.proxy import liveness
from tests.functional import periodic_fixtures as pf
from tests.functional.procs import wait_for

CONF = conf.CONF

FLAVOR = {'name': 'm1.small', 'memory_mb': 256, 'vcpus': 1, 'root_gb': 1}
BIG = {'name': 'm1.medium', 'memory_mb': 512, 'vcpus': 2, 'root_gb': 2}

LIVENESS_DEADLINE = 4
COMPUTE_WAIT_DEADLINE = 6
SERVICE_DOWN_TIME = 3


def proxy_options(liveness_deadline=LIVENESS_DEADLINE):
    options = pf.periodic_options(enabled=(), interval=60,
                                  service_down_time=SERVICE_DOWN_TIME)
    options.update({
        'proxy': {'heartbeat_interval': '1',
                  'liveness_deadline': str(liveness_deadline)},
        'orchestration': {'poll_interval': '0.5',
                          'compute_wait_deadline': str(COMPUTE_WAIT_DEADLINE),
                          'max_attempts': '3'},
        'compute': {'rpc_timeout': '20', 'call_monitor_timeout': '2'},
    })
    return options


COMPUTE_OPTIONS = {'compute': {'report_interval': '1',
                               'fake_copy_seconds': '1.5',
                               'resource_update_interval': '1'}}


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

    # -- processes --------------------------------------------------------

    def start_proxy(self, name, hook=None, liveness_deadline=None,
                    wait=True):
        env = {hooks.ENV: hook} if hook else {hooks.ENV: ''}
        proc = self.cluster.start(
            'proxy', name,
            extra=proxy_options(liveness_deadline or LIVENESS_DEADLINE),
            env=env)
        self.procs[name] = proc
        if wait:
            wait_for(lambda: name in liveness.live_members(
                self.ctx, deadline=LIVENESS_DEADLINE), timeout=60,
                message='proxy %s live' % name)
        return proc

    def start_compute(self, name, wait=True, env=None):
        proc = self.cluster.start('compute', name, extra=COMPUTE_OPTIONS,
                                  env=env)
        self.procs[name] = proc
        if wait:
            wait_for(lambda: scheduler.compute_host_up(self.ctx, name) and
                     scheduler.hosts_with_room(self.ctx, FLAVOR),
                     timeout=60, message='compute %s up' % name)
        return proc

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
            return record if record['status'] in journal.FINAL_STATUSES \
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
