"""The fake virt driver: a hypervisor that lives in one JSON file.

State, in ``<state_path>/fake-virt/state.json``::

    {"instances": {uuid: {"uuid", "power_state", "memory_mb", "vcpus",
                          "disk_gb", "flavor", "role", "migration_id"}},
     "claims":    {claim_id: {"instance_uuid", "memory_mb", "vcpus",
                              "disk_gb", "migration_id"}},
     "ledger":    {"<operation_id>/<step>": {"operation_id", "step",
                                             "instance_uuid", "result",
                                             "time"}}}

Every change is written atomically (a temporary file, fsync, rename), and a
step's ledger entry is written in the same write as the step's effect. So
a step called again with the same ``(operation_id, step)`` -- after a proxy
died and another resumed the operation, or after this compute restarted --
finds its entry and returns the stored result without doing anything: each
step's effect happens once. Two deliveries of one step that arrive while
the first is still running (a long disk copy) are serialised: the second
waits and then answers from the ledger.

Every applied effect (never a replay) is also appended, after the state is
written, to ``<state_path>/fake-virt/effects.jsonl`` as one JSON line
``{"operation_id", "step", "instance_uuid", "host", "time"}``; tests read it
to prove that each effect was seen exactly once.

Claims: a build claims the instance's resources under the claim id
``<instance_uuid>``; ``prep_resize`` claims the new flavor under
``migration-<migration_id>``. Used counters are the sum of the claims; a
claim that does not fit raises ``ComputeResourcesUnavailable``.

Failure injection (tests and demos): ``[compute] fake_fail_steps``, or the
environment variable ``NOVA_PROXY_FAKE_FAIL_STEPS`` (comma separated; when
set it replaces the option), names steps that raise ``StepFailed`` before
changing anything. Step names: ``spawn``, ``power_off``, ``power_on``,
``destroy``, and the migration steps named as their RPC methods.
"""

import contextlib
import copy
import datetime
import json
import os
import threading
import time

from oslo_log import log as logging

from nova_proxy.common import states
from nova_proxy.common import utils
from nova_proxy import conf
from nova_proxy.conf import compute as compute_conf
from nova_proxy import exception

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['FakeDriver', 'STEPS']

STEPS = ('spawn', 'power_off', 'power_on', 'destroy', 'prep_resize',
         'resize_instance', 'finish_resize', 'confirm_resize',
         'revert_resize', 'finish_revert_resize', 'abort_prep_resize')

# Roles of an instance on this hypervisor.
ACTIVE = 'active'
RESIZE_SOURCE = 'resize_source'
RESIZE_DEST = 'resize_dest'


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def _ledger_key(operation_id, step):
    return '%s/%s' % (operation_id, step)


def _migration_claim_id(migration_id):
    return 'migration-%s' % migration_id


def flavor_resources(flavor):
    """``{'memory_mb', 'vcpus', 'disk_gb'}`` of a flavor or an instance.

    :raises: InvalidRequest when a size is missing or not a whole number.
    """
    if not isinstance(flavor, dict):
        raise exception.InvalidRequest(method='claim',
                                       reason='flavor must be a dict')
    sizes = {}
    for field in ('memory_mb', 'vcpus', 'root_gb', 'ephemeral_gb'):
        value = flavor.get(field) or 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise exception.InvalidRequest(
                method='claim',
                reason='%s must be a whole number >= 0, not %r'
                       % (field, value))
        sizes[field] = value
    return {'memory_mb': sizes['memory_mb'], 'vcpus': sizes['vcpus'],
            'disk_gb': sizes['root_gb'] + sizes['ephemeral_gb']}


