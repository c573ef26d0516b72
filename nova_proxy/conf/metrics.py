"""Options of the Prometheus metrics endpoint (``[metrics]``).

Read by every daemon (the proxy and the compute service); the metrics
themselves are listed in docs/operations.rst.
"""

from oslo_config import cfg

metrics_group = cfg.OptGroup(
    'metrics', title='Prometheus metrics',
    help='An HTTP endpoint serving this daemon\'s metrics in the '
         'Prometheus text format (``GET /metrics``). Off by default.')

# Default ports: one per daemon, so that a proxy and a compute service on
# the same node can both serve metrics without setting anything else.
PROXY_PORT = 9740
COMPUTE_PORT = 9741

metrics_opts = [
    cfg.BoolOpt('enabled',
                default=False,
                help='Serve metrics on ``http://<host>:<port>/metrics``. '
                     'The one option to set to turn metrics on. Related '
                     'options: host, port, directory.'),
    cfg.HostAddressOpt('host',
                       default='127.0.0.1',
                       help='Address the metrics endpoint listens on. The '
                            'default, 127.0.0.1, is reachable only from '
                            'this node; set ``0.0.0.0`` (or one address) '
                            'for a Prometheus server elsewhere. The '
                            'endpoint has no authentication: expose it only '
                            'to the network of the monitoring.'),
    cfg.PortOpt('port',
                default=PROXY_PORT,
                help='TCP port of the metrics endpoint. Default %d for '
                     'nova-compute-proxy and %d for '
                     'nova-compute-proxy-compute, so that both can run on '
                     'one node.' % (PROXY_PORT, COMPUTE_PORT)),
    cfg.StrOpt('directory',
               help='Directory where the worker processes of one daemon '
                    'write their metric values for the endpoint to merge '
                    '(prometheus_client\'s multiprocess mode, needed with '
                    '[proxy] workers above 1 and used always). It is '
                    'emptied when the daemon starts, so two daemons must '
                    'never share one. Default: '
                    '``<[DEFAULT] state_path>/metrics/<daemon>``, which is '
                    'what a daemon started without it uses.'),
]


def register_opts(conf):
    conf.register_group(metrics_group)
    conf.register_opts(metrics_opts, group=metrics_group)


def list_opts():
    return {metrics_group: metrics_opts}
