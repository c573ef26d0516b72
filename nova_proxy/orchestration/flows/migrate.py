"""Cold migration and resize, then confirm or revert, in nova's order.

Migration (``MigrateFlow``), each step a call on a compute host:

====================  ======  ==========================  ==================
step                  host    instance task_state         migration status
====================  ======  ==========================  ==================
(accepted)            -       None -> resize_prep         pre-migrating
prep_resize           dest    resize_prep                 pre-migrating
resize_instance       source  resize_migrating ->         migrating ->
                              resize_migrated             post-migrating
finish_resize         dest    resize_finish -> None,      finished
                              vm_state resized, host dest
====================  ======  ==========================  ==================

Confirm (``ConfirmFlow``): ``confirm_resize`` on the source cleans it up;
migration confirmed, vm_state back to what it was before the resize.
Revert (``RevertFlow``): ``revert_resize`` on the destination destroys the
copy there, ``finish_revert_resize`` on the source powers the original on
with the old flavor; the instance is back on the source host, old flavor,
vm_state as before; migration reverted.

The migration row is nova's: ``source_compute``/``source_node`` the
instance's host and node, ``dest_compute``/``dest_node`` the chosen host
and its node's ``hypervisor_hostname``, ``dest_compute_id`` that node's
id, ``dest_host`` its ``host_ip``, ``migration_type`` ``resize`` (a flavor
was given) or ``migration``, ``old``/``new_instance_type_id``, and
nova's statuses above. nova's conductor creates it with the source only
and the destination compute fills in the destination when it claims
(``ResourceTracker._move_claim``); the orchestration names the
destination when it schedules, which is more than nova's conductor does:
the destination's host scope (``docs/wire.rst``, ``migration_update``)
rests on it. The instance's ``host``, ``node``, ``compute_id`` and its
flavor (``instance_extra.flavor`` and the flavor columns, see
``flavors``) move as nova's compute manager moves them.

A stopped instance stays stopped, as in nova: ``finish_resize`` and
``finish_revert_resize`` (also as an undo) get ``power_on`` False when the
vm_state before the resize was ``stopped`` (compute API 1.1), and the
instance's ``power_state`` is written from that vm_state.

Rollback of a failed migration runs, in reverse, the undo of each started
step: ``finish_resize`` is undone by ``revert_resize`` on the destination
(which also drops its claim), ``resize_instance`` by
``finish_revert_resize`` on the source, ``prep_resize`` (alone) by
``abort_prep_resize`` on the destination. The instance ends on the source,
with its old flavor and vm_state, task_state None, a fault recorded and the
migration in ``error``.
"""

from nova_proxy.common import states
from nova_proxy import exception
from nova_proxy.db import api as db_api
from nova_proxy.orchestration import flavors
from nova_proxy.orchestration.flows import base
from nova_proxy.orchestration import scheduler

__all__ = ['MigrateFlow', 'ConfirmFlow', 'RevertFlow', 'accept_migrate',
           'accept_confirm', 'accept_revert', 'FLAVOR_FIELDS']

FLAVOR_FIELDS = flavors.FLAVOR_FIELDS


def check_flavor(flavor):
    if not isinstance(flavor, dict):
        raise exception.Invalid(reason='flavor must be a dict')
    for field in FLAVOR_FIELDS:
        if flavor.get(field) is None:
            raise exception.Invalid(reason='flavor lacks %s' % field)
    for field in FLAVOR_FIELDS[1:]:
        value = flavor[field]
        if isinstance(value, bool) or not isinstance(value, int) or \
                value < 0:
            raise exception.Invalid(
                reason='flavor %s must be a non-negative integer' % field)
    checked = {f: flavor[f] for f in FLAVOR_FIELDS}
    flavor_id = flavor.get('id')
    if flavor_id is not None:
        if isinstance(flavor_id, bool) or not isinstance(flavor_id, int):
            raise exception.Invalid(reason='flavor id must be an integer')
        checked['id'] = flavor_id
    return checked


def _compute_id(context, host, node, default=None):
    """The id of ``host``'s compute node ``node``, or ``default`` when it
    has none (an instance placed by the 1.x calls on a node never
    reported)."""
    try:
        return scheduler.compute_node(context, host, node)['id']
    except exception.ComputeHostNotFound:
        return default