class FakeDriver:
    """The hypervisor of one compute host. Thread-safe."""

    def __init__(self, host, state_path, vcpus, memory_mb, local_gb,
                 copy_seconds=0.0, fail_steps=()):
        self.host = host
        self.directory = os.path.join(state_path, 'fake-virt')
        self.state_file = os.path.join(self.directory, 'state.json')
        self.effects_file = os.path.join(self.directory, 'effects.jsonl')
        self.capacity = {'vcpus': vcpus, 'memory_mb': memory_mb,
                         'local_gb': local_gb}
        self.copy_seconds = copy_seconds
        self._fail_steps = list(fail_steps or ())
        self._lock = threading.RLock()
        self._step_locks = utils.KeyedLocks()
        self._state = None

    @classmethod
    def from_conf(cls, host):
        c = CONF.compute
        return cls(host, CONF.state_path, vcpus=c.vcpus,
                   memory_mb=c.memory_mb, local_gb=c.local_gb,
                   copy_seconds=c.fake_copy_seconds,
                   fail_steps=c.fake_fail_steps)

    # -- state on disk ------------------------------------------------------

    def start(self):
        """Load the state left by a previous run (or start empty)."""
        os.makedirs(self.directory, exist_ok=True)
        with self._lock:
            try:
                with open(self.state_file) as f:
                    state = json.load(f)
            except FileNotFoundError:
                state = {}
            for key in ('instances', 'claims', 'ledger'):
                state.setdefault(key, {})
            self._state = state
        LOG.info('Fake virt driver of %(host)s: %(n)d instances, %(c)d '
                 'claims, %(l)d ledger entries in %(dir)s',
                 {'host': self.host, 'n': len(state['instances']),
                  'c': len(state['claims']), 'l': len(state['ledger']),
                  'dir': self.directory})

    def _write(self, state):
        tmp = self.state_file + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(state, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_file)
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _append_effect(self, operation_id, step, instance_uuid):
        line = json.dumps({'operation_id': operation_id, 'step': step,
                           'instance_uuid': instance_uuid,
                           'host': self.host, 'time': _now()})
        with open(self.effects_file, 'a') as f:
            f.write(line + '\n')
            f.flush()
            os.fsync(f.fileno())

    # -- failure injection --------------------------------------------------

    def fail_steps(self):
        """The steps told to fail: the environment variable wins."""
        value = os.environ.get(compute_conf.FAIL_STEPS_ENV)
        if value is not None:
            return [s.strip() for s in value.split(',') if s.strip()]
        return list(self._fail_steps)

    def _maybe_fail(self, step, operation_id, instance_uuid):
        if step in self.fail_steps():
            LOG.warning('Failing step %(step)s of instance %(uuid)s on '
                        'purpose (fake_fail_steps)',
                        {'step': step, 'uuid': instance_uuid})
            raise exception.StepFailed(
                step=step, operation_id=operation_id,
                reason='injected failure (fake_fail_steps) on host %s'
                       % self.host)

    # -- the step runner ----------------------------------------------------

    def _run(self, step, operation_id, instance_uuid, apply, work=None):
        """Apply a step once.

        ``work()`` is the slow part (the disk copy): it runs outside the
        state lock and changes nothing. ``apply(state, prepared)`` changes
        a copy of the state and returns the step's result (a JSON dict);
        the new state, with the ledger entry, is written in one atomic
        write. A step already in the ledger returns its stored result.
        """
        key = _ledger_key(operation_id, step) if operation_id else None
        with (self._step_locks.hold(key) if key
              else contextlib.nullcontext()):
            if key:
                with self._lock:
                    entry = self._state['ledger'].get(key)
                if entry is not None:
                    LOG.info('Step %(step)s of operation %(op)s was applied '
                             'at %(time)s; answering from the ledger',
                             {'step': step, 'op': operation_id,
                              'time': entry['time']})
                    return copy.deepcopy(entry['result'])
            self._maybe_fail(step, operation_id, instance_uuid)
            prepared = work() if work is not None else None
            with self._lock:
                state = copy.deepcopy(self._state)
                result = apply(state, prepared) or {}
                if key:
                    state['ledger'][key] = {
                        'operation_id': operation_id, 'step': step,
                        'instance_uuid': instance_uuid, 'result': result,
                        'time': _now()}
                self._write(state)
                self._state = state
                self._append_effect(operation_id, step, instance_uuid)
            LOG.info('Applied step %(step)s of instance %(uuid)s '
                     '(operation %(op)s)',
                     {'step': step, 'uuid': instance_uuid,
                      'op': operation_id})
            return copy.deepcopy(result)

    def step_done(self, operation_id, step):
        """Whether ``(operation_id, step)`` is in the ledger."""
        if not operation_id:
            return False
        with self._lock:
            return _ledger_key(operation_id, step) in self._state['ledger']

    # -- claims -------------------------------------------------------------

    def _usage(self, state):
        used = {'vcpus_used': 0, 'memory_mb_used': 0, 'local_gb_used': 0}
        for claim in state['claims'].values():
            used['vcpus_used'] += claim['vcpus']
            used['memory_mb_used'] += claim['memory_mb']
            used['local_gb_used'] += claim['disk_gb']
        used['running_vms'] = sum(
            1 for i in state['instances'].values()
            if i['power_state'] == states.POWER_RUNNING)
        return used

    def _claim(self, state, claim_id, instance_uuid, resources,
               migration_id=None, force=False):
        existing = state['claims'].get(claim_id)
        if existing is not None:
            return existing
        claim = dict(resources, instance_uuid=instance_uuid,
                     migration_id=migration_id)
        if force:
            state['claims'][claim_id] = claim
            return claim
        used = self._usage(state)
        free = {'vcpus': self.capacity['vcpus'] - used['vcpus_used'],
                'memory_mb': (self.capacity['memory_mb'] -
                              used['memory_mb_used']),
                'disk_gb': self.capacity['local_gb'] - used['local_gb_used']}
        short = ['%s: %d requested, %d free' % (name, resources[name],
                                                free[name])
                 for name in ('vcpus', 'memory_mb', 'disk_gb')
                 if resources[name] > free[name]]
        if short:
            raise exception.ComputeResourcesUnavailable(
                host=self.host, reason='; '.join(short))
        state['claims'][claim_id] = claim
        return claim

    def claim(self, instance_uuid, flavor):
        """Claim an instance's resources here (idempotent: a second claim
        for the same instance returns the first).

        :raises: ComputeResourcesUnavailable
        """
        resources = flavor_resources(flavor)
        with self._lock:
            state = copy.deepcopy(self._state)
            claim = self._claim(state, instance_uuid, instance_uuid,
                                resources)
            if state != self._state:
                self._write(state)
                self._state = state
            return copy.deepcopy(claim)

    def release_claim(self, claim_id):
        with self._lock:
            if claim_id not in self._state['claims']:
                return
            state = copy.deepcopy(self._state)
            del state['claims'][claim_id]
            self._write(state)
            self._state = state

    def usage(self):
        """Capacity and used counters, as a compute node record has them."""
        with self._lock:
            used = self._usage(self._state)
        return dict(self.capacity, **used)

    # -- lifecycle ----------------------------------------------------------

    def _record(self, instance_uuid, flavor, role=ACTIVE, migration_id=None,
                power_state=states.POWER_RUNNING):
        resources = flavor_resources(flavor)
        return {'uuid': instance_uuid, 'power_state': power_state,
                'memory_mb': resources['memory_mb'],
                'vcpus': resources['vcpus'], 'disk_gb': resources['disk_gb'],
                'flavor': flavor.get('instance_type_name') or
                flavor.get('name'),
                'role': role, 'migration_id': migration_id}

    def _instance(self, state, instance_uuid, step):
        instance = state['instances'].get(instance_uuid)
        if instance is None:
            raise exception.StepFailed(
                step=step, operation_id=None,
                reason='instance %s is not on the hypervisor of host %s'
                       % (instance_uuid, self.host))
        return instance

    def spawn(self, instance, operation_id=None):
        """Create and start ``instance`` (a dict with its uuid and flavor
        fields). Spawning an instance that exists is a no-op."""
        uuid = instance['uuid']

        def apply(state, _):
            if uuid not in state['instances']:
                state['instances'][uuid] = self._record(uuid, instance)
            return {}
        return self._run('spawn', operation_id, uuid, apply)

    def power_off(self, instance_uuid, operation_id=None):
        def apply(state, _):
            self._instance(state, instance_uuid,
                           'power_off')['power_state'] = states.POWER_SHUTDOWN
            return {}
        return self._run('power_off', operation_id, instance_uuid, apply)

    def power_on(self, instance_uuid, operation_id=None):
        def apply(state, _):
            self._instance(state, instance_uuid,
                           'power_on')['power_state'] = states.POWER_RUNNING
            return {}
        return self._run('power_on', operation_id, instance_uuid, apply)

    def destroy(self, instance_uuid, operation_id=None):
        """Remove the instance and every claim it holds here. Destroying
        an instance that is not here only releases its claims."""
        def apply(state, _):
            state['instances'].pop(instance_uuid, None)
            for claim_id in [c for c, claim in state['claims'].items()
                             if claim['instance_uuid'] == instance_uuid]:
                del state['claims'][claim_id]
            return {}
        return self._run('destroy', operation_id, instance_uuid, apply)

    def power_state(self, instance_uuid):
        """The instance's power state here, or None if it is not here."""
        with self._lock:
            instance = self._state['instances'].get(instance_uuid)
            return None if instance is None else instance['power_state']

    # -- migration steps ----------------------------------------------------

    def prep_resize(self, instance_uuid, migration_id, flavor, operation_id):
        """On the destination: claim ``flavor``'s resources.

        :returns: ``{'claim': {...}}``
        :raises: ComputeResourcesUnavailable
        """
        resources = flavor_resources(flavor)

        def apply(state, _):
            claim = self._claim(state, _migration_claim_id(migration_id),
                                instance_uuid, resources,
                                migration_id=migration_id)
            return {'claim': dict(claim, host=self.host)}
        return self._run('prep_resize', operation_id, instance_uuid, apply)

    def resize_instance(self, instance_uuid, migration_id, operation_id,
                        progress=None):
        """On the source: power off and copy the disk, calling
        ``progress(percent)`` as the copy goes."""
        def work():
            chunks = 10 if self.copy_seconds > 0 else 1
            for n in range(1, chunks + 1):
                if self.copy_seconds > 0:
                    time.sleep(self.copy_seconds / chunks)
                if progress is not None:
                    try:
                        progress(n * 100 // chunks)
                    except Exception:
                        # Progress is for humans: a lost report must not
                        # fail the copy.
                        LOG.warning('Could not report copy progress of '
                                    'instance %s', instance_uuid,
                                    exc_info=True)

        def apply(state, _):
            instance = state['instances'].get(instance_uuid)
            if instance is not None:
                instance['power_state'] = states.POWER_SHUTDOWN
                instance['role'] = RESIZE_SOURCE
                instance['migration_id'] = migration_id
            return {}
        return self._run('resize_instance', operation_id, instance_uuid,
                         apply, work=work)

    def finish_resize(self, instance_uuid, migration_id, flavor,
                      operation_id, power_on=True):
        """On the destination: create the instance with ``flavor``,
        holding the claim of ``prep_resize``; start it when ``power_on``
        (else it stays shut down, as it was stopped before the resize)."""
        resources = flavor_resources(flavor)

        def apply(state, _):
            self._claim(state, _migration_claim_id(migration_id),
                        instance_uuid, resources, migration_id=migration_id)
            state['instances'][instance_uuid] = self._record(
                instance_uuid, flavor, role=RESIZE_DEST,
                migration_id=migration_id,
                power_state=(states.POWER_RUNNING if power_on
                             else states.POWER_SHUTDOWN))
            return {}
        return self._run('finish_resize', operation_id, instance_uuid, apply)

    def confirm_resize(self, instance_uuid, migration_id, operation_id):
        """On the source: destroy the source copy and release its claims."""
        def apply(state, _):
            instance = state['instances'].get(instance_uuid)
            if instance is not None and instance['role'] == RESIZE_SOURCE:
                del state['instances'][instance_uuid]
            keep = _migration_claim_id(migration_id)
            for claim_id in [c for c, claim in state['claims'].items()
                             if claim['instance_uuid'] == instance_uuid
                             and c != keep]:
                del state['claims'][claim_id]
            return {}
        return self._run('confirm_resize', operation_id, instance_uuid,
                         apply)

    def revert_resize(self, instance_uuid, migration_id, operation_id):
        """On the destination: destroy the copy and release the claim."""
        def apply(state, _):
            instance = state['instances'].get(instance_uuid)
            if instance is not None and instance['role'] == RESIZE_DEST and \
                    instance['migration_id'] == migration_id:
                del state['instances'][instance_uuid]
            state['claims'].pop(_migration_claim_id(migration_id), None)
            return {}
        return self._run('revert_resize', operation_id, instance_uuid, apply)

    def finish_revert_resize(self, instance_uuid, migration_id, flavor,
                             operation_id, power_on=True):
        """On the source: bring the original back with ``flavor``,
        powered on when ``power_on`` (else shut down)."""
        resources = flavor_resources(flavor)

        def apply(state, _):
            state['instances'][instance_uuid] = self._record(
                instance_uuid, flavor,
                power_state=(states.POWER_RUNNING if power_on
                             else states.POWER_SHUTDOWN))
            held = [c for c, claim in state['claims'].items()
                    if claim['instance_uuid'] == instance_uuid and
                    c != _migration_claim_id(migration_id)]
            if not held:
                # The original's resources never left this host in a
                # normal revert; if they did, they come back regardless.
                self._claim(state, instance_uuid, instance_uuid, resources,
                            force=True)
            return {}
        return self._run('finish_revert_resize', operation_id, instance_uuid,
                         apply)

    def abort_prep_resize(self, instance_uuid, migration_id, operation_id):
        """On the destination: drop the claim of ``prep_resize``."""
        def apply(state, _):
            state['claims'].pop(_migration_claim_id(migration_id), None)
            return {}
        return self._run('abort_prep_resize', operation_id, instance_uuid,
                         apply)

    # -- monitoring ---------------------------------------------------------

    def get_state(self):
        """``{'instances', 'claims', 'ledger'}``, a copy."""
        with self._lock:
            return {key: copy.deepcopy(self._state[key])
                    for key in ('instances', 'claims', 'ledger')}
