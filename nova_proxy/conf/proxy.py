"""Options of the ``nova-compute-proxy`` daemon (``[proxy]``)."""

from oslo_config import cfg

proxy_group = cfg.OptGroup(
    'proxy', title='Proxy daemon options',
    help='The RPC server that serves database calls of compute nodes and '
         'drives orchestration.')

proxy_opts = [
    cfg.StrOpt('topic',
               default='compute_proxy',
               help='AMQP topic the proxies consume. Every proxy of a cloud '
                    'listens on the same topic; compute nodes call it '
                    'through the shim. Changing it needs the same change on '
                    'every compute node.'),
    cfg.IntOpt('workers',
               default=1, min=1, max=64,
               help='Number of proxy worker processes on this host. Each '
                    'worker is a full proxy (RPC server, orchestration '
                    'engine, periodic tasks) with its own database pool. '
                    'Related options: [DEFAULT] executor_thread_pool_size '
                    'sets the threads of each worker.'),
    cfg.IntOpt('heartbeat_interval',
               default=2, min=1,
               help='Seconds between two heartbeats of a proxy in the '
                    'proxy liveness table. Related options: '
                    'liveness_deadline.'),
    cfg.IntOpt('liveness_deadline',
               default=10, min=2,
               help='Seconds after its last heartbeat when a proxy counts as '
                    'dead: its operations are taken over and it drops out of '
                    'the periodic task ring. Must be well above '
                    'heartbeat_interval.'),
    cfg.BoolOpt('enforce_host_scope',
                default=True,
                help='When enabled, a compute node may only read and change '
                     'the instances, migrations, services and compute nodes '
                     'of its own host (the ``compute_host`` of the request '
                     'context). Calls without a compute host (operators, '
                     'other proxies) are not restricted.'),
]


def register_opts(conf):
    conf.register_group(proxy_group)
    conf.register_opts(proxy_opts, group=proxy_group)


def list_opts():
    return {proxy_group: proxy_opts}
