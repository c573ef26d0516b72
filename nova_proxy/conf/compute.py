"""Options of the reference compute service (``[compute]``)."""

from oslo_config import cfg

compute_group = cfg.OptGroup(
    'compute', title='Reference compute service options',
    help='The nova-compute-proxy-compute service and its fake virt driver.')

compute_opts = [
    cfg.StrOpt('topic',
               default='compute',
               help='RPC topic of compute services. A compute host listens '
                    'on ``<topic>.<host>``; the proxies call it there.'),
    cfg.IntOpt('report_interval',
               default=10, min=1,
               help='Seconds between two heartbeats of the compute service '
                    'record. Related options: [periodic] '
                    'service_down_time.'),
    cfg.IntOpt('resource_update_interval',
               default=60, min=1,
               help='Seconds between two reports of the compute node\'s '
                    'resources.'),
    cfg.IntOpt('sync_power_state_interval',
               default=60, min=1,
               help='Seconds between two power state syncs of the local '
                    'instances with the virt driver.'),
    cfg.IntOpt('vcpus', default=16, min=1,
               help='Virtual CPUs the fake virt driver reports.'),
    cfg.IntOpt('memory_mb', default=32768, min=1,
               help='Memory in MiB the fake virt driver reports.'),
    cfg.IntOpt('local_gb', default=1000, min=1,
               help='Local disk in GiB the fake virt driver reports.'),
    cfg.FloatOpt('fake_copy_seconds',
                 default=2.0, min=0,
                 help='How long the fake virt driver takes to copy a disk '
                      'during a migration; it reports progress in percent as '
                      'it goes.'),
    cfg.ListOpt('fake_fail_steps',
                default=[],
                help='Steps the fake virt driver fails on purpose, for tests '
                     'and demonstrations: any of spawn, prep_resize, '
                     'resize_instance, finish_resize, confirm_resize, '
                     'revert_resize, finish_revert_resize. Empty in '
                     'production.'),
]


def register_opts(conf):
    conf.register_group(compute_group)
    conf.register_opts(compute_opts, group=compute_group)


def list_opts():
    return {compute_group: compute_opts}
