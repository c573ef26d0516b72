"""Configuration options, one module per option group.

Every module has ``register_opts(conf)`` and ``list_opts()``; ``opts.py``
lists the modules. All options live on the global ``oslo_config.cfg.CONF``:
oslo.messaging 18 registers some of its own options there only, so a private
``ConfigOpts`` would miss them.
"""

from oslo_config import cfg

from nova_proxy.conf import opts as _opts

CONF = cfg.CONF

for _module in _opts.MODULES:
    _module.register_opts(CONF)
