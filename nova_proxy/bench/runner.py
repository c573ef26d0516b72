"""One benchmark run: set up, measure every scenario, tear down.

The order is fixed so that a run is repeatable: direct (update and build),
raw-sql, the raw AMQP echo, the oslo.messaging echo, the proxy with one
process, then with two; then the fleet simulation against the two. Every
server is started by the run and stopped at the end; the database is
created by the run and dropped at the end, whatever happens (SIGTERM
included: ``nova_proxy.cmd.bench`` turns it into an exit).
"""

import contextlib
import logging
import os
import shutil
import tempfile
import time
import uuid

from nova_proxy.bench import cpu
from nova_proxy.bench import echo
from nova_proxy.bench import fleet
from nova_proxy.bench import load
from nova_proxy.bench import profiling
from nova_proxy.bench import servers
from nova_proxy.bench import stats
from nova_proxy.bench import workloads

LOG = logging.getLogger(__name__)

__all__ = ['Profile', 'PROFILES', 'Bench', 'EchoServers']

RABBIT_URL = os.environ.get('NOVA_PROXY_BENCH_RABBIT_URL',
                            'rabbit://guest:guest@127.0.0.1:5672/')
AMQP_HOST = os.environ.get('NOVA_PROXY_BENCH_AMQP_HOST', '127.0.0.1:5672')


# Bad messages sent before each round of proxy-signed-burst-1 (the
# smoke profile sends fewer).
BURST = 1000


class Profile:
    """How much to measure: caller counts, rounds, seconds per round."""

    def __init__(self, name, callers, rounds, duration, fleet_duration,
                 fleet_max_nodes, warmup=0.3, burst=None):
        self.name = name
        # Bad messages sent before each round of proxy-signed-burst-1.
        self.burst = BURST if burst is None else burst
        self.callers = list(callers)
        self.rounds = rounds
        self.duration = duration
        self.fleet_duration = fleet_duration
        self.fleet_max_nodes = fleet_max_nodes
        self.warmup = warmup


PROFILES = {
    'full': Profile('full', (1, 16, 64), rounds=3, duration=1.5,
                    fleet_duration=5.0, fleet_max_nodes=16000),
    'quick': Profile('quick', (1, 16, 64), rounds=1, duration=1.0,
                     fleet_duration=3.0, fleet_max_nodes=8000),
    # A smaller burst: what 1,000 cost would take the whole of a round
    # this short on a busy CI machine.
    'smoke': Profile('smoke', (1, 2), rounds=1, duration=0.5,
                     fleet_duration=0.5, fleet_max_nodes=20, warmup=0.05,
                     burst=100),
}

