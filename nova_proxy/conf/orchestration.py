"""Options of the orchestration engine (``[orchestration]``)."""

from oslo_config import cfg

orchestration_group = cfg.OptGroup(
    'orchestration', title='Orchestration options',
    help='Journaled operations (build, resize, cold migration) driven by '
         'the proxies.')

orchestration_opts = [
    cfg.IntOpt('max_concurrent_operations',
               default=16, min=1,
               help='Operations one proxy worker drives at the same time.'),
]


def register_opts(conf):
    conf.register_group(orchestration_group)
    conf.register_opts(orchestration_opts, group=orchestration_group)


def list_opts():
    return {orchestration_group: orchestration_opts}
