"""Options of the periodic tasks run by the proxies (``[periodic]``).

Every task has ``<task>_interval`` (its period, in seconds) and
``<task>_enabled``. Periods are numbered from the database's clock as
``floor(unix_time / interval)``, so every proxy of a cloud must use the same
interval for a task: two proxies with different intervals number periods
differently and may both run a global task. See ``docs/periodic.rst``.
"""

from oslo_config import cfg

periodic_group = cfg.OptGroup(
    'periodic', title='Periodic task options',
    help='Periodic tasks shared among the live proxies. Membership is the '
         'proxies\' liveness table (see [proxy] liveness_deadline).')

# (task name, default interval, help of the task)
TASKS = (
    ('mark_services_down', 30,
     'Disables (with an "AUTO:" reason) compute services whose last '
     'heartbeat is older than service_down_time, and re-enables them when '
     'they heartbeat again. Per item: one item per service.'),
    ('heal_stuck_instances', 60,
     'Heals instances stuck in a transitional task_state with no operation '
     'in progress and no progress for stuck_instance_timeout, following '
     'the table of docs/periodic.rst. Per item: one item per instance.'),
    ('confirm_resizes', 60,
     'Confirms, through the orchestration API, resizes left unconfirmed '
     'longer than resize_confirm_window. Per item: one item per '
     'instance.'),
    ('purge_deleted', 3600,
     'Hard-deletes instances soft-deleted longer than purge_deleted_age, '
     'and periodic claims and runs older than claim_retention and '
     'record_retention. Global: one run per period across the fleet.'),
)


def _task_opts():
    opts = []
    for name, interval, description in TASKS:
        opts.append(cfg.BoolOpt(
            '%s_enabled' % name, default=True,
            help='Run the %s task. %s Related options: %s_interval.'
                 % (name, description, name)))
        opts.append(cfg.IntOpt(
            '%s_interval' % name, default=interval, min=1, max=86400,
            help='Seconds per period of the %s task: it runs once per '
                 'period across all live proxies. Must be the same on every '
                 'proxy. Related options: %s_enabled.' % (name, name)))
    return opts


periodic_opts = [
    cfg.IntOpt('service_down_time',
               default=60, min=1,
               help='Seconds after its last heartbeat when a compute service '
                    'counts as down. Must be well above [compute] '
                    'report_interval. Related options: '
                    'mark_services_down_interval.'),
    cfg.IntOpt('stuck_instance_timeout',
               default=3600, min=1,
               help='Seconds without any progress (no write to the '
                    'instance, its migrations or its operation) after which '
                    'an instance in a transitional task_state, with no '
                    'operation in progress, is healed. Must be longer than '
                    'the longest step of any operation (a large disk '
                    'copy). Related options: heal_stuck_instances_interval.'),
    cfg.IntOpt('resize_confirm_window',
               default=0, min=0,
               help='Seconds after which a finished resize or cold migration '
                    'that nobody confirmed or reverted is confirmed '
                    'automatically, as nova-compute\'s option of the same '
                    'name does. 0 (the default, as in nova) never confirms '
                    'automatically. Related options: confirm_resizes_enabled.'
               ),
    cfg.IntOpt('purge_deleted_age',
               default=30 * 86400, min=0,
               help='Seconds after its soft deletion when an instance (with '
                    'its metadata, faults and actions) is hard-deleted. '
                    'Related options: purge_batch_size.'),
    cfg.IntOpt('purge_batch_size',
               default=500, min=1, max=100000,
               help='Instances hard-deleted per transaction by the purge '
                    'task; each batch is its own short transaction. '
                    'Related options: purge_max_batches.'),
    cfg.IntOpt('purge_max_batches',
               default=20, min=1,
               help='Batches one run of the purge task deletes at most; '
                    'what is left is purged in the next period.'),
    cfg.IntOpt('record_retention',
               default=7 * 86400, min=60,
               help='Seconds for which the run records of the periodic '
                    'tasks (periodic_runs, what "nova-compute-proxy-manage '
                    'periodic list" shows) are kept. Older ones are deleted '
                    'by the purge task. Related options: claim_retention.'),
    cfg.IntOpt('claim_retention',
               default=3600, min=60,
               help='Seconds for which the claim rows of the periodic tasks '
                    '(periodic_claims, one per item per period) are kept. A '
                    'claim only matters within its own period, so this only '
                    'needs to exceed the longest task interval; claims of '
                    'the last two periods of the longest interval are kept '
                    'whatever this says. Related options: record_retention.'
               ),
] + _task_opts()


def register_opts(conf):
    conf.register_group(periodic_group)
    conf.register_opts(periodic_opts, group=periodic_group)


def list_opts():
    return {periodic_group: periodic_opts}
