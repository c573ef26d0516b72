"""The names of states, in one place.

An instance's ``vm_state``, ``task_state`` and ``power_state`` and a
migration's ``status`` are nova's: the values below are the ones nova
stores (``nova/compute/vm_states.py``, ``nova/compute/task_states.py``,
``nova/compute/power_state.py``, and the statuses nova's compute manager
and conductor give a migration), so the proxy, the shim and nova-compute
read each other's rows. The statuses of an orchestration operation
(``OP_*``) are the proxy's own.

Every module compares and writes states by these names; none keeps a copy.
"""

__all__ = [
    # vm_state
    'VM_ACTIVE', 'VM_BUILDING', 'VM_STOPPED', 'VM_RESIZED', 'VM_ERROR',
    'VM_DELETED', 'VM_SOFT_DELETED', 'MIGRATABLE_VM_STATES',
    # task_state
    'TASK_SCHEDULING', 'TASK_BLOCK_DEVICE_MAPPING', 'TASK_NETWORKING',
    'TASK_SPAWNING', 'TASK_IMAGE_SNAPSHOT', 'TASK_IMAGE_SNAPSHOT_PENDING',
    'TASK_IMAGE_PENDING_UPLOAD', 'TASK_IMAGE_UPLOADING', 'TASK_IMAGE_BACKUP',
    'TASK_RESIZE_PREP', 'TASK_RESIZE_MIGRATING', 'TASK_RESIZE_MIGRATED',
    'TASK_RESIZE_FINISH', 'TASK_RESIZE_REVERTING', 'TASK_RESIZE_CONFIRMING',
    'TASK_REBOOTING', 'TASK_REBOOT_PENDING', 'TASK_REBOOT_STARTED',
    'TASK_REBOOTING_HARD', 'TASK_REBOOT_PENDING_HARD',
    'TASK_REBOOT_STARTED_HARD', 'TASK_PAUSING', 'TASK_UNPAUSING',
    'TASK_SUSPENDING', 'TASK_RESUMING', 'TASK_POWERING_OFF',
    'TASK_POWERING_ON', 'TASK_RESCUING', 'TASK_UNRESCUING',
    'TASK_REBUILDING', 'TASK_REBUILD_BLOCK_DEVICE_MAPPING',
    'TASK_REBUILD_SPAWNING', 'TASK_MIGRATING', 'TASK_DELETING',
    'TASK_SOFT_DELETING', 'TASK_RESTORING', 'TASK_SHELVING',
    'TASK_SHELVING_IMAGE_PENDING_UPLOAD', 'TASK_SHELVING_IMAGE_UPLOADING',
    'TASK_SHELVING_OFFLOADING', 'TASK_UNSHELVING', 'BUILD_TASK_STATES',
    'RESIZE_TASK_STATES',
    # power_state
    'POWER_NOSTATE', 'POWER_RUNNING', 'POWER_SHUTDOWN',
    # migration status
    'MIGRATION_PRE_MIGRATING', 'MIGRATION_MIGRATING',
    'MIGRATION_POST_MIGRATING', 'MIGRATION_FINISHED',
    'MIGRATION_CONFIRMING', 'MIGRATION_CONFIRMED', 'MIGRATION_REVERTING',
    'MIGRATION_REVERTED', 'MIGRATION_ERROR', 'MIGRATION_FAILED',
    'MIGRATION_COMPLETED', 'MIGRATION_DONE', 'MIGRATION_CANCELLED',
    'MIGRATION_DONE_STATUSES',
    # operation status
    'OP_PENDING', 'OP_RUNNING', 'OP_DONE', 'OP_FAILED', 'OP_ROLLED_BACK',
    'OP_ACTIVE_STATUSES', 'OP_FINAL_STATUSES', 'OP_STATUSES',
]

# -- vm_state -------------------------------------------------------------

VM_ACTIVE = 'active'
VM_BUILDING = 'building'
VM_STOPPED = 'stopped'
VM_RESIZED = 'resized'
VM_ERROR = 'error'
VM_DELETED = 'deleted'
# nova's: a delete that waits for [DEFAULT] reclaim_instance_interval.
VM_SOFT_DELETED = 'soft-delete'

# The vm_states a resize or cold migration starts from.
MIGRATABLE_VM_STATES = (VM_ACTIVE, VM_STOPPED)

# -- task_state -----------------------------------------------------------

