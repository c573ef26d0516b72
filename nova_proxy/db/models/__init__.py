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
- ``proxy``: the proxy's own tables: Operation, Proxy, PeriodicClaim and
  PeriodicRun.

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
