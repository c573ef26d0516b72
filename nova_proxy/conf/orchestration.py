"""Options of the orchestration engine (``[orchestration]``)."""

from oslo_config import cfg

orchestration_group = cfg.OptGroup(
    'orchestration', title='Orchestration options',
    help='Journaled operations (build, resize, cold migration) driven by '
         'the proxies.')

orchestration_opts = [
    cfg.IntOpt('max_concurrent_operations',
               default=16, min=1,
               help='Operations one proxy worker drives at the same time. '
                    'A worker takes over dead proxies\' operations only '
                    'while it has room below this number.'),
    cfg.FloatOpt('poll_interval',
                 default=1.0, min=0.05,
                 help='Seconds between two scans of the journal for '
                      'operations to take back (own, after a restart) or to '
                      'take over (of dead proxies). Related options: '
                      '[proxy] liveness_deadline.'),
    cfg.IntOpt('max_attempts',
               default=3, min=1,
               help='How many proxies (the first owner included) may drive '
                    'one operation forward. An operation taken over more '
                    'often than this is rolled back instead of resumed, and '
                    'one whose rollback is also interrupted this often is '
                    'marked failed, so that no operation bounces between '
                    'proxies forever.'),
    cfg.IntOpt('compute_wait_deadline',
               default=120, min=1,
               help='Seconds an operation waits for a compute host that is '
                    'down or does not answer when its step comes, before '
                    'the step fails and the operation rolls back. Related '
                    'options: [periodic] service_down_time decides when a '
                    'compute service counts as down; [compute] rpc_timeout '
                    'and call_monitor_timeout bound one call of a step.'),
]


def register_opts(conf):
    conf.register_group(orchestration_group)
    conf.register_opts(orchestration_opts, group=orchestration_group)


def list_opts():
    return {orchestration_group: orchestration_opts}
