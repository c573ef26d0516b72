"""Options of the periodic tasks run by the proxies (``[periodic]``)."""

from oslo_config import cfg

periodic_group = cfg.OptGroup(
    'periodic', title='Periodic task options',
    help='Periodic tasks shared among the live proxies.')

periodic_opts = [
    cfg.IntOpt('service_down_time',
               default=60, min=1,
               help='Seconds after its last heartbeat when a compute service '
                    'counts as down. Must be well above [compute] '
                    'report_interval.'),
]


def register_opts(conf):
    conf.register_group(periodic_group)
    conf.register_opts(periodic_opts, group=periodic_group)


def list_opts():
    return {periodic_group: periodic_opts}
