"""Options of the client side of the proxy: the shim in nova-compute."""

from oslo_config import cfg

client_group = cfg.OptGroup(
    'proxy_client', title='Proxy client options',
    help='How a compute node calls the proxies.')

client_opts = [
    cfg.IntOpt('rpc_timeout',
               default=60, min=1,
               help='Seconds a database call of a compute node may take, '
                    'publishing it included (while the broker cannot be '
                    'reached, it tries again every 0.5 s), before it '
                    'raises MessagingTimeout. A call that is safe to '
                    'repeat then starts again, up to ``retries`` times.'),
    cfg.IntOpt('retries',
               default=3, min=0,
               help='How many more times a call that is safe to repeat '
                    '(reads, ping, and writes that are idempotent by '
                    'construction) is retried after a MessagingTimeout. '
                    'Calls that are not safe to repeat are never retried.'),
    cfg.FloatOpt('retry_interval',
                 default=0.5, min=0,
                 help='Seconds to wait between two retries of a call.'),
    cfg.IntOpt('startup_ping_timeout',
               default=120, min=0,
               help='Seconds a compute service waits at start-up for a '
                    'proxy to answer ``ping``, whether no proxy answers or '
                    'the message broker (transport_url) cannot be reached; '
                    'it then exits with status 1. 0 waits forever.'),
    cfg.StrOpt('key_file',
               help='This compute host\'s secret key (one key per line; '
                    'the first signs, all verify). When set, every call to '
                    'the proxies is signed as host [DEFAULT] host, and the '
                    'compute service checks with it that the calls it '
                    'receives come from a proxy. The proxies hold the same '
                    'key as ``<host>.key`` in [proxy] host_keys_dir. '
                    'Related options: [compute] require_signed_context.'),
]


def register_opts(conf):
    conf.register_group(client_group)
    conf.register_opts(client_opts, group=client_group)


def list_opts():
    return {client_group: client_opts}
