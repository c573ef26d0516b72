"""Entry points for oslo-config-generator.

Listed explicitly, not discovered, so that the sample file is stable and a
new option group is a visible change.
"""

import collections

from nova_proxy.conf import compute
from nova_proxy.conf import database
from nova_proxy.conf import default
from nova_proxy.conf import orchestration
from nova_proxy.conf import periodic
from nova_proxy.conf import proxy
from nova_proxy.conf import proxy_client
from nova_proxy.conf import upgrade_levels

MODULES = (default, proxy, proxy_client, upgrade_levels, database, compute,
           orchestration, periodic)


def list_opts():
    """Return ``[(group, [opts])]`` for every option of the project."""
    merged = collections.defaultdict(list)
    for module in MODULES:
        for group, opts in module.list_opts().items():
            merged[group].extend(opts)
    return [(group, opts) for group, opts in merged.items()]


def set_defaults():
    """Defaults we change in libraries' options (``oslo.config.opts.defaults``
    entry point: the generator calls it before listing options)."""
    from oslo_config import cfg

    from nova_proxy.common import rpc
    database.register_opts(cfg.CONF)
    rpc.set_defaults()
