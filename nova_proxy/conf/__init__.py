"""Configuration options, one module per option group.

Every module has ``register_opts(conf)`` and ``list_opts()``; ``opts.py``
lists the modules. All options live on the global ``oslo_config.cfg.CONF``:
oslo.messaging 18 registers some of its own options there only, so a private
``ConfigOpts`` would miss them.

Importing this package registers nothing. Two processes share that global
``CONF`` with different needs:

* our daemons, tools and tests register every option of the project
  (``register_opts()``; ``nova_proxy.cmd`` does it when imported, before
  anything parses a configuration);
* nova's own processes, where the shim ``nova_proxy.compute.db`` runs,
  already have ``[DEFAULT] host``, ``[DEFAULT] state_path``,
  ``[upgrade_levels] compute`` and a ``[database]`` group of nova's.
  Registering ours there would raise ``DuplicateOptError`` or give nova's
  database code our embedded SQLite default, so the shim registers only
  what it reads (``register_client_opts()``), none of which nova has.
"""

from oslo_config import cfg

from nova_proxy.conf import opts as _opts
from nova_proxy.conf import proxy as _proxy
from nova_proxy.conf import proxy_client as _proxy_client
from nova_proxy.conf import upgrade_levels as _upgrade_levels

__all__ = ['CONF', 'register_opts', 'register_client_opts']

CONF = cfg.CONF


def register_opts(conf=CONF):
    """Register every option of the project on ``conf`` (idempotent)."""
    for module in _opts.MODULES:
        module.register_opts(conf)


def _register_some(conf, group, opts, names):
    conf.register_group(group)
    conf.register_opts([opt for opt in opts if opt.name in names],
                       group=group)


def register_client_opts(conf=CONF):
    """Register what the shim in a nova process reads (idempotent):
    ``[proxy_client]`` (timeouts, retries, the signing key), ``[proxy]
    topic`` and ``[upgrade_levels] compute_proxy``. The same option
    objects as ``register_opts()``'s, so the two may both run."""
    _proxy_client.register_opts(conf)
    _register_some(conf, _proxy.proxy_group, _proxy.proxy_opts, ('topic',))
    _register_some(conf, _upgrade_levels.upgrade_group,
                   _upgrade_levels.upgrade_opts, ('compute_proxy',))
