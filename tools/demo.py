"""The main job of README.rst: the whole system on one machine.

With RabbitMQ answering at 127.0.0.1:5672 it runs real processes, as an
operator would: ``nova-compute-proxy-manage db sync`` on the embedded
SQLite default, one ``nova-compute-proxy`` and two
``nova-compute-proxy-compute`` services (compute-1, compute-2), then the
``nova-compute-proxy-manage server`` commands to build instances and to
resize one across the two computes, watch it and confirm it.

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
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)
COMPUTES = ('compute-1', 'compute-2')


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
        # steals the calls of a real deployment on the same RabbitMQ.
        f.write('[DEFAULT]\nhost = %s\nstate_path = %s\n'
                'transport_url = %s\ncontrol_exchange = nova_proxy_demo\n'
                % (name, os.path.join(state, name), transport_url))
        f.write('[proxy]\ntopic = compute_proxy_demo\n' + proxy)
        f.write('[database]\nconnection = sqlite:///%s\n'
                % os.path.join(state, 'nova_proxy.sqlite'))
        f.write('[compute]\ntopic = compute_demo\nreport_interval = 2\n'
                'fake_copy_seconds = 3\n' + compute)
        f.write(extra)
    return path


def say(text):
    print('\n== %s' % text, flush=True)


def run(argv, check=True):
    shown = [os.path.basename(argv[0])] + [
        a for a in argv[1:] if not a.startswith('--config-file') and
        not a.endswith('.conf')]
    print('$ %s' % ' '.join(shown), flush=True)
    result = subprocess.run(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    print(result.stdout.rstrip(), flush=True)
    if check and result.returncode != 0:
        raise SystemExit('command failed with exit code %d'
                         % result.returncode)
    return result.stdout


def manage(conf_path, *args, check=True):
    return run([os.path.join(BIN, 'nova-compute-proxy-manage'),
                '--config-file', conf_path] + list(args), check=check)


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
    return subprocess.Popen([os.path.join(BIN, script), '--config-file',
                             conf_path], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def broker_mode(state):
    url = 'rabbit://guest:guest@127.0.0.1:5672/'
    keys = os.path.join(state, 'keys')
    proxy_conf = write_conf(state, 'proxy-1', url,
                            proxy='host_keys_dir = %s\n' % keys)
    say('Database sync (embedded SQLite in WAL mode)')
    manage(proxy_conf, 'db', 'sync')
    say('Keys: every call is signed (the default requires it)')
    manage(proxy_conf, 'key', 'create', '--proxy')
    for name in COMPUTES:
        manage(proxy_conf, 'key', 'create', '--host', name)

    say('Starting one proxy and two compute services on RabbitMQ')
    procs = []
    try:
        procs.append(start_service(state, 'nova-compute-proxy', 'proxy-1',
                                   proxy_conf))
        for name in COMPUTES:
            # On one machine the compute reads its key where it was made;
            # elsewhere it is a copy of it.
            conf_path = write_conf(
                state, name, url, extra='[proxy_client]\nkey_file = %s\n'
                % os.path.join(keys, name + '.key'))
            procs.append(start_service(state, 'nova-compute-proxy-compute',
                                       name, conf_path))
        wait_for(lambda: services_up(proxy_conf, COMPUTES), 90,
                 'the compute services to register and heartbeat')
        print('proxy-1, compute-1 and compute-2 are up (logs in %s)'
              % state)
        scenario(CommandLine(proxy_conf))
    finally:
        say('Stopping the services')
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


class CommandLine:
    """The scenario's commands, run as ``nova-compute-proxy-manage``."""

    def __init__(self, conf_path):
        self.conf_path = conf_path

    def __call__(self, *args):
        return manage(self.conf_path, *args)


class InProcessCommandLine:
    """The same commands, called as functions in this process (the
    in-process transport does not reach other processes)."""

    def __call__(self, *args):
        import io
        from nova_proxy.orchestration import cli as operation_cli
        from nova_proxy.orchestration import journal
        from nova_proxy.orchestration import server_cli
        from nova_proxy.common import context
        print('$ nova-compute-proxy-manage %s' % ' '.join(args), flush=True)
        out = io.StringIO()
        group, action, rest = args[0], args[1], list(args[2:])
        opts = {}
        positional = []
        while rest:
            item = rest.pop(0)
            if item == '--wait':
                opts['wait'] = True
            elif item.startswith('--'):
                opts[item[2:]] = rest.pop(0)
            else:
                positional.append(item)
        if group == 'operation':
            out.write(operation_cli.format_table(journal.get_all(
                context.get_admin_context())) + '\n')
        elif action == 'list':
            server_cli.list_instances(out=out, **opts)
        else:
            fn = {'build': server_cli.build, 'resize': server_cli.resize,
                  'confirm-resize': server_cli.confirm_resize}[action]
            fn(*positional, out=out, **opts)
        print(out.getvalue().rstrip(), flush=True)
        return out.getvalue()


def scenario(cli):
    say('Building three instances (the proxy picks hosts with room)')
    uuids = []
    for name, flavor in (('web-1', 'm1.small'), ('web-2', 'm1.small'),
                         ('db-1', 'm1.medium')):
        out = cli('server', 'build', name, '--flavor', flavor, '--wait')
        uuids.append(_field(out, 'instance_uuid'))
    out = cli('server', 'list')

    say('Resizing web-1 to m1.large on the other compute host, watched')
    source = [line.split()[2] for line in out.splitlines()
              if line.startswith(uuids[0])][0]
    dest = [c for c in COMPUTES if c != source][0]
    cli('server', 'resize', uuids[0], '--flavor', 'm1.large', '--host',
        dest, '--wait')
    cli('server', 'list')

    say('Confirming the resize')
    cli('server', 'confirm-resize', uuids[0], '--wait')
    cli('server', 'list')

    say('The operations journal')
    cli('operation', 'list')


def _field(output, name):
    for line in output.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0].rstrip(':') == name:
            return parts[1].strip()
    raise SystemExit('no %s in command output' % name)


def in_process_mode(state):
    """Proxy and computes as threads of this process, fake transport."""
    from nova_proxy import cmd  # noqa: F401
    from nova_proxy.common import service
    # One process is the proxy and both computes: it cannot hold the keys
    # of each side apart, so this mode calls unsigned.
    unsigned = 'require_signed_context = false\n'
    conf_path = write_conf(state, 'proxy-1', 'fake:/', proxy=unsigned,
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
