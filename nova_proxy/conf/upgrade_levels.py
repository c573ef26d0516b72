"""``[upgrade_levels]``: caps on the RPC versions our clients send.

As in nova, each option takes a version number (``1.0``) or a release alias
from ``nova_proxy.common.rpc.RELEASE_MAPPING``; during a rolling upgrade set
it to the oldest release still running, then remove it.
"""

from oslo_config import cfg

upgrade_group = cfg.OptGroup(
    'upgrade_levels', title='RPC version caps for rolling upgrades')

upgrade_opts = [
    cfg.StrOpt('compute_proxy',
               help='Highest version of the proxy database API '
                    '(``compute_proxy`` topic, default namespace) that the '
                    'shim sends. Possible values: a version such as 1.0, a '
                    'release alias (2026.2: 1.1; 2027.1: 2.0, nova\'s '
                    'database API), or unset for the newest. It caps the '
                    'major it names: a 2.x cap leaves 1.x clients (the '
                    'reference compute service) sending 1.1, and a 1.x cap '
                    'stops nova\'s shim, which needs 2.0.'),
    cfg.StrOpt('compute_task',
               help='Highest version of the ``compute_task`` orchestration '
                    'API that clients send. Same values as compute_proxy.'),
    cfg.StrOpt('compute',
               help='Highest version of the compute service API that the '
                    'proxies send to compute nodes. Same values as '
                    'compute_proxy.'),
]


def register_opts(conf):
    conf.register_group(upgrade_group)
    conf.register_opts(upgrade_opts, group=upgrade_group)


def list_opts():
    return {upgrade_group: upgrade_opts}