# (name, what it is, calls per operation)
SCENARIOS = [
    ('direct', 'instance_update in-process (nova-compute before)', 1),
    ('direct-scoped', 'instance_update in-process with the host-scope '
                      'condition the proxy adds', 1),
    ('direct-build', 'an instance build in-process', workloads.BUILD_CALLS),
    ('raw-sql', 'the compare-and-swap of direct-scoped as its driver runs '
                'it: the same SQL, no database layer (floor of the '
                'database part)', 1),
    ('amqp', 'raw AMQP echo, direct reply-to (floor of any RPC)', 1),
    ('oslo', 'oslo.messaging echo, default settings (floor of '
             'oslo.messaging)', 1),
    ('proxy-1', 'instance_update through the proxy, 1 process', 1),
    ('proxy-signed-1', 'instance_update through the proxy, 1 process, '
                       'each call signed with its host\'s key and checked',
     1),
    ('proxy-signed-burst-1', 'as proxy-signed-1, under a burst of %d bad '
                             'messages (no key, no or a missing reply '
                             'queue, malformed) sent before each round'
     % BURST, 1),
    ('build-1', 'an instance build through the proxy, 1 process',
     workloads.BUILD_CALLS),
    ('proxy-nova-1', 'Instance.save() through the 2.x shim (nova\'s '
                     'instance_update_and_get_original), 1 process', 1),
    ('build-nova-1', 'an instance build as nova 34\'s compute makes it, '
                     'through the 2.x shim, 1 process',
     workloads.BUILD_NOVA_CALLS),
    ('proxy-2', 'instance_update through the proxy, 2 processes', 1),
    ('build-2', 'an instance build through the proxy, 2 processes',
     workloads.BUILD_CALLS),
    ('build-combined-1', 'the same build with its event in the first and '
                         'last state change, 1 process',
     workloads.BUILD_COMBINED_CALLS),
    ('build-combined-2', 'the same build with its event in the first and '
                         'last state change, 2 processes',
     workloads.BUILD_COMBINED_CALLS),
]
BUILD_MAX_CALLERS = 16
# raw-sql holds a connection per caller beside the run's pool: at 64 the
# two would pass PostgreSQL's default max_connections (100) on a shared
# server. Its floor is needed at the targets' 1 and 16 callers only.
RAW_SQL_MAX_CALLERS = 16
SCENARIO_CALLS = {name: calls for name, _, calls in SCENARIOS}
SCENARIO_LABELS = {name: label for name, label, _ in SCENARIOS}
# Served by one proxy process (``run_proxy(1)``), by two.
_ONE_PROCESS = {'proxy-1', 'proxy-signed-1', 'proxy-signed-burst-1',
                'build-1', 'build-combined-1', 'proxy-nova-1',
                'build-nova-1'}
_TWO_PROCESSES = {'proxy-2', 'build-2', 'build-combined-2'}


def _on_state(workload):
    """``call(state)`` of ``load.run_round`` for a caller's ``(api, host,
    ctx)``: one ``workload(api, host, ctx)``."""
    def call(state):
        workload(*state)
    return call


def _difference(end, start):
    return None if end is None or start is None else end - start


