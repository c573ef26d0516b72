"""nova's main-database API (``nova.db.main.api``) over RPC: the drop-in
for nova-compute.

Every function here has the name, arguments, result shape and errors of
nova 34's function of that name, and makes one ``rpc.call`` to the
proxies (``_client.call``: the 2.x methods of
``nova_proxy.proxy.rpcapi.NOVA_METHODS``). nova-compute has no database
and no conductor indirection for its objects: they call these functions.

Using it
========

In a nova-compute process, after nova has parsed its configuration and
registered its objects, and before the service starts::

    from nova_proxy.compute.db import nova as proxy_db

    proxy_db.enable()

``enable()`` puts these functions in place of ``nova.db.main.api``'s and
mends the few object methods that query the database themselves (see
``nova_proxy.compute.db.nova``). nova's object code is unchanged.
``NovaObject.indirection_api`` must stay unset: nova-compute's own
``main()`` points it at the conductor.

Configuration, read from nova's configuration files:

* ``[DEFAULT] transport_url``: the broker of the proxies;
* ``[proxy] topic`` (``compute_proxy``): the proxies' topic;
* ``[proxy_client] rpc_timeout``, ``retries``, ``retry_interval``;
* ``[proxy_client] key_file``: this host's key (``nova-compute-proxy-manage
  key create``); calls are signed with it as ``[DEFAULT] host``, and the
  proxies then confine them to this host's records. Without it calls
  assert ``[DEFAULT] host`` as their ``compute_host`` and are confined only
  if the proxies accept unsigned calls;
* ``[upgrade_levels] compute_proxy``: a 1.x cap (proxies older than 2.0)
  makes every call fail with ``RPCVersionCapError``.

Importing this package registers only those options (none of them is
nova's) and leaves nova's transports as they are: the shim has a transport
of its own and does not install ``nova_proxy.common.amqp_guard``.

Threads and eventlet
====================

Calls may come from any number of threads or greenthreads at once: the
client is built once per process under a lock, and oslo.messaging's
transport works under either of oslo.service's backends (nova 34 runs
nova-compute threaded; older releases monkey-patched it with eventlet).
After a fork, call ``_client.reset()`` in the child.

What differs from nova's, and why
=================================

* Results are dicts and lists, not SQLAlchemy rows: nova's objects read
  them by key (``row['x']``, ``'extra' in row``), which dicts serve; joined
  columns are present when ``columns_to_join`` asks for them. Times are
  naive UTC datetimes, as nova's rows have them.
* Errors are nova's classes (``nova.exception.InstanceNotFound`` and so
  on); errors only the proxies have (``HostScopeViolation``,
  ``NotAuthenticated``, ``DatabaseUnavailable``, ``ProxyInternalError``)
  are ``nova_proxy.exception`` classes.
* Host scope: a compute host may read and write only its own records; the
  proxies refuse the rest with ``HostScopeViolation``. nova has no such
  rule. docs/wire.rst has each call's rule.
* A timeout raises ``MessagingTimeout`` (retried first for the calls the
  proxies mark idempotent), as nova's conductor calls do.
* ``get_context_manager(context)`` has no engine; functions nova decorates
  with ``pick_context_manager_*`` raise ``DBNotAllowed`` here.
"""

from nova_proxy.compute.db import _helpers
from nova_proxy.compute.db._helpers import *  # noqa: F401,F403
from nova_proxy.compute.db import actions
from nova_proxy.compute.db.actions import *  # noqa: F401,F403
from nova_proxy.compute.db import pci_devices
from nova_proxy.compute.db.pci_devices import *  # noqa: F401,F403
from nova_proxy.compute.db import block_devices
from nova_proxy.compute.db.block_devices import *  # noqa: F401,F403
from nova_proxy.compute.db import compute_nodes
from nova_proxy.compute.db.compute_nodes import *  # noqa: F401,F403
from nova_proxy.compute.db import console_auth_tokens
from nova_proxy.compute.db.console_auth_tokens import *  # noqa: F401,F403
from nova_proxy.compute.db import instance_children
from nova_proxy.compute.db.instance_children import *  # noqa: F401,F403
from nova_proxy.compute.db import migrations
from nova_proxy.compute.db.migrations import *  # noqa: F401,F403
from nova_proxy.compute.db import instances
from nova_proxy.compute.db.instances import *  # noqa: F401,F403
from nova_proxy.compute.db import services
from nova_proxy.compute.db.services import *  # noqa: F401,F403
from nova_proxy.compute.db import security_groups
from nova_proxy.compute.db.security_groups import *  # noqa: F401,F403
from nova_proxy.compute.db import share_mappings
from nova_proxy.compute.db.share_mappings import *  # noqa: F401,F403
from nova_proxy.compute.db import task_log
from nova_proxy.compute.db.task_log import *  # noqa: F401,F403
from nova_proxy.compute.db import volume_usage
from nova_proxy.compute.db.volume_usage import *  # noqa: F401,F403

__all__ = [
    *_helpers.__all__,
    *actions.__all__,
    *pci_devices.__all__,
    *block_devices.__all__,
    *instance_children.__all__,
    *compute_nodes.__all__,
    *migrations.__all__,
    *instances.__all__,
    *services.__all__,
    *console_auth_tokens.__all__,
    *security_groups.__all__,
    *share_mappings.__all__,
    *task_log.__all__,
    *volume_usage.__all__,
]
