"""Heal instances stuck in a transitional task_state.

An instance is *stuck* when all of these hold, by the database's clock:

* its ``task_state`` is one of ``STUCK_STATES`` (the table below);
* no orchestration operation of the instance is pending or running (a
  running operation, even one whose owner died, is the orchestration
  engine's to resume or roll back: its takeover does that);
* nothing moved for ``[periodic] stuck_instance_timeout`` seconds: not the
  instance row, not its unfinished migrations (a disk copy writes its
  progress there), not its operations.

What happens to it depends on the state, as ``STUCK_STATES`` says:

``error``
    ``vm_state = error``, ``task_state = None``: the work may have been
    half done on a hypervisor and only a person (or a rebuild/delete) can
    tell. Unfinished migrations of a resize go to ``error``.
``clear``
    ``task_state = None``, ``vm_state`` kept: the action either happened or
    did not, and the compute node's power-state sync reconciles
    ``power_state`` with the hypervisor; the user may retry.
``rollback``
    An unfinished move is undone in the database: ``task_state = None``,
    the instance on its migration's source host and node (nova's
    ``source_compute``/``source_node``, with that node's ``compute_id``),
    ``vm_state`` kept, unfinished migrations in ``error``. For
    ``resize_confirming`` the instance stays ``resized`` (the migration
    back to ``finished``) so that the confirm can be retried.

Every heal records an instance fault (code 500) that names the state, the
time without progress, what was done and which proxy did it. The change is
a compare-and-swap on ``task_state`` and ``updated_at`` under a row lock, so
an instance that moved since it was listed is left alone.

Items: one per stuck instance (its uuid).
"""

import datetime

from nova_proxy.common import states
from nova_proxy.db.api import periodic as db_periodic
from nova_proxy.periodic.tasks import base

__all__ = ['HealStuckInstances', 'STUCK_STATES', 'ERROR', 'CLEAR',
           'ROLLBACK']

ERROR = 'error'
CLEAR = 'clear'
ROLLBACK = 'rollback'


def _states(action, *names):
    return {name: action for name in names}


# task_state -> what healing does. docs/periodic.rst has the same table.
STUCK_STATES = {
    **_states(ERROR, states.TASK_SCHEDULING, states.TASK_BLOCK_DEVICE_MAPPING,
              states.TASK_NETWORKING, states.TASK_SPAWNING),
    **_states(ERROR, states.TASK_REBUILDING,
              states.TASK_REBUILD_BLOCK_DEVICE_MAPPING,
              states.TASK_REBUILD_SPAWNING),
    **_states(ERROR, states.TASK_DELETING),
    **_states(CLEAR, states.TASK_SOFT_DELETING, states.TASK_RESTORING),
    **_states(CLEAR, states.TASK_POWERING_OFF, states.TASK_POWERING_ON,
              states.TASK_REBOOTING, states.TASK_REBOOT_PENDING,
              states.TASK_REBOOT_STARTED, states.TASK_REBOOTING_HARD,
              states.TASK_REBOOT_PENDING_HARD,
              states.TASK_REBOOT_STARTED_HARD, states.TASK_PAUSING,
              states.TASK_UNPAUSING, states.TASK_SUSPENDING,
              states.TASK_RESUMING),
    **_states(CLEAR, states.TASK_IMAGE_SNAPSHOT,
              states.TASK_IMAGE_SNAPSHOT_PENDING,
              states.TASK_IMAGE_PENDING_UPLOAD, states.TASK_IMAGE_UPLOADING,
              states.TASK_IMAGE_BACKUP),
    **_states(ERROR, states.TASK_RESCUING, states.TASK_UNRESCUING),
    **_states(ROLLBACK, states.TASK_RESIZE_PREP,
              states.TASK_RESIZE_MIGRATING),
    **_states(ERROR, states.TASK_RESIZE_MIGRATED, states.TASK_RESIZE_FINISH,
              states.TASK_RESIZE_REVERTING),
    **_states(ROLLBACK, states.TASK_RESIZE_CONFIRMING),
    **_states(ROLLBACK, states.TASK_MIGRATING),
    **_states(CLEAR, states.TASK_SHELVING,
              states.TASK_SHELVING_IMAGE_PENDING_UPLOAD,
              states.TASK_SHELVING_IMAGE_UPLOADING,
              states.TASK_SHELVING_OFFLOADING),
    **_states(ERROR, states.TASK_UNSHELVING),
}