def _nova_flavors(state):
    """``(old, new)`` primitives of an operation's state (made from its
    flavor dicts for an operation journaled before they were kept)."""
    old = state.get('old_flavor_nova') or flavors.primitive(
        state['old_flavor'])
    new = state.get('new_flavor_nova') or flavors.primitive(
        state['new_flavor'], base=old)
    return old, new


def _vm_power(vm_state):
    return (states.POWER_SHUTDOWN if vm_state == states.VM_STOPPED
            else states.POWER_RUNNING)


def _power_on(op):
    """Whether the finish steps start the instance: not when it was
    stopped before the resize (nova's ``old_vm_state != STOPPED``)."""
    return op['state']['old_vm_state'] != states.VM_STOPPED


# -- accepting ------------------------------------------------------------

def accept_migrate(instance_uuid, dest_host, flavor):
    """``prepare`` for ``journal.create`` of a migration: guard the
    instance with the task_state compare-and-swap, pick the destination,
    record the migration. Runs inside the journal's insert transaction."""

    def prepare(context):
        instance = db_api.instance_get_by_uuid(context, instance_uuid)
        source = instance['host']
        if not source:
            raise exception.Invalid(
                reason='instance %s has no host' % instance_uuid)
        source_node = instance['node'] or source
        cur = flavors.current(context, instance)[0]
        old_flavor = flavors.compact(cur)
        new_flavor = check_flavor(flavor) if flavor else old_flavor
        new = flavors.primitive(new_flavor, base=cur)
        if dest_host is None:
            dest, dest_node = scheduler.select_host(
                context, new_flavor, exclude=(source,))
        elif dest_host == source:
            raise exception.Invalid(
                reason='destination %s is the instance\'s own host' %
                dest_host)
        else:
            dest, dest_node = dest_host, scheduler.node_of(context,
                                                           dest_host)
        dest_cn = scheduler.compute_node(context, dest, dest_node)
        db_api.instance_update(context, instance_uuid, {
            'task_state': states.TASK_RESIZE_PREP,
            'expected_task_state': [None],
            'expected_vm_state': list(states.MIGRATABLE_VM_STATES)})
        # nova's prep_resize sets new_flavor on the destination.
        flavors.write(context, instance_uuid, cur, new=new)
        migration = db_api.migration_create(context, {
            'instance_uuid': instance_uuid, 'source_compute': source,
            'source_node': source_node, 'dest_compute': dest,
            'dest_node': dest_node, 'dest_compute_id': dest_cn['id'],
            'dest_host': dest_cn['host_ip'],
            'status': states.MIGRATION_PRE_MIGRATING,
            'migration_type': 'resize' if flavor else 'migration',
            'old_instance_type_id': instance['instance_type_id'],
            'new_instance_type_id': new_flavor.get(
                'id', instance['instance_type_id']),
            'user_id': instance['user_id'],
            'project_id': instance['project_id']})
        return {'migration_id': migration['id'], 'state': {
            'source': source, 'source_node': source_node,
            'source_compute_id': _compute_id(context, source, source_node,
                                             instance['compute_id']),
            'dest': dest, 'dest_node': dest_node,
            'dest_compute_id': dest_cn['id'],
            'old_flavor': old_flavor, 'new_flavor': new_flavor,
            'old_flavor_nova': cur, 'new_flavor_nova': new,
            'old_vm_state': instance['vm_state'],
            'migration_id': migration['id']}}

    return prepare


def _finished_migration(context, instance_uuid):
    for migration in reversed(db_api.migration_get_by_instance(
            context, instance_uuid)):
        if migration['status'] == states.MIGRATION_FINISHED:
            return migration
    raise exception.Invalid(
        reason='instance %s has no finished resize to confirm or revert' %
        instance_uuid)


def _migrate_state(context, migration):
    """The state the migration's own operation recorded (flavors, old
    vm_state), or what the migration record alone tells."""
    from nova_proxy.orchestration import journal
    for op in journal.get_all(context,
                              instance_uuid=migration['instance_uuid']):
        if op['kind'] == 'migrate' and \
                op['migration_id'] == migration['id']:
            return op['state']
    return {}