class Bench:

    def __init__(self, profile, backend='postgresql', directory=None,
                 proxy_overrides=None, scenarios=None, fleet=True,
                 fleet_bound_ms=100.0, progress=None, sample=False):
        self.profile = profile
        self.backend = backend
        self._own_directory = directory is None
        self.directory = directory or tempfile.mkdtemp(prefix='np-bench-')
        os.makedirs(self.directory, exist_ok=True)
        self.proxy_overrides = proxy_overrides or {}
        self.scenarios = scenarios or [s[0] for s in SCENARIOS]
        self.fleet = fleet
        self.fleet_bound_ms = fleet_bound_ms
        self.progress = progress or (lambda message: None)
        # RabbitMQ names a topic's queue after the topic alone, whatever
        # the exchange: a run's own exchange is not enough to keep other
        # consumers of the same topic (tests, other runs) off its queues,
        # so the topics are the run's own too.
        self.run_id = uuid.uuid4().hex[:10]
        self.exchange = 'np-bench-%s' % self.run_id
        self.proxy_topic = 'np-bench-proxy-%s' % self.run_id
        self.echo_topic = 'np-bench-echo-%s' % self.run_id
        self.database = None
        self.hosts = []
        self.servers = {}
        self.proxies = []
        self.results = {}
        self.rounds = {}
        self.proxy_idle_cpu = {}
        self.sample = sample
        self.samples = None
        self._profile_parts = []
        self._passes = False
        self._load_at_start = ()
        self._stolen_at_start = None
        self._host_keys = None
        # The proxies started, by name: each has a queue of its own.
        self._proxy_names = set()

    # -- set up and tear down --

    def _configure(self):
        from nova_proxy.common import rpc
        from nova_proxy.compute.db import _client as nova_shim
        from nova_proxy.compute import db_v1 as shim
        from nova_proxy import conf
        from nova_proxy.db import session as db_session
        CONF = conf.CONF
        import oslo_messaging as messaging
        if not CONF._args:
            CONF([], project='nova-compute-proxy', default_config_files=[])
        # The run's own exchange, so that nothing else on the broker sees
        # our messages; a default, as the transport options are registered
        # by the transport itself.
        messaging.set_transport_defaults(control_exchange=self.exchange)
        # One pooled AMQP connection per caller thread: with fewer (the
        # default is 30), callers past the pool wait for a connection and
        # oslo.messaging logs a warning for each wait, which would measure
        # the client's pool rather than the server.
        from oslo_config import cfg
        from oslo_messaging._drivers import impl_rabbit
        cfg.set_defaults(impl_rabbit.rabbit_opts, rpc_conn_pool_size=max(
            [fleet.CALLER_THREADS] + list(self.profile.callers)) + 8)
        CONF.set_override('connection', self.database.url, group='database')
        CONF.set_override('topic', self.proxy_topic, group='proxy')
        db_session.dispose()
        rpc.cleanup()
        shim.reset()
        nova_shim.reset()
        rpc.init(url=RABBIT_URL)
        CONF.set_override('transport_url', RABBIT_URL)

    def setup(self):
        from nova_proxy.bench import database
        self.database = database.BenchDatabase(self.backend, self.directory)
        self.progress('run %s: directory %s, %s database %s' % (
            self.run_id, self.directory, self.backend, self.database.name))
        self.database.create()
        self._configure()
        need = max(self.profile.callers)
        self.hosts = workloads.seed_hosts('bench-cn', need)
        # The fleet signs its calls, as compute nodes do by default.
        if self.fleet or {'proxy-signed-1',
                          'proxy-signed-burst-1'} & set(self.scenarios):
            self._host_keys = self._write_host_keys()
            self.add_host_keys(self.hosts)

    def _write_host_keys(self):
        """The directory of the simulated hosts' keys and the client's key
        file: ``(directory, client key file)``. The proxies get the
        directory as ``[proxy] host_keys_dir``, and verify a signed call as
        they would in a cloud; the client signs as each host. One secret
        for all the hosts is a shortcut of the bench: a call costs what it
        would with a key of its own."""
        from nova_proxy.common import keys
        directory = os.path.join(self.directory, 'host-keys')
        os.makedirs(directory, mode=0o700)
        client_key = os.path.join(self.directory, 'compute.key')
        keys.write_key_file(client_key)
        return directory, client_key

    @property
    def host_key_file(self):
        """The key file the simulated hosts sign with."""
        if self._host_keys is None:
            raise RuntimeError('no host keys: this run was set up without '
                               'the fleet or a signed scenario')
        return self._host_keys[1]

    def recorded_nonces(self, signed_from):
        """The nonces' rows of the calls signed from ``signed_from``
        (seconds since the epoch) or later, and a few of the second
        before: count them before and after, the difference is the calls
        signed in between that the proxies served."""
        from nova_proxy import conf
        from nova_proxy.db import nonces
        return nonces.count(None, expiring_from=(
            signed_from + conf.CONF.proxy.signature_max_age))

    def add_host_keys(self, hosts):
        """Give ``hosts`` their key in the proxies' ``host_keys_dir``."""
        from nova_proxy.common import keys
        directory, client_key = self._host_keys
        for host in hosts:
            path = keys.host_key_path(host.name, directory)
            shutil.copyfile(client_key, path)
            os.chmod(path, 0o600)

    def teardown(self):
        from nova_proxy.common import rpc
        from nova_proxy.db import session as db_session
        for server in list(self.servers.values()) + self.proxies:
            try:
                server.stop()
            except Exception:
                LOG.exception('Could not stop %s', server.name)
        self.servers = {}
        self.proxies = []
        rpc.cleanup()
        db_session.dispose()
        if self.database is not None:
            try:
                self.database.drop()
            except Exception:
                LOG.exception('Could not drop %s', self.database.name)
        self._delete_broker_names()

    def broker_names(self):
        """``(queues, exchanges)``: what this run declared on the broker
        that outlives it (topic queues have no expiry, nor do the fan-out
        exchanges of the proxies' and the echo server's topics). The
        fan-out and reply queues expire by themselves
        (``rabbit_transient_queues_ttl``)."""
        queues = [self.proxy_topic, self.echo_topic,
                  '%s.%s' % (self.echo_topic, echo.OSLO_ECHO_SERVER),
                  # auto-delete, but only once it had a consumer
                  self.amqp_echo_queue]
        queues += ['%s.%s' % (self.proxy_topic, name)
                   for name in sorted(self._proxy_names)]
        return queues, [self.exchange, '%s_fanout' % self.proxy_topic,
                        '%s_fanout' % self.echo_topic]

    def _delete_broker_names(self):
        """Delete ``broker_names()`` where nothing consumes them: a run
        leaves nothing on a shared broker. A broker out of reach is a
        warning, not a failed run."""
        import amqp

        from nova_proxy.common import direct_amqp
        from nova_proxy import conf
        queues, exchanges = self.broker_names()
        try:
            # The run's transport_url (``_configure``), read as the
            # proxies read it: hosts, credentials, virtual host, TLS.
            connection = direct_amqp.Broker(conf.CONF).connect(
                'np-bench-cleanup')
        except Exception as e:
            LOG.warning('Left the run\'s queues on the message broker: '
                        '%s', e)
            return
        try:
            channel = connection.channel()
            for kind, name in [('queue', q) for q in queues] + \
                    [('exchange', x) for x in exchanges]:
                try:
                    if kind == 'queue':
                        channel.queue_delete(name, if_unused=True)
                    else:
                        channel.exchange_delete(name)
                except amqp.exceptions.ChannelError as e:
                    # Still in use (another run's consumer?): left. The
                    # broker closed the channel.
                    LOG.warning('Left %s %s on the message broker: %s',
                                kind, name, e)
                    channel = connection.channel()
        except Exception as e:
            LOG.warning('Left some of the run\'s queues on the message '
                        'broker: %s', e)
        finally:
            try:
                connection.close()
            except Exception:
                pass

    # -- servers --

    def start_proxies(self, count, driver_report=None):
        """Have ``count`` proxy processes running, and answering; the ones
        started here with their psycopg2 timed in ``driver_report``
        (``drivercpu``), if given."""
        from nova_proxy.common import context as np_context
        from nova_proxy.proxy import rpcapi
        while len(self.proxies) < count:
            name = 'bench-proxy-%d' % len(self.proxies)
            overrides = {'proxy': {'topic': self.proxy_topic}}
            if self._host_keys is not None:
                # Unsigned calls are still served (require_signed_context
                # stays off), so the other scenarios run on these
                # processes unchanged.
                overrides['proxy']['host_keys_dir'] = self._host_keys[0]
            for group, values in self.proxy_overrides.items():
                overrides.setdefault(group, {}).update(values)
            self._proxy_names.add(name)
            self.proxies.append(servers.start_proxy(
                self.directory, name, RABBIT_URL, self.exchange,
                self.database.url, overrides, driver_report=driver_report))
        for proxy in self.proxies:
            proxy.wait_log('serving', timeout=90)
        api = rpcapi.ProxyAPI()
        ctx = np_context.get_admin_context()
        # A server logs that it serves before its queue is bound: a message
        # sent in between is dropped. Ping until every answer comes back.
        servers.wait_for(lambda: _answers(lambda: api.ping(
            ctx, 'warm-up', timeout=2), 4 * count), timeout=90,
            message='the proxies to answer')
        if driver_report is None:
            # Not of proxies timing their driver: that costs them CPU.
            self.proxy_idle_cpu[str(count)] = self._idle_cpu()

    def _idle_cpu(self):
        """CPU (in cores) the running proxies use with no caller: their
        background threads (liveness heartbeat, journal scan, periodic
        task ticks). It is a cost per process, not per call."""
        meter = cpu.CpuMeter([cpu.CpuProbe('server', self.proxy_pids)])
        meter.start()
        started = time.perf_counter()
        time.sleep(max(self.profile.duration, 0.5))
        used = meter.stop()['server']
        return used / (time.perf_counter() - started)

    def stop_proxies(self):
        for proxy in self.proxies:
            proxy.stop()
        self.proxies = []

    def proxy_pids(self):
        return cpu.descendants([p.pid for p in self.proxies])

    # -- measuring --

    def _meter(self, server_pids):
        client_pid = os.getpid()
        probes = [cpu.CpuProbe('client', lambda: [client_pid]),
                  cpu.CpuProbe('server', server_pids),
                  cpu.CpuProbe('broker', lambda: cpu.find_pids('beam.smp'))]
        if self.backend != 'sqlite':
            probes.append(cpu.CpuProbe('database',
                                       self.database.backend_pids))
        return cpu.CpuMeter(probes)

    def measure(self, name, states_for, call, server_pids):
        """Every caller count of one scenario; results are medians.

        Inside ``run()``, which measures every scenario once per pass, this
        takes one round per caller count and adds it to the rounds of the
        earlier passes; otherwise (``tune``) it takes ``rounds`` rounds.
        """
        calls_per_op = SCENARIO_CALLS[name]
        in_passes = self._passes
        rounds_now = 1 if in_passes else self.profile.rounds
        per_callers = {}
        callers_list, duration = self.profile.callers, self.profile.duration
        if calls_per_op > 1:
            # A build takes many round trips: longer rounds, and no more
            # builds at once than a busy compute node would run.
            callers_list = [c for c in callers_list
                            if c <= BUILD_MAX_CALLERS]
            duration *= 3
        if name == 'raw-sql':
            callers_list = [c for c in callers_list
                            if c <= RAW_SQL_MAX_CALLERS]
        for callers in callers_list:
            states = states_for(callers)
            new_rounds = []
            sampler = None
            if self.sample and name == 'proxy-1' and callers == max(
                    c for c in callers_list if c <= 16):
                # Sampled in every pass; the report merges the passes.
                sampler = profiling.Sampler(
                    self.proxies[0].pid,
                    rounds_now * (duration + self.profile.warmup),
                    os.path.join(self.directory, 'proxy-profile-%d.txt'
                                 % len(self._profile_parts)))
            threads_before = (cpu.thread_cpu(server_pids())
                              if sampler is not None else None)
            for _ in range(rounds_now):
                result = load.run_round(
                    states, call, duration,
                    meter=self._meter(server_pids),
                    warmup=self.profile.warmup)
                new_rounds.append(result.as_dict())
            if sampler is not None:
                # Warm-ups are not counted in a round's calls: the split
                # leans a little high, the same way for every part.
                threads = cpu.thread_split(
                    threads_before, cpu.thread_cpu(server_pids()),
                    sum(r['calls'] for r in new_rounds))
                self._profile_parts.append(
                    (sampler.output, sampler.finish(), threads))
                self.samples = dict(
                    profiling.merge(self._profile_parts), callers=callers)
            rounds = new_rounds
            if in_passes:
                rounds = self.rounds.get(name, {}).get(str(callers),
                                                       []) + new_rounds
            summary = stats.summarize(rounds, calls_per_op)
            per_callers[str(callers)] = summary
            self.rounds.setdefault(name, {})[str(callers)] = rounds
            self.progress('%-13s %3d callers: %8.0f calls/s  p50 %6.2f ms  '
                          'p99 %7.2f ms  server %s us/call%s' % (
                              name, callers, summary['calls_per_s'] or 0,
                              summary['p50_ms'] or 0, summary['p99_ms'] or 0,
                              _fmt(summary['cpu_us_per_call'].get('server')),
                              '  ERRORS %d (%s)' % (
                                  summary['errors'], summary['first_error'])
                              if summary['errors'] else ''))
        self.results[name] = per_callers
        return per_callers

    def _db_states(self, remote):
        api = workloads.remote_api() if remote else workloads.DirectAPI()

        def states_for(callers):
            return [(api, host, host.context(remote))
                    for host in self.hosts[:callers]]
        return states_for

    def _nova_states(self):
        """Callers of the 2.x shim, each in its host's user context, as
        nova-compute sends a build's calls."""
        api = workloads.nova_api()

        def states_for(callers):
            return [(api, host, host.nova_context())
                    for host in self.hosts[:callers]]
        return states_for

    def _signed_states(self):
        """As ``_db_states(True)``, each host's calls signed with its key
        (``auth.Signer``), as a compute node with ``[proxy_client]
        key_file`` signs them."""
        from nova_proxy.common import auth
        from nova_proxy.proxy import rpcapi
        apis = {}

        def states_for(callers):
            states = []
            for host in self.hosts[:callers]:
                if host.name not in apis:
                    apis[host.name] = rpcapi.ProxyAPI(signer=auth.Signer(
                        'compute', host.name, key_file=self.host_key_file))
                states.append((apis[host.name], host, host.context(True)))
            return states
        return states_for

    def _under_burst(self, states_for):
        """``states_for``, sending the profile's ``burst`` of bad messages
        to the proxies first: the round that follows is served while the
        proxies work through them."""
        from nova_proxy.bench import attack

        def under_burst(callers):
            traffic = attack.BadTraffic(RABBIT_URL, self.exchange,
                                        self.proxy_topic)
            try:
                traffic.burst(self.profile.burst)
            finally:
                traffic.close()
            return states_for(callers)
        return under_burst

    _update = staticmethod(_on_state(workloads.update_once))

    @staticmethod
    def _update_scoped(state):
        api, host, ctx = state
        workloads.update_once(api, host, ctx, scope_host=host.name)

    _build = staticmethod(_on_state(workloads.build_once))

    _update_nova = staticmethod(_on_state(workloads.update_once_nova))

    _build_nova = staticmethod(_on_state(workloads.build_once_nova))

    _build_combined = staticmethod(_on_state(workloads.build_once_combined))

    def run_direct(self):
        no_server = (lambda: [])
        if 'direct' in self.scenarios:
            self.measure('direct', self._db_states(False), self._update,
                         no_server)
        if 'direct-scoped' in self.scenarios:
            self.measure('direct-scoped', self._db_states(False),
                         self._update_scoped, no_server)
        if 'direct-build' in self.scenarios:
            self.measure('direct-build', self._db_states(False),
                         self._build, no_server)
        if 'raw-sql' in self.scenarios:
            self.run_raw_sql()

    def run_raw_sql(self):
        """``raw-sql``: each caller replays, on a driver connection of its
        own, the statements its host's scoped ``instance_update`` ran
        (:mod:`nova_proxy.bench.rawsql`); the CPU is the bench process's,
        as for ``direct``."""
        from nova_proxy.bench import rawsql
        callers = {}

        def states_for(count):
            for host in self.hosts[:count]:
                if host.name not in callers:
                    callers[host.name] = rawsql.RawCaller(
                        self.database.url, rawsql.capture(host))
            return [callers[host.name] for host in self.hosts[:count]]
        try:
            self.measure('raw-sql', states_for, lambda c: c.call(),
                         lambda: [])
        finally:
            for caller in callers.values():
                caller.close()

    def run_echo(self, kind):
        """The scenario ``kind`` (``fleet.ECHO_KINDS``): the echo server
        of that kind, one process, called as the proxies are."""
        echoes = self.start_echo(kind, [kind])
        try:
            callers = []

            def states_for(count):
                while len(callers) < count:
                    callers.append(echoes.caller())
                return callers[:count]

            self.measure(kind, states_for, lambda c: c.call(echoes.payload),
                         echoes.pids)
        finally:
            echoes.stop()

    @property
    def amqp_echo_queue(self):
        """The raw echo servers' queue (auto-delete: it goes with its
        last consumer)."""
        return 'np-bench-amqp-echo-%s' % self.run_id

    def start_echo(self, kind, names):
        """Echo server processes of ``kind`` (``fleet.ECHO_KINDS``), one
        per name of ``names`` (``self.servers[name]``), all on one queue,
        answering: their ``EchoServers``, whose ``stop()`` stops them."""
        echoes = _ECHO_SERVERS[kind](self)
        try:
            for name in names:
                echoes.start(name)
        except BaseException:
            echoes.stop()
            raise
        return echoes

    def run_proxy(self, processes):
        self.progress('starting %d proxy process(es)' % processes)
        self.start_proxies(processes)
        update, build = 'proxy-%d' % processes, 'build-%d' % processes
        if update in self.scenarios:
            self.measure(update, self._db_states(True), self._update,
                         self.proxy_pids)
        signed = 'proxy-signed-%d' % processes
        if signed in self.scenarios:
            self.measure(signed, self._signed_states(), self._update,
                         self.proxy_pids)
        if build in self.scenarios:
            self.measure(build, self._db_states(True), self._build,
                         self.proxy_pids)
        nova = 'proxy-nova-%d' % processes
        if nova in self.scenarios:
            self.measure(nova, self._nova_states(),
                         self._update_nova, self.proxy_pids)
        nova_build = 'build-nova-%d' % processes
        if nova_build in self.scenarios:
            self.measure(nova_build,
                         self._nova_states(),
                         self._build_nova, self.proxy_pids)
        combined = 'build-combined-%d' % processes
        if combined in self.scenarios:
            self.measure(combined, self._db_states(True),
                         self._build_combined, self.proxy_pids)
        # Last: what the proxies have not worked through by the end of the
        # round does not weigh on another scenario of this pass.
        burst = 'proxy-signed-burst-%d' % processes
        if burst in self.scenarios:
            self.measure(burst, self._under_burst(self._signed_states()),
                         self._update, self.proxy_pids)

    def run(self):
        """Measure everything; returns the report dict."""
        started = time.time()
        self._load_at_start = os.getloadavg()
        self._stolen_at_start = cpu.stolen_seconds()
        # Every scenario is measured once per pass, and the passes repeat:
        # a burst of load from elsewhere on a shared machine then falls on
        # one round of each scenario rather than on all the rounds of one,
        # which would skew the ratios between scenarios.
        self._passes = True
        try:
            self.setup()
            for number in range(self.profile.rounds):
                self.progress('pass %d of %d' % (number + 1,
                                                 self.profile.rounds))
                last = number == self.profile.rounds - 1
                self._run_pass(keep_proxies=last and self.fleet)
            fleet_result = None
            if self.fleet:
                fleet_result = fleet.find_capacity(
                    self, bound_ms=self.fleet_bound_ms,
                    echo_floors=[kind for kind in fleet.ECHO_KINDS
                                 if kind in self.scenarios],
                    driver_floor=self.backend == 'postgresql')
        finally:
            self.teardown()
        # The servers' logs are kept only when something failed.
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)
        return self.report(fleet_result, time.time() - started)

    def _run_pass(self, keep_proxies):
        self.run_direct()
        for kind in ('amqp', 'oslo'):
            if kind in self.scenarios:
                self.run_echo(kind)
        if _ONE_PROCESS & set(self.scenarios):
            self.run_proxy(1)
        if _TWO_PROCESSES & set(self.scenarios) or keep_proxies:
            self.run_proxy(2)
        if not keep_proxies:
            self.stop_proxies()

    def report(self, fleet_result, elapsed):
        calm = stats.calm(self._load_at_start, os.cpu_count())
        return {
            'profile': vars(self.profile),
            'backend': self.backend,
            'elapsed_s': elapsed,
            'cpus': os.cpu_count(),
            # The machine's load average (1, 5, 15 min) before and after:
            # the floors move with it more than the proxy does, so runs
            # compare only when their machines were alike.
            'load_average': {
                'start': list(self._load_at_start),
                'end': list(os.getloadavg())},
            # CPU the hypervisor took while the run ran (None: unknown).
            'stolen_cpu_s': _difference(cpu.stolen_seconds(),
                                        self._stolen_at_start),
            'proxy_overrides': self.proxy_overrides,
            'scenarios': {name: SCENARIO_LABELS[name]
                          for name in self.results},
            'calls_per_op': {name: SCENARIO_CALLS[name]
                             for name in self.results},
            'results': self.results,
            'rounds': self.rounds,
            'calm': calm,
            'targets': stats.targets(
                self.results, capacity=(fleet_result or {}).get('capacity'),
                calm_run=bool(calm)),
            'proxy_idle_cpu_cores': self.proxy_idle_cpu,
            'proxy_profile': self.samples,
            'fleet': fleet_result,
        }


