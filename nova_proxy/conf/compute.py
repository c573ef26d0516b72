"""Options of the reference compute service (``[compute]``).

Most options configure the ``nova-compute-proxy-compute`` process and its
fake virt driver. ``topic``, ``rpc_timeout`` and ``call_monitor_timeout``
are also read on the other side, by whoever calls compute services through
``nova_proxy.compute.rpcapi.ComputeAPI`` (the proxies' orchestration).
"""

from oslo_config import cfg

compute_group = cfg.OptGroup(
    'compute', title='Reference compute service options',
    help='The nova-compute-proxy-compute service, its fake virt driver, and '
         'the RPC client that proxies use to call compute services.')

FAIL_STEPS_ENV = 'NOVA_PROXY_FAKE_FAIL_STEPS'

compute_opts = [
    cfg.StrOpt('topic',
               default='compute',
               help='RPC topic of compute services. A compute host listens '
                    'on ``<topic>.<host>``; the proxies call it there. Must '
                    'be the same on compute nodes and proxies.'),
    cfg.IntOpt('report_interval',
               default=10, min=1,
               help='Seconds between two heartbeats of the compute service '
                    'record (``service_heartbeat`` through the proxies: '
                    'report_count grows by one, last_seen_up is set to the '
                    'database clock). Related options: [periodic] '
                    'service_down_time must be several times larger.'),
    cfg.IntOpt('resource_update_interval',
               default=60, min=1,
               help='Seconds between two reports of the compute node\'s '
                    'resources and used counters (``compute_node_update``). '
                    'A report is also sent at once whenever a claim is '
                    'taken or released, so this only bounds how stale the '
                    'record can get.'),
    cfg.IntOpt('sync_power_state_interval',
               default=60, min=1,
               help='Seconds between two syncs of the power state of this '
                    'host\'s instances with the virt driver. Instances with '
                    'a task in progress (task_state set) are skipped.'),
    cfg.FloatOpt('startup_retry_interval',
                 default=2.0, min=0.1,
                 help='Seconds between two attempts to reach a proxy while '
                      'the compute service starts. The total wait is bounded '
                      'by [proxy_client] startup_ping_timeout.'),
    cfg.IntOpt('rpc_timeout',
               default=60, min=1,
               help='Client side (ComputeAPI, used by the proxies): seconds '
                    'to wait for a compute service to answer a call, unless '
                    'the caller passes its own timeout. Related options: '
                    'call_monitor_timeout.'),
    cfg.IntOpt('call_monitor_timeout',
               default=10, min=1,
               help='Client side (ComputeAPI): seconds without a heartbeat '
                    'from the compute service while it works on a call '
                    'after which the call fails with MessagingTimeout '
                    '(oslo.messaging call_monitor_timeout). It lets a long '
                    'step (the disk copy of resize_instance) run longer '
                    'than rpc_timeout while a dead compute is still noticed '
                    'within seconds. Must be below rpc_timeout (a process '
                    'with it at or above rpc_timeout refuses to start).'),
    cfg.IntOpt('vcpus', default=16, min=1,
               help='Virtual CPUs the fake virt driver reports.'),
    cfg.IntOpt('memory_mb', default=32768, min=1,
               help='Memory in MiB the fake virt driver reports.'),
    cfg.IntOpt('local_gb', default=1000, min=1,
               help='Local disk in GiB the fake virt driver reports.'),
    cfg.FloatOpt('fake_copy_seconds',
                 default=2.0, min=0,
                 help='How long the fake virt driver takes to copy a disk '
                      'during a migration (resize_instance); it reports '
                      'progress in percent through the proxies '
                      '(migration_update) as it goes.'),
    cfg.ListOpt('fake_fail_steps',
                default=[],
                help='Steps the fake virt driver fails on purpose, for tests '
                     'and demonstrations: any of spawn, power_off, '
                     'power_on, destroy, prep_resize, resize_instance, '
                     'finish_resize, confirm_resize, revert_resize, '
                     'finish_revert_resize, abort_prep_resize. A failing '
                     'step raises StepFailed before it changes anything; a '
                     'step already applied (found in the ledger) is '
                     'answered from the ledger and does not fail. The '
                     'environment variable ' + FAIL_STEPS_ENV + ' (a comma '
                     'separated list), when set, replaces this option. '
                     'Empty in production.'),
    cfg.BoolOpt('require_signed_context',
                default=True,
                help='Refuse calls on ``<topic>.<host>`` that a proxy did '
                     'not sign with this host\'s key (NotAuthenticated). '
                     'Needs [proxy_client] key_file. When False, unsigned '
                     'calls are served: any process that can publish on '
                     'the broker may, for example, terminate this host\'s '
                     'instances; signed calls are always checked. The '
                     'service warns at start when it is False. Related '
                     'options: [proxy_client] key_file.'),
]


def register_opts(conf):
    conf.register_group(compute_group)
    conf.register_opts(compute_opts, group=compute_group)


def list_opts():
    return {compute_group: compute_opts}
