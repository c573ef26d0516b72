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
                    'sets the threads of each worker (8 by default in this '
                    'daemon).'),
    cfg.StrOpt('executor',
               default='receiver-first', choices=[
                   ('receiver-first', 'as last-idle, but a call that '
                    'arrives when no other is running or waiting is '
                    'served by the thread that received it, with no '
                    'hand-off; while one runs there longer than 20 to '
                    '40 ms, a watchdog thread receives in its place'),
                   ('last-idle', 'a message goes to the thread that went '
                    'idle last; threads start only when all are busy'),
                   ('threading', "oslo.messaging's threading executor: "
                    'idle threads take messages in turn')],
               help='With rpc_server = oslo.messaging only: how each '
                    'worker runs the calls it receives, on at most '
                    '[DEFAULT] executor_thread_pool_size threads. '
                    'receiver-first saves the hand-off between threads '
                    'for calls that do not overlap (5 to 8% of the CPU '
                    'per call in the fleet simulation, docs/benchmark.rst '
                    'step 37); last-idle keeps one call after another on '
                    'the same thread, starts threads only as calls '
                    'overlap and makes fewer context switches per call '
                    'than threading, oslo.messaging\'s own pool, kept to '
                    'compare (step 29). '
                    'Either way a worker uses one core at most: more cores '
                    'take more workers. Related options: workers, '
                    'rpc_server.'),
    cfg.StrOpt('rpc_server',
               default='direct', choices=[
                   ('direct', 'a server of this project speaking '
                    "oslo.messaging's rabbit wire format with py-amqp "
                    '(nova_proxy.common.direct_rpc): the same queues and '
                    'messages, less CPU per call; RabbitMQ only'),
                   ('oslo.messaging', "oslo.messaging's RPC server and "
                    'rabbit driver, with this project\'s mends')],
               help='What receives and answers the calls of compute '
                    'nodes. Compute nodes see no difference, and proxies '
                    'of both kinds may serve the same topic (a rolling '
                    'change). direct spends a tenth to a quarter less '
                    'CPU per call (docs/benchmark.rst, steps 39 and 40) '
                    'and reads the '
                    'same [oslo_messaging_rabbit] options (TLS included), '
                    'but does not support rabbit_stream_fanout, '
                    'use_queue_manager, kombu_compression or '
                    '[oslo_messaging_tracing] tracing_enabled: the daemon '
                    'refuses to start with them (nova-compute-proxy-status '
                    'upgrade check says so beforehand); set rpc_server = '
                    'oslo.messaging to use them. With direct, executor is '
                    'not used: each worker runs its calls on [DEFAULT] '
                    'executor_thread_pool_size threads, the thread idle '
                    'last taking the next call. Related options: '
                    'executor.'),
    cfg.IntOpt('start_check_timeout',
               default=30, min=1,
               help='Seconds the daemon waits at start, before it forks its '
                    'workers, for its database and then its message broker '
                    '(transport_url) to answer. When either does not, or '
                    'the schema is not this release\'s, it exits with '
                    'status 1 and one line saying what to fix (the systemd '
                    'unit then starts it again).'),
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
                    'heartbeat_interval (a process with it at or below '
                    'heartbeat_interval refuses to start).'),
    cfg.BoolOpt('enforce_host_scope',
                default=True,
                help='When enabled, a compute node may only read and change '
                     'the instances, migrations, services and compute nodes '
                     'of its own host (the ``compute_host`` of the request '
                     'context). Calls without a compute host (operators, '
                     'other proxies) are not restricted.'),
    cfg.IntOpt('console_token_max_ttl',
               default=600, min=1,
               help='Longest life, in seconds, of a console authorization '
                    'token that a compute host may create (nova\'s '
                    'console_auth_token_create, wire 2.x): a token expiring '
                    'later is refused. Keep it at or above nova\'s '
                    '[consoleauth] token_ttl (600 by default). A token names '
                    'the host and port the console proxy connects to, as '
                    'the compute host states them: a compromised host '
                    'could point its own instance\'s token anywhere the '
                    'console proxy reaches, for this long at most '
                    '(docs/security.rst).'),
    cfg.BoolOpt('enable_new_services',
                default=True,
                help='As nova\'s [DEFAULT] enable_new_services: when '
                     'disabled, a ``nova-compute`` service created through '
                     'the proxy (nova\'s service_create, wire 2.x) starts '
                     'disabled, so that an operator enables new compute '
                     'hosts by hand.'),
    cfg.StrOpt('host_keys_dir',
               help='Directory of the keys that authenticate callers '
                    '(nova_proxy.common.auth): ``<host>.key`` for each '
                    'compute host (the same secret as that host\'s '
                    '[proxy_client] key_file) and ``_proxy.key``, the key '
                    'of proxies and operators. A call signed with a host '
                    'key is confined to that host whatever compute_host it '
                    'claims; a call signed with the proxy key is not '
                    'confined. Proxies also sign their calls to a compute '
                    'host with that host\'s key. Files are re-read when '
                    'they change. Create keys with '
                    '``nova-compute-proxy-manage key create``. Unset: '
                    'signed calls are refused (no key to check them) and '
                    'nothing is signed. Related options: '
                    'require_signed_context.'),
    cfg.BoolOpt('require_signed_context',
                default=True,
                help='Refuse calls without a signature (NotAuthenticated). '
                     'Needs host_keys_dir with a key for each compute '
                     'host, and each compute host signing ([proxy_client] '
                     'key_file). When False, unsigned calls are served '
                     'with the compute_host they assert: any process that '
                     'can publish on the broker acts as any compute host, '
                     'and a plain oslo.messaging client works; signed '
                     'calls are always checked. The upgrade check and the '
                     'daemon\'s start-up warn when it is False. Related '
                     'options: host_keys_dir, [compute] '
                     'require_signed_context.'),
    cfg.IntOpt('signature_max_age',
               default=300, min=1,
               help='Seconds a signed call stays valid, either side of the '
                    'receiver\'s clock (the replay window; clocks must '
                    'agree within it). Read by proxies and compute '
                    'services.'),
    cfg.IntOpt('nonce_cache_size',
               default=100000, min=100,
               help='Nonces of signed calls a compute service remembers '
                    '(in <state_path>/signed-call-nonces, across restarts) '
                    'to refuse replays within signature_max_age. Should '
                    'exceed the calls it serves in that window; when '
                    'full, the oldest are forgotten first. The proxies '
                    'do not use it: they share one record of nonces in '
                    'the database (table signed_call_nonces).'),
    cfg.IntOpt('max_request_bytes',
               default=1048576, min=4096,
               help='Largest message body, in bytes, an RPC server of this '
                    'project reads (the proxies\' and the compute '
                    'services\'). A larger one is dropped before it is '
                    'decoded, with a rate-limited warning: its caller gets '
                    'no answer and times out. The largest call a compute '
                    'node makes (an instance with 128 metadata items of '
                    '255 characters) is well under 100 KiB.'),
    cfg.IntOpt('refused_log_interval',
               default=60, min=1,
               help='Seconds during which further messages refused for '
                    'the same reason (failed authentication, unknown '
                    'method or version, malformed envelope, no reply '
                    'address, too large) from the same source are '
                    'counted but not logged. Each first one is one '
                    'WARNING line without a traceback.'),
]


def register_opts(conf):
    conf.register_group(proxy_group)
    conf.register_opts(proxy_opts, group=proxy_group)


def list_opts():
    return {proxy_group: proxy_opts}
