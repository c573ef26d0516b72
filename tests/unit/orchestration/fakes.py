"""A fake compute API for orchestration unit tests.

It behaves as the contract in COMPUTE_API.md says the compute service
does where the engine can tell: each step is idempotent by
``(operation_id, step)`` (a repeated call returns the stored result and
applies nothing), ``build_and_run_instance`` leaves the instance active,
a failing step raises ``StepFailed``, and a host that is "down" does not
answer (``MessagingTimeout``). It records every call with the instance's
task_state and the migration's status at the time, so tests can check
nova's order of states.
"""

import threading

import oslo_messaging as messaging

from nova_proxy.common import context as np_context
from nova_proxy import exception
from nova_proxy.db import api as db_api


class FakeCompute:

    def __init__(self):
        self.calls = []        # every call: dict
        self.effects = []      # (operation_id, step): applied once each
        self.ledger = {}
        self.fail_steps = set()
        self.down_hosts = set()
        self.on_call = {}      # step -> fn(kwargs) run before applying
        self.after_effect = {}  # step -> fn(kwargs) run after applying
        self._lock = threading.Lock()

    def __getattr__(self, step):
        if step.startswith('_'):
            raise AttributeError(step)

        def call(context, host, **kwargs):
            return self._call(step, host, kwargs)
        return call

    def _snapshot(self, kwargs):
        ctx = np_context.get_admin_context()
        instance = db_api.instance_get_by_uuid(ctx, kwargs['instance_uuid'])
        migration = None
        if kwargs.get('migration_id') is not None:
            migration = db_api.migration_get(ctx, kwargs['migration_id'])
        return instance, migration

    def _call(self, step, host, kwargs):
        if host in self.down_hosts:
            raise messaging.MessagingTimeout('fake: %s is down' % host)
        instance, migration = self._snapshot(kwargs)
        self.calls.append({
            'step': step, 'host': host, 'kwargs': kwargs,
            'task_state': instance['task_state'],
            'vm_state': instance['vm_state'],
            'migration_status': migration and migration['status']})
        if step in self.on_call:
            self.on_call[step](kwargs)
        key = (kwargs.get('operation_id'), step)
        with self._lock:
            if key in self.ledger:
                return self.ledger[key]
        if step in self.fail_steps:
            if step == 'build_and_run_instance':
                ctx = np_context.get_admin_context()
                db_api.instance_update(ctx, kwargs['instance_uuid'], {
                    'vm_state': 'error', 'task_state': None})
                db_api.instance_fault_create(ctx, {
                    'instance_uuid': kwargs['instance_uuid'],
                    'message': 'fake spawn failure', 'host': host})
            raise exception.StepFailed(step=step,
                                       operation_id=key[0],
                                       reason='fake failure')
        result = {}
        if step == 'build_and_run_instance':
            ctx = np_context.get_admin_context()
            result = db_api.instance_update(ctx, kwargs['instance_uuid'], {
                'vm_state': 'active', 'task_state': None,
                'power_state': 1})
        if step == 'resize_instance':
            ctx = np_context.get_admin_context()
            db_api.migration_update(ctx, kwargs['migration_id'],
                                    {'progress': 100})
        with self._lock:
            self.ledger[key] = result
            self.effects.append(key)
        if step in self.after_effect:
            self.after_effect[step](kwargs)
        return result

    def steps(self):
        return [c['step'] for c in self.calls]
