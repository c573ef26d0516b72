"""SQLAlchemy models of the proxy's database, one module per resource.

The nova tables follow nova's (``nova/db/main/models.py``): its table,
column, index and constraint names, types and nullability, so that a nova
developer reads them as nova's. Where ours differ, the model says why
(``docs/architecture.rst`` says why they are ours and not nova's).
Soft deletion follows nova: ``deleted`` is 0 for a live row and the row's
id once deleted, so unique constraints can include it.

- ``instances``: Instance, its metadata and system metadata, extra, info
  cache and tags.
- ``migrations``: Migration.
- ``services``: Service and ComputeNode.
- ``actions``: InstanceAction, InstanceActionEvent and InstanceFault.
- ``block_devices``: BlockDeviceMapping.
- ``pci``: PciDevice.
- ``others``: TaskLog, ConsoleAuthToken, VolumeUsage, ShareMapping,
  SecurityGroup and its association with instances.
- ``proxy``: the proxy's own tables: Operation, Proxy, PeriodicClaim,
  PeriodicRun and SignedCallNonce.

Where ours differ from nova's (each on purpose):

- Columns nova lacks, which the proxy's 1.x calls use: a compute node's
  ``node`` (nova's ``hypervisor_hostname``, filled from it), an
  instance's ``instance_type_name``, a migration's ``progress``.
- Stricter than nova's, as 0001 made them and the code relies on: NOT
  NULL ``deleted``, uuids, ``instance_uuid`` of migrations, faults and
  actions, a service's ``host``/``binary``/``disabled``/``forced_down``/
  ``version``, a compute node's ``host``/``running_vms``; unique keys on
  metadata (instance, key) and action events (action, event, deleted);
  no foreign keys from those older tables to ``instances`` (rows of
  instances hard-deleted before would fail them).
- Metadata rows are deleted, not soft-deleted (no ``deleted`` columns),
  and a value may be longer than nova's 255 characters.
- Block device mappings and PCI devices always have a uuid.
- Rows of nova's newer tables that hang off an instance go with it when
  the proxy purges it (``ON DELETE CASCADE``).
- Server defaults where nova has only Python ones (an instance's
  booleans and ``cleaned``, ``migrations.cross_cell_move``,
  ``compute_nodes.mapped``), so rows written before these columns, or by
  calls that do not name them, read as nova's would.
- On MariaDB/MySQL: microsecond timestamps, MEDIUMTEXT for every text
  column, a binary collation (migration 0002).
- Timestamps are set by the DB API, not by ``onupdate`` (the
  compare-and-swap compares ``updated_at``).
- Only those of nova's indexes that serve nova-compute's queries, and
  none on ``instances`` that only nova's API uses (each one more write in
  every instance update); 0001's names where an index of ours does what
  one of nova's does (``instance_uuid_iactions_idx``, the unique uuid
  keys), and nova's corrected names for share_mapping's unique keys.
  ``security_group_rules`` is not kept: no call nova-compute makes reads
  it.

Every class is re-exported here (``models.Instance``); ``Base`` and the
column types live in ``base``.
"""

from nova_proxy.db.models.actions import *  # noqa: F401,F403
from nova_proxy.db.models.base import *  # noqa: F401,F403
from nova_proxy.db.models.block_devices import *  # noqa: F401,F403
from nova_proxy.db.models.instances import *  # noqa: F401,F403
from nova_proxy.db.models.migrations import *  # noqa: F401,F403
from nova_proxy.db.models.others import *  # noqa: F401,F403
from nova_proxy.db.models.pci import *  # noqa: F401,F403
from nova_proxy.db.models.proxy import *  # noqa: F401,F403
from nova_proxy.db.models.services import *  # noqa: F401,F403
