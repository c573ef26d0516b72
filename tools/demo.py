"""The main job of README.rst: the whole system on one machine.

A story in six acts. With RabbitMQ answering at 127.0.0.1:5672 it runs
real processes, as an operator would: ``nova-compute-proxy-manage db
sync`` on the embedded SQLite default, one ``nova-compute-proxy`` (with
its metrics endpoint on) and two ``nova-compute-proxy-compute`` services
(compute-1, compute-2), then the ``nova-compute-proxy-manage server``
commands to build instances and to resize one across the two computes,
follow it and confirm it, and last what an operator looks at: the
journal, ``status``, ``nova-compute-proxy-status upgrade check`` and the
metrics. Each command is shown as typed; it runs as ``python -m`` of the
same interpreter, so the demo runs this tree's code, installed or not.

With no broker it runs the proxy and both compute services as threads of
this one process on oslo.messaging's in-process ("fake") transport and says
so. That mode cannot block the computes' database access (they share the
process with the proxy); the broker mode does.

Everything lives under ./demo-state, wiped at each run; the services' logs
are there too.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COMPUTES = ('compute-1', 'compute-2')
# This run's suffix of its names on the broker, and those names: written
# in the configuration files, and deleted at the end.
RUN = os.urandom(4).hex()
EXCHANGE = 'nova_proxy_demo_%s' % RUN
PROXY_TOPIC = 'compute_proxy_demo_%s' % RUN
COMPUTE_TOPIC = 'compute_demo_%s' % RUN


def broker_answers(host='127.0.0.1', port=5672):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def write_conf(state, name, transport_url, extra='', proxy='', compute=''):
    """``proxy`` and ``compute``: more lines of those sections."""
    path = os.path.join(state, name + '.conf')
    with open(path, 'w') as f:
        # Names of its own on the broker, so that the demo never serves or
        # steals the calls of a real deployment on the same RabbitMQ, nor
        # of another demo (or the leftovers of one that was killed).
        f.write('[DEFAULT]\nhost = %s\nstate_path = %s\n'
                'transport_url = %s\ncontrol_exchange = %s\n'
                % (name, os.path.join(state, name), transport_url, EXCHANGE))
        f.write('[proxy]\ntopic = %s\n' % PROXY_TOPIC + proxy)
        f.write('[database]\nconnection = sqlite:///%s\n'
                % os.path.join(state, 'nova_proxy.sqlite'))
        f.write('[compute]\ntopic = %s\nreport_interval = 2\n'
                'fake_copy_seconds = 3\n' % COMPUTE_TOPIC + compute)
        f.write(extra)
    return path


def say(text, story=None):
    print('\n== %s' % text, flush=True)
    if story:
        print(textwrap.fill(story, 76, break_on_hyphens=False), flush=True)


def shown(argv):
    """The command as an operator types it: the console script's name,
    without the config file the demo passes."""
    script = {'nova_proxy.cmd.manage': 'nova-compute-proxy-manage',
              'nova_proxy.cmd.status': 'nova-compute-proxy-status'}
    words = [script.get(argv[2], argv[2])] if argv[1] == '-m' else [
        os.path.basename(argv[0])]
    rest = argv[3:] if argv[1] == '-m' else argv[1:]
    words += [a for a in rest if a != '--config-file' and
              not a.endswith('.conf')]
    return '$ %s' % ' '.join(words)


def run(argv, check=True, capture=False):
    """Run a command as the demo's reader would, showing it. With
    ``capture``, return its stdout (its stderr, where ``--wait`` draws its
    progress line for a script, stays on the terminal)."""
    print(shown(argv), flush=True)
    if capture:
        result = subprocess.run(argv, stdout=subprocess.PIPE, text=True)
        print(result.stdout.rstrip(), flush=True)
    else:
        result = subprocess.run(argv)
    if check and result.returncode != 0:
        raise SystemExit('command failed with exit code %d'
                         % result.returncode)
    return result.stdout if capture else result.returncode


def module(name, conf_path, *args):
    return [sys.executable, '-m', name, '--config-file', conf_path] + list(
        args)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise SystemExit('timed out waiting for %s' % what)


def services_up(conf_path, names):
    out = subprocess.run(
        [sys.executable, '-c',
         'import sys; from nova_proxy import cmd; '
         'from nova_proxy.common import service, context; '
         'service.prepare_service(["x", "--config-file", sys.argv[1]]); '
         'from nova_proxy.db import api; '
         'print(" ".join(s["host"] for s in api.service_get_all('
         'context.get_admin_context()) if s["report_count"] > 0))',
         conf_path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True).stdout.split()
    return all(n in out for n in names)


def start_service(state, script, name, conf_path):
    log = open(os.path.join(state, name + '.log'), 'w')
    return subprocess.Popen([sys.executable, '-m', script, '--config-file',
                             conf_path], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


METRICS = ('[metrics]\nenabled = true\nport = %d\n')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def broker_mode(state):
    url = 'rabbit://guest:guest@127.0.0.1:5672/'
    port = free_port()
    keys = os.path.join(state, 'keys')
    proxy_conf = write_conf(state, 'proxy-1', url, METRICS % port,
                            proxy='host_keys_dir = %s\n' % keys)
    say('Act 1: a database for the proxies',
        'The proxies are the only processes that open the database; they '
        'keep nova\'s tables and their own (the operations journal, the '
        'liveness of each proxy, the periodic tasks\' claims). Here it is '
        'the embedded SQLite default; "db sync" creates the schema. Then '
        'the keys: every call is signed (the default requires it), with a '
        'key per compute host and one of the proxies.')
    run(module('nova_proxy.cmd.manage', proxy_conf, 'db', 'sync'))
    run(module('nova_proxy.cmd.manage', proxy_conf, 'key', 'create',
               '--proxy'))
    for name in COMPUTES:
        run(module('nova_proxy.cmd.manage', proxy_conf, 'key', 'create',
                   '--host', name))

    say('Act 2: one proxy and two compute hosts',
        'nova-compute-proxy serves the database over RabbitMQ; each '
        'nova-compute-proxy-compute plays nova-compute with a fake '
        'hypervisor and has no database access at all: every read and '
        'write goes through the proxy. The proxy also serves Prometheus '
        'metrics on port %d.' % port)
    procs = []
    try:
        procs.append(start_service(state, 'nova_proxy.cmd.proxy',
                                   'proxy-1', proxy_conf))
        for name in COMPUTES:
            # On one machine the compute reads its key where it was made;
            # elsewhere it is a copy of it.
            conf_path = write_conf(
                state, name, url, extra='[proxy_client]\nkey_file = %s\n'
                % os.path.join(keys, name + '.key'))
            procs.append(start_service(state, 'nova_proxy.cmd.compute',
                                       name, conf_path))
        wait_for(lambda: services_up(proxy_conf, COMPUTES), 90,
                 'the compute services to register and heartbeat')
        print('proxy-1, compute-1 and compute-2 are up (their logs are in '
              '%s). What the database says about them:' % state)
        cli = CommandLine(proxy_conf, port)
        cli.status()
        scenario(cli)
    finally:
        say('The end: stopping the services',
            'SIGTERM: each process finishes the calls it is serving, the '
            'proxy marks itself stopped so that another would take over '
            'its operations at once.')
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        remove_broker_names()


def remove_broker_names():
    """Delete this run's queues and exchanges, so that a RabbitMQ the demo
    shares keeps nothing of it: the topics' queues and the servers' outlive
    their consumers (the fanout and reply queues expire by themselves,
    ``rabbit_transient_queues_ttl``)."""
    import amqp
    conn = amqp.Connection('127.0.0.1:5672', userid='guest',
                           password='guest')
    try:
        conn.connect()
        channel = conn.channel()
        for topic, servers in ((PROXY_TOPIC, ['proxy-1']),
                               (COMPUTE_TOPIC, COMPUTES)):
            for queue in [topic] + ['%s.%s' % (topic, s) for s in servers]:
                channel.queue_delete(queue)
            channel.exchange_delete('%s_fanout' % topic)
        channel.exchange_delete(EXCHANGE)
    except Exception as e:
        print('Could not delete the demo\'s queues (names ending in %s): %s'
              % (RUN, e))
    finally:
        try:
            conn.close()
        except Exception:
            conn.collect()


class CommandLine:
    """The scenario's steps, run as an operator runs them."""

    def __init__(self, conf_path, metrics_port=None):
        self.conf_path = conf_path
        self.metrics_port = metrics_port

    def manage(self, *args, capture=False):
        return run(module('nova_proxy.cmd.manage', self.conf_path, *args),
                   capture=capture)

    def build(self, name, flavor):
        return self.manage('server', 'build', name, '--flavor', flavor,
                           '--wait', '-f', 'value', '-c', 'instance_uuid',
                           capture=True).strip()

    def host_of(self, uuid):
        return self.manage('server', 'list', '-f', 'value', '-c', 'uuid',
                           '-c', 'host', capture=True).split(
                               uuid + ' ')[1].split()[0]

    def list(self):
        self.manage('server', 'list', '-c', 'name', '-c', 'host', '-c',
                    'flavor', '-c', 'vm_state', '-c', 'task_state')

    def resize(self, uuid, flavor, host):
        self.manage('server', 'resize', uuid, '--flavor', flavor, '--host',
                    host, '--wait')

    def confirm(self, uuid):
        self.manage('server', 'confirm-resize', uuid, '--wait')

    def operations(self):
        self.manage('operation', 'list', '-c', 'id', '-c', 'kind', '-c',
                    'status', '-c', 'owner', '-c', 'attempts')

    def status(self):
        self.manage('status')

    def upgrade_check(self):
        run(module('nova_proxy.cmd.status', self.conf_path, 'upgrade',
                   'check'), check=False)

    def metrics(self, names):
        if self.metrics_port is None:
            return
        url = 'http://127.0.0.1:%d/metrics' % self.metrics_port
        print('$ curl -s %s | grep ...' % url, flush=True)
        with urllib.request.urlopen(url, timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(names) and not line.endswith(' 0.0'):
                    print(line)


class InProcessCommandLine:
    """The same steps, called as functions in this process (the
    in-process transport does not reach other processes)."""

    def _show(self, *args):
        print('$ nova-compute-proxy-manage %s' % ' '.join(args), flush=True)

    def build(self, name, flavor):
        from nova_proxy.orchestration import server_cli
        self._show('server', 'build', name, '--flavor', flavor, '--wait')
        return server_cli.build(name, flavor=flavor,
                                wait=True)['instance_uuid']

    def host_of(self, uuid):
        from nova_proxy.common import context
        from nova_proxy.db import api
        return api.instance_get_by_uuid(context.get_admin_context(),
                                        uuid)['host']

    def list(self):
        from nova_proxy.orchestration import server_cli
        self._show('server', 'list')
        server_cli.list_instances()

    def resize(self, uuid, flavor, host):
        from nova_proxy.orchestration import server_cli
        self._show('server', 'resize', uuid, '--flavor', flavor, '--host',
                   host, '--wait')
        server_cli.resize(uuid, flavor, host=host, wait=True)

    def confirm(self, uuid):
        from nova_proxy.orchestration import server_cli
        self._show('server', 'confirm-resize', uuid, '--wait')
        server_cli.confirm_resize(uuid, wait=True)

    def operations(self):
        from nova_proxy.common import context
        from nova_proxy.common import output
        from nova_proxy.orchestration import journal
        self._show('operation', 'list')
        columns = ('id', 'kind', 'status', 'owner', 'attempts')
        output.emit_list(columns, [
            [r[c] for c in columns]
            for r in journal.get_all(context.get_admin_context())])

    def status(self):
        from nova_proxy.common import output
        from nova_proxy.proxy import status
        self._show('status')
        output.emit_sections(status.sections(status.gather()))

    def upgrade_check(self):
        from nova_proxy.cmd import status
        print('$ nova-compute-proxy-status upgrade check', flush=True)
        status.Checks().check()

    def metrics(self, names):
        pass


def scenario(cli):
    say('Act 3: three instances',
        'A build is an operation: the proxy that accepts it journals it, '
        'picks a host with room and drives the compute through its steps. '
        '--wait follows it on one line (rewritten in place on a terminal); '
        'with "-f value -c instance_uuid" the command prints only what a '
        'script needs.')
    uuids = [cli.build(name, flavor) for name, flavor in (
        ('web-1', 'm1.small'), ('web-2', 'm1.small'),
        ('db-1', 'm1.medium'))]
    cli.list()

    source = cli.host_of(uuids[0])
    dest = [c for c in COMPUTES if c != source][0]
    say('Act 4: web-1 grows, and moves to %s' % dest,
        'A resize to m1.large on the other host: prep_resize on %s, the '
        'disk copy from %s (its progress shows in the operation), '
        'finish_resize on %s. Every step is journaled, so a proxy that '
        'died in the middle would be replaced by another that resumes '
        'the operation where it stopped.' % (dest, source, dest))
    cli.resize(uuids[0], 'm1.large', dest)
    cli.list()

    say('Act 5: the resize is confirmed',
        'Until then the source still holds the old disk, and a revert '
        'would bring the instance back.')
    cli.confirm(uuids[0])
    cli.list()

    say('Act 6: what an operator sees',
        'The journal of every operation; the fleet in one screen; the '
        'checks to run before and after an upgrade; and the counters a '
        'Prometheus server would scrape.')
    cli.operations()
    cli.status()
    cli.upgrade_check()
    cli.metrics(('nova_compute_proxy_operations_total',
                 'nova_compute_proxy_rpc_calls_total{method="build',
                 'nova_compute_proxy_live_proxies'))


def in_process_mode(state):
    """Proxy and computes as threads of this process, fake transport."""
    from nova_proxy import cmd  # noqa: F401
    from nova_proxy.common import service
    # One process is the proxy and both computes: it cannot hold the keys
    # of each side apart, so this mode calls unsigned. The proxy's own
    # RPC server (direct, the default) speaks to RabbitMQ only: on the
    # in-process transport it is oslo.messaging's.
    unsigned = 'require_signed_context = false\n'
    conf_path = write_conf(state, 'proxy-1', 'fake:/',
                           proxy=unsigned + 'rpc_server = oslo.messaging\n',
                           compute=unsigned)
    service.prepare_service(['demo', '--config-file', conf_path])
    from nova_proxy.compute import service as compute_service
    from nova_proxy import conf
    from nova_proxy.db import migration
    from nova_proxy.proxy import service as proxy_service
    CONF = conf.CONF
    say('Database sync (embedded SQLite in WAL mode)')
    migration.db_sync()
    print('Database at revision %s' % migration.db_version())
    say('Starting a proxy and two compute services in this process on '
        'the in-process transport (no broker answered at 127.0.0.1:5672, '
        'or --in-process); database access of the computes is NOT blocked '
        'in this mode')
    proxy = proxy_service.ProxyService('proxy-1')
    proxy.start()
    computes = []
    try:
        for name in COMPUTES:
            # Each compute keeps its fake hypervisor under its own path.
            CONF.set_override('state_path', os.path.join(state, name))
            c = compute_service.ComputeService(name, block_db=False)
            c.start()
            computes.append(c)
        CONF.set_override('state_path', os.path.join(state, 'proxy-1'))
        scenario(InProcessCommandLine())
    finally:
        for c in computes:
            c.stop()
        proxy.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--state', default=os.path.join(ROOT, 'demo-state'),
                        help='Working directory, wiped first.')
    parser.add_argument('--in-process', action='store_true',
                        help='Use the in-process transport even if a '
                             'broker answers.')
    args = parser.parse_args()
    shutil.rmtree(args.state, ignore_errors=True)
    os.makedirs(args.state)
    if not args.in_process and broker_answers():
        broker_mode(args.state)
    else:
        in_process_mode(args.state)
    say('Done. Logs and the database are in %s' % args.state)


if __name__ == '__main__':
    main()
