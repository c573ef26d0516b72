"""Options of the ``[DEFAULT]`` group that every service of ours reads."""

import socket

from oslo_config import cfg

default_opts = [
    cfg.StrOpt('host',
               default=socket.gethostname(),
               sample_default='<current_hostname>',
               help='Name of this node. For a proxy it is the RPC server '
                    'name and its identity in the liveness table, so it must '
                    'be unique among the proxies. For a compute service it '
                    'is the compute host name: the service record, the '
                    'compute node record and the RPC topic '
                    '``compute.<host>`` all use it.'),
    cfg.StrOpt('state_path',
               # Relative: the directory "state" under the working
               # directory. oslo.config has no $pwd; that default made
               # every command without state_path fail with NoSuchOptError.
               default='state',
               help='Top-level directory for local state: the fake virt '
                    'driver\'s instance files and step ledger '
                    '(``fake-virt/state.json``), the embedded SQLite '
                    'database and the proxy\'s worker slot locks. A '
                    'relative path, as the default is, is resolved against '
                    'the working directory of the process: set an absolute '
                    'path, or start the service in a directory of its own '
                    '(the shipped systemd units run it in '
                    '/var/lib/nova-compute-proxy, their StateDirectory).'),
    cfg.ListOpt('log_levels',
                default=[],
                mutable=True,
                help='Levels of single loggers, as ``logger=LEVEL`` pairs '
                     '(for example ``nova_proxy.db=DEBUG,'
                     'oslo.messaging=WARNING``), applied after '
                     'default_log_levels and debug. Mutable: change it and '
                     'send the daemon SIGHUP (``systemctl reload``) to '
                     'apply it without a restart, as ``debug``; a logger '
                     'removed from the list goes back to the level of its '
                     'parent. Possible levels: DEBUG, INFO, WARNING, ERROR, '
                     'CRITICAL.'),
]


def register_opts(conf):
    conf.register_opts(default_opts)


def list_opts():
    return {'DEFAULT': default_opts}