class EchoServers:
    """Echo server processes of one kind on one queue, started by
    ``Bench.start_echo``, and their callers (``call(payload)`` with
    ``payload``): ``caller()`` for one calling thread,
    ``shared_caller()`` for calls from any thread. ``stop()`` closes the
    callers and stops the servers."""

    def __init__(self, bench):
        self.bench = bench
        self.payload = echo.echo_payload()
        self.names = []
        self._callers = []

    def start(self, name):
        """One more server, ``name``, once the servers answer."""
        self.bench.servers[name] = self._start_server('%s-echo' % name)
        self.names.append(name)
        self._answering()

    def _start_server(self, process_name):
        """A server process named ``process_name``, started."""
        raise NotImplementedError

    def _answering(self):
        """Returns once the servers answer: each does once started."""

    def caller(self):
        """A caller for one calling thread."""
        raise NotImplementedError

    def shared_caller(self):
        """A caller for calls from any thread."""
        raise NotImplementedError

    def pids(self):
        """The servers' processes, for the CPU meter."""
        return cpu.descendants([self.bench.servers[name].pid
                                for name in self.names])

    def _keep(self, caller):
        self._callers.append(caller)
        return caller

    def stop(self):
        callers, self._callers = self._callers, []
        for caller in callers:
            caller.close()
        names, self.names = self.names, []
        for name in names:
            server = self.bench.servers.pop(name, None)
            if server is not None:
                server.stop()