# Outcomes recorded per item besides the three actions.
PROGRESSED = 'progressed'
HAS_OPERATION = 'has_operation'
GONE = 'gone'

LIST_LIMIT = 1000


class HealStuckInstances(base.ItemTask):

    name = 'heal_stuck_instances'

    def __init__(self, member=None):
        self.member = member

    def list_items(self, context, now):
        return _list_stuck(context, _cutoff(now))

    def handle_item(self, context, item, now):
        return heal(context, item, base.CONF.periodic.stuck_instance_timeout,
                    member=self.member)


def _cutoff(now, timeout=None):
    timeout = timeout or base.CONF.periodic.stuck_instance_timeout
    return now - datetime.timedelta(seconds=timeout)


def _list_stuck(context, cutoff):
    return db_periodic.instance_get_stuck_uuids(context, STUCK_STATES,
                                                cutoff, LIST_LIMIT)


def heal(context, instance_uuid, timeout, member=None):
    """Heal one instance if it is stuck; returns what was done: ``error``,
    ``clear`` or ``rollback``, or why nothing was (``progressed``,
    ``has_operation``, ``gone``)."""

    def plan(instance, operations, migrations, now):
        return _healing(instance, operations, migrations, now, timeout,
                        member)

    outcome = db_periodic.instance_heal(context, instance_uuid, plan)
    # None: the instance changed since it was read (its compare-and-swap
    # missed).
    return PROGRESSED if outcome is None else outcome


def _healing(instance, operations, migrations, now, timeout, member):
    """What to do with ``instance``: an outcome when nothing is to be
    written, else a ``Healing``."""
    if instance is None:
        return GONE
    cutoff = now - datetime.timedelta(seconds=timeout)
    state = instance.task_state
    action = STUCK_STATES.get(state)
    if action is None or instance.updated_at is None or \
            instance.updated_at >= cutoff:
        return PROGRESSED
    if any(status in states.OP_ACTIVE_STATUSES
           for status, _ in operations):
        return HAS_OPERATION
    if any(updated >= cutoff for _, updated in operations
           if updated is not None):
        return PROGRESSED
    if any(mig.updated_at is not None and mig.updated_at >= cutoff
           for mig in migrations):
        return PROGRESSED

    values, migration_status = _plan(instance, action, migrations)
    statuses = {}
    for mig in migrations:
        status = migration_status(mig)
        if status is not None:
            statuses[mig.id] = status
    idle = int((now - instance.updated_at).total_seconds())
    return db_periodic.Healing(
        values=values, migrations=statuses,
        fault_message=('Stuck in task_state %s for %ds: healed (%s)'
                       % (state, idle, action)),
        fault_details=(
            'The instance stayed in task_state %s with no operation '
            'in progress and no progress for %d seconds (limit %d). '
            'The periodic task heal_stuck_instances of proxy %s '
            'applied "%s": %s.' % (
                state, idle, timeout, member or 'unknown', action,
                ', '.join('%s=%s' % kv for kv in sorted(values.items())))),
        outcome=action)


def _plan(instance, action, migrations):
    """``(instance values, migration -> new status or None)``."""
    state = instance.task_state
    fail_migrations = (lambda mig: states.MIGRATION_ERROR) \
        if state in states.RESIZE_TASK_STATES else (lambda mig: None)
    if action == ERROR:
        return {'vm_state': states.VM_ERROR, 'task_state': None}, \
            fail_migrations
    if action == CLEAR:
        return {'task_state': None}, (lambda mig: None)
    # ROLLBACK
    values = {'task_state': None}
    if state == states.TASK_RESIZE_CONFIRMING:
        return values, (lambda mig: states.MIGRATION_FINISHED
                        if mig.status == states.MIGRATION_CONFIRMING
                        else None)
    source = migrations[-1] if migrations else None
    if source is not None and state != states.TASK_MIGRATING:
        if source.source_compute:
            values['host'] = source.source_compute
        if source.source_node:
            values['node'] = source.source_node
    return values, fail_migrations