def _accept_finished(instance_uuid, task_state, migration_status):
    def prepare(context):
        migration = _finished_migration(context, instance_uuid)
        previous = _migrate_state(context, migration)
        db_api.instance_update(context, instance_uuid, {
            'task_state': task_state, 'expected_task_state': [None],
            'expected_vm_state': [states.VM_RESIZED]})
        db_api.migration_update(context, migration['id'],
                                {'status': migration_status})
        instance = db_api.instance_get_by_uuid(context, instance_uuid)
        if previous.get('old_flavor_nova'):
            old, new = _nova_flavors(previous)
        else:
            # No migrate operation of ours (or an older one): the
            # flavors nova's finish_resize left in instance_extra.
            cur, old, _new = flavors.current(context, instance)
            old, new = old or cur, cur
        return {'migration_id': migration['id'], 'state': {
            'source': migration['source_compute'],
            'source_node': migration['source_node'],
            'source_compute_id': previous.get('source_compute_id') or
            _compute_id(context, migration['source_compute'],
                        migration['source_node']),
            'dest': migration['dest_compute'],
            'dest_node': migration['dest_node'],
            'dest_compute_id': migration['dest_compute_id'],
            'old_flavor': flavors.compact(old),
            'new_flavor': flavors.compact(new),
            'old_flavor_nova': old, 'new_flavor_nova': new,
            'old_vm_state': previous.get('old_vm_state') or states.VM_ACTIVE,
            'migration_id': migration['id']}}
    return prepare


def accept_confirm(instance_uuid):
    return _accept_finished(instance_uuid, states.TASK_RESIZE_CONFIRMING,
                            states.MIGRATION_CONFIRMING)


def accept_revert(instance_uuid):
    return _accept_finished(instance_uuid, states.TASK_RESIZE_REVERTING,
                            states.MIGRATION_REVERTING)


# -- the flows ------------------------------------------------------------

def _args(op, flavor_key=None):
    state = op['state']
    args = {'instance_uuid': op['instance_uuid'],
            'migration_id': state['migration_id']}
    if flavor_key:
        args['flavor'] = state[flavor_key]
    return args


def _finish_args(op, flavor_key):
    """Arguments of ``finish_resize`` / ``finish_revert_resize``."""
    return dict(_args(op, flavor_key), power_on=_power_on(op))


def _migration(context, op, status):
    db_api.migration_update(context, op['state']['migration_id'],
                            {'status': status})


def _move(context, op, values):
    """Move the instance (host, node, ``compute_id``, flavor columns):
    nova's compare-and-swap, which writes every column of nova's."""
    db_api.instance_update_and_get_original(context, op['instance_uuid'],
                                            values)


def _restore_on_source(context, op):
    """Instance back on the source with its old flavor and vm_state, as
    nova's ``_revert_instance_flavor_host_node`` puts it."""
    state = op['state']
    old, _new = _nova_flavors(state)
    values = {'host': state['source'], 'node': state['source_node'],
              'vm_state': state['old_vm_state'], 'task_state': None,
              'power_state': _vm_power(state['old_vm_state']),
              'progress': None}
    if state.get('source_compute_id') is not None:
        values['compute_id'] = state['source_compute_id']
    values.update(flavors.instance_values(old))
    _move(context, op, values)
    flavors.write(context, op['instance_uuid'], old)