class _OsloEchoServers(EchoServers):
    """oslo.messaging's echo servers on the run's echo topic, called
    through the bench process's transport: one client, thread-safe,
    serves every caller."""

    _client = None

    def _start_server(self, process_name):
        bench = self.bench
        return servers.start_oslo_echo(bench.directory, RABBIT_URL,
                                       bench.exchange, bench.echo_topic,
                                       name=process_name)

    def _answering(self):
        client = self.caller()
        servers.wait_for(lambda: _answers(
            lambda: client.client.prepare(timeout=2).call(
                {}, 'echo', arg=self.payload), 3), timeout=60,
            message='the oslo.messaging echo server to answer')

    def caller(self):
        from nova_proxy.common import rpc
        if self._client is None:
            self._client = self._keep(echo.OsloEchoClient(
                rpc.get_transport(), self.bench.echo_topic))
        return self._client

    shared_caller = caller


class _AmqpEchoServers(EchoServers):
    """The raw AMQP echo servers on the run's raw echo queue, called on a
    connection of each calling thread."""

    def __init__(self, bench):
        super().__init__(bench)
        # (host, userid, password, queue) of the servers and the callers.
        self._address = (AMQP_HOST, 'guest', 'guest', bench.amqp_echo_queue)

    def _start_server(self, process_name):
        return servers.start_amqp_echo(self.bench.directory, *self._address,
                                       name=process_name)

    def caller(self):
        return self._keep(echo.AmqpEchoClient(*self._address))

    def shared_caller(self):
        return self._keep(echo.AmqpEchoClients(*self._address))


_ECHO_SERVERS = {'oslo': _OsloEchoServers, 'amqp': _AmqpEchoServers}


def _answers(call, times):
    for _ in range(times):
        call()
    return True


def _fmt(value):
    return '-' if value is None else '%.0f' % value


@contextlib.contextmanager
def quiet_logging():
    logging.basicConfig(level=logging.WARNING)
    yield