TASK_SCHEDULING = 'scheduling'
TASK_BLOCK_DEVICE_MAPPING = 'block_device_mapping'
TASK_NETWORKING = 'networking'
TASK_SPAWNING = 'spawning'
TASK_IMAGE_SNAPSHOT = 'image_snapshot'
TASK_IMAGE_SNAPSHOT_PENDING = 'image_snapshot_pending'
TASK_IMAGE_PENDING_UPLOAD = 'image_pending_upload'
TASK_IMAGE_UPLOADING = 'image_uploading'
TASK_IMAGE_BACKUP = 'image_backup'
TASK_RESIZE_PREP = 'resize_prep'
TASK_RESIZE_MIGRATING = 'resize_migrating'
TASK_RESIZE_MIGRATED = 'resize_migrated'
TASK_RESIZE_FINISH = 'resize_finish'
TASK_RESIZE_REVERTING = 'resize_reverting'
TASK_RESIZE_CONFIRMING = 'resize_confirming'
TASK_REBOOTING = 'rebooting'
TASK_REBOOT_PENDING = 'reboot_pending'
TASK_REBOOT_STARTED = 'reboot_started'
TASK_REBOOTING_HARD = 'rebooting_hard'
TASK_REBOOT_PENDING_HARD = 'reboot_pending_hard'
TASK_REBOOT_STARTED_HARD = 'reboot_started_hard'
TASK_PAUSING = 'pausing'
TASK_UNPAUSING = 'unpausing'
TASK_SUSPENDING = 'suspending'
TASK_RESUMING = 'resuming'
# With a hyphen, as nova has them (the other task states have underscores).
TASK_POWERING_OFF = 'powering-off'
TASK_POWERING_ON = 'powering-on'
TASK_RESCUING = 'rescuing'
TASK_UNRESCUING = 'unrescuing'
TASK_REBUILDING = 'rebuilding'
TASK_REBUILD_BLOCK_DEVICE_MAPPING = 'rebuild_block_device_mapping'
TASK_REBUILD_SPAWNING = 'rebuild_spawning'
TASK_MIGRATING = 'migrating'
TASK_DELETING = 'deleting'
TASK_SOFT_DELETING = 'soft_deleting'
TASK_RESTORING = 'restoring'
TASK_SHELVING = 'shelving'
TASK_SHELVING_IMAGE_PENDING_UPLOAD = 'shelving_image_pending_upload'
TASK_SHELVING_IMAGE_UPLOADING = 'shelving_image_uploading'
TASK_SHELVING_OFFLOADING = 'shelving_offloading'
TASK_UNSHELVING = 'unshelving'

# The task_states an instance may have while it waits to be built.
BUILD_TASK_STATES = (None, TASK_SCHEDULING, TASK_NETWORKING,
                     TASK_BLOCK_DEVICE_MAPPING, TASK_SPAWNING)
# The task_states of a resize or migration in progress: an instance stuck
# in one has an unfinished migration.
RESIZE_TASK_STATES = (TASK_RESIZE_PREP, TASK_RESIZE_MIGRATING,
                      TASK_RESIZE_MIGRATED, TASK_RESIZE_FINISH,
                      TASK_RESIZE_REVERTING, TASK_MIGRATING)

# -- power_state ----------------------------------------------------------

POWER_NOSTATE = 0
POWER_RUNNING = 1
POWER_SHUTDOWN = 4

# -- migration status -----------------------------------------------------

MIGRATION_PRE_MIGRATING = 'pre-migrating'
MIGRATION_MIGRATING = 'migrating'
MIGRATION_POST_MIGRATING = 'post-migrating'
MIGRATION_FINISHED = 'finished'
MIGRATION_CONFIRMING = 'confirming'
MIGRATION_CONFIRMED = 'confirmed'
MIGRATION_REVERTING = 'reverting'
MIGRATION_REVERTED = 'reverted'
MIGRATION_ERROR = 'error'
MIGRATION_FAILED = 'failed'
MIGRATION_COMPLETED = 'completed'
MIGRATION_DONE = 'done'
MIGRATION_CANCELLED = 'cancelled'

# After one of these a migration is no longer in progress: it no longer
# opens its instance to both its hosts.
MIGRATION_DONE_STATUSES = (MIGRATION_CONFIRMED, MIGRATION_REVERTED,
                           MIGRATION_ERROR, MIGRATION_FAILED,
                           MIGRATION_COMPLETED, MIGRATION_DONE,
                           MIGRATION_CANCELLED)

# -- operation status (the orchestration's journal) -----------------------

OP_PENDING = 'pending'
OP_RUNNING = 'running'
OP_DONE = 'done'
OP_FAILED = 'failed'
OP_ROLLED_BACK = 'rolled_back'
# An operation in one of these holds its instance.
OP_ACTIVE_STATUSES = (OP_PENDING, OP_RUNNING)
OP_FINAL_STATUSES = (OP_DONE, OP_FAILED, OP_ROLLED_BACK)
OP_STATUSES = OP_ACTIVE_STATUSES + OP_FINAL_STATUSES