class MigrateFlow(base.Flow):
    kind = 'migrate'

    def steps(self, op):
        return [
            base.Step('prep_resize', 'dest',
                      lambda o: _args(o, 'new_flavor')),
            base.Step('resize_instance', 'source', _args,
                      before=self._before_resize, after=self._after_resize,
                      long=True),
            base.Step('finish_resize', 'dest',
                      lambda o: _finish_args(o, 'new_flavor'),
                      before=self._before_finish, after=self._after_finish),
        ]

    @staticmethod
    def _before_resize(context, op):
        db_api.instance_update(context, op['instance_uuid'], {
            'task_state': states.TASK_RESIZE_MIGRATING,
            'expected_task_state': [states.TASK_RESIZE_PREP]})
        _migration(context, op, states.MIGRATION_MIGRATING)

    @staticmethod
    def _after_resize(context, op, result):
        db_api.instance_update(context, op['instance_uuid'], {
            'task_state': states.TASK_RESIZE_MIGRATED,
            'expected_task_state': [states.TASK_RESIZE_MIGRATING]})
        _migration(context, op, states.MIGRATION_POST_MIGRATING)

    @staticmethod
    def _before_finish(context, op):
        # As nova's finish_resize: on the destination's host, node and
        # compute node, the new flavor current, the old one kept.
        state = op['state']
        old, new = _nova_flavors(state)
        values = {'task_state': states.TASK_RESIZE_FINISH,
                  'expected_task_state': [states.TASK_RESIZE_MIGRATED],
                  'host': state['dest'], 'node': state['dest_node']}
        if state.get('dest_compute_id') is not None:
            values['compute_id'] = state['dest_compute_id']
        values.update(flavors.instance_values(new))
        _move(context, op, values)
        flavors.write(context, op['instance_uuid'], new, old=old, new=new)

    @staticmethod
    def _after_finish(context, op, result):
        # Started, or left shut down (power_on False), as the vm_state
        # before the resize says; confirm restores that vm_state.
        db_api.instance_update(context, op['instance_uuid'], {
            'vm_state': states.VM_RESIZED, 'task_state': None,
            'power_state': _vm_power(op['state']['old_vm_state']),
            'expected_task_state': [states.TASK_RESIZE_FINISH]})
        _migration(context, op, states.MIGRATION_FINISHED)

    def rollback_steps(self, op, started):
        undo = []
        if 'finish_resize' in started:
            undo.append(base.Step('revert_resize', 'dest', _args))
        elif 'prep_resize' in started:
            undo.append(base.Step('abort_prep_resize', 'dest', _args))
        if 'resize_instance' in started:
            undo.insert(1 if 'finish_resize' in started else 0,
                        base.Step('finish_revert_resize', 'source',
                                  lambda o: _finish_args(o, 'old_flavor')))
        return undo

    def rolled_back(self, context, op, error):
        _restore_on_source(context, op)
        _migration(context, op, states.MIGRATION_ERROR)
        base.record_fault(context, op, error, host=op['state']['source'])

    def failed(self, context, op, error):
        # Given up without undo: where the instance really is, only an
        # operator can tell. ERROR says so, with the fault.
        db_api.instance_update(context, op['instance_uuid'], {
            'vm_state': states.VM_ERROR, 'task_state': None})
        _migration(context, op, states.MIGRATION_ERROR)
        base.record_fault(context, op, error)


class _FinishedResizeFlow(base.Flow):
    """Confirm and revert: there is nothing to undo; a failure leaves the
    instance in ERROR with a fault, as nova does."""

    rollback_status = states.OP_FAILED

    def rolled_back(self, context, op, error):
        db_api.instance_update(context, op['instance_uuid'], {
            'vm_state': states.VM_ERROR, 'task_state': None})
        _migration(context, op, states.MIGRATION_ERROR)
        base.record_fault(context, op, error)


class ConfirmFlow(_FinishedResizeFlow):
    kind = 'confirm_resize'

    def steps(self, op):
        return [base.Step('confirm_resize', 'source', _args,
                          after=self._after_confirm)]

    @staticmethod
    def _after_confirm(context, op, result):
        old_vm_state = op['state']['old_vm_state']
        db_api.instance_update(context, op['instance_uuid'], {
            'vm_state': old_vm_state, 'task_state': None,
            'expected_task_state': [states.TASK_RESIZE_CONFIRMING]})
        # As nova's confirm_resize: old and new flavor dropped.
        flavors.write(context, op['instance_uuid'],
                      _nova_flavors(op['state'])[1])
        _migration(context, op, states.MIGRATION_CONFIRMED)


class RevertFlow(_FinishedResizeFlow):
    kind = 'revert_resize'

    def steps(self, op):
        return [
            base.Step('revert_resize', 'dest', _args),
            base.Step('finish_revert_resize', 'source',
                      lambda o: _finish_args(o, 'old_flavor'),
                      after=self._after_revert),
        ]

    @staticmethod
    def _after_revert(context, op, result):
        _restore_on_source(context, op)
        _migration(context, op, states.MIGRATION_REVERTED)
