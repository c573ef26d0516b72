"""Entry points for oslo-config-generator: one sample file per daemon.

``nova_compute_proxy`` lists every option of the project, for the proxy
daemon and the manage command; ``nova_compute_proxy.compute`` lists what a
compute service reads, with no ``[database]`` group: a compute node has no
database to configure. Listed explicitly, not discovered, so that the
sample files are stable and a new option group is a visible change.
"""

import collections

from nova_proxy.conf import compute
from nova_proxy.conf import database
from nova_proxy.conf import default
from nova_proxy.conf import metrics
from nova_proxy.conf import orchestration
from nova_proxy.conf import periodic
from nova_proxy.conf import proxy
from nova_proxy.conf import proxy_client
from nova_proxy.conf import upgrade_levels

MODULES = (default, proxy, proxy_client, upgrade_levels, database, compute,
           orchestration, periodic, metrics)

COMPUTE_MODULES = (default, proxy_client, upgrade_levels, compute, metrics)

# The [proxy] options a compute service reads as well: the topic it calls
# the proxies on, and the replay window and nonce cache of the checks of
# signed calls (nova_proxy.common.auth).
COMPUTE_PROXY_OPTS = ('topic', 'signature_max_age', 'nonce_cache_size')


def _listing(modules, extra=()):
    """``[(group, [opts])]`` of ``modules`` and of the ``(group, opts)``
    pairs in ``extra``, a group's options merged."""
    merged = collections.defaultdict(list)
    for module in modules:
        for group, opts in module.list_opts().items():
            merged[group].extend(opts)
    for group, opts in extra:
        merged[group].extend(opts)
    return [(group, opts) for group, opts in merged.items()]


def list_opts():
    """Return ``[(group, [opts])]`` for every option of the project."""
    return _listing(MODULES)


def list_compute_opts():
    """Return ``[(group, [opts])]`` for ``nova-compute-proxy-compute``."""
    return _listing(COMPUTE_MODULES, [(proxy.proxy_group, [
        opt for opt in proxy.proxy_opts if opt.name in COMPUTE_PROXY_OPTS])])


def set_compute_defaults():
    """Defaults we change in libraries' options, as a compute service has
    them (``oslo.config.opts.defaults`` entry point: the generator calls
    it before listing options)."""
    from oslo_config import cfg

    from nova_proxy.common import rpc
    rpc.set_defaults()
    cfg.set_defaults(metrics.metrics_opts, port=metrics.COMPUTE_PORT)


def set_defaults():
    """Defaults we change in libraries' options, as the proxy daemon has
    them. They are set on the libraries' option objects, which is what the
    generator prints: the daemon sets the same values on its ``CONF``
    (``database.register_opts``, ``rpc.set_executor_threads_default``)."""
    from oslo_config import cfg
    from oslo_db import options as db_options
    from oslo_messaging import server as messaging_server

    from nova_proxy.common import rpc
    rpc.set_defaults()
    cfg.set_defaults(db_options.database_opts,
                     connection=database.DEFAULT_CONNECTION)
    # A private list of oslo.messaging: its list_opts() returns copies.
    pool_opts = getattr(messaging_server, '_pool_opts', [])
    cfg.set_defaults(pool_opts,
                     executor_thread_pool_size=rpc.PROXY_EXECUTOR_THREADS)
