"""The proxy's own work per call, in-process: for judging a small change.

A fleet run on a shared 2-core machine moves by 10 to 30% from one run to
the next (the machine's speed moves: the broker's CPU per call, whose code
no change touches, moved as much), so a change of a few percent cannot be
seen there. This serves signed calls of the 2.x shim (nova's names, as
the fleet simulation makes them) through what a proxy worker runs for each
call: the direct server's ``decode`` and screen, the dispatcher (the
signature and its nonce, the host scope, the endpoint, the database on
PostgreSQL) and the reply's body. No AMQP: sending and receiving are the
floors' (the bench's ``amqp`` and ``oslo`` scenarios).

It reports the CPU per call of each part (``time.thread_time``, which
moves with the machine as the fleet does), and with ``--callgrind`` the
instructions per call of the whole, counted by valgrind's callgrind:
the same within 0.3% from run to run of the same code, whatever else the
machine does. Compare two trees with the same interpreter::

    PYTHONPATH=/tmp/before python tools/percall.py --callgrind
    PYTHONPATH=/tmp/after python tools/percall.py --callgrind

Instructions are not time: they do not show the kernel's work (a round
trip saved saves more than its instructions) nor cache misses. Confirm a
change that matters with the bench's fleet.

``--gap MS`` waits that many milliseconds before each call measured, as
a fleet's calls come apart, instead of serving them one after the other.
On the shared virtual machines of docs/benchmark.rst ("Calls apart cost
more") a call 7 ms or more apart cost 2.2 to 2.5 times one in a row, and
a thread that spun between calls instead of sleeping paid it too. A
change that touches less code wins more there than its instruction count
says. The wait is not counted: the CPU time is the thread's own.

Needs PostgreSQL at ``NOVA_PROXY_BENCH_PG`` (the bench's default server);
a database of its own is created and dropped.
"""

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

# What the proxy's command does first: oslo.service's threading backend,
# before anything imports oslo.messaging.
from nova_proxy import cmd  # noqa: F401
from nova_proxy import conf

CALLS = ('heartbeat', 'compute_nodes', 'instances', 'instance')
WARM_UP = 50


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--calls', type=int,
                        help='calls measured (default 1000; 300 with '
                             '--callgrind)')
    parser.add_argument('--call', choices=CALLS, default='heartbeat',
                        help='which of the fleet\'s calls (default '
                             'heartbeat: nova\'s service_update)')
    parser.add_argument('--callgrind', action='store_true',
                        help='count instructions per call under valgrind')
    parser.add_argument('--gap', type=float, default=0.0, metavar='MS',
                        help='milliseconds of wait before each call '
                             'measured (default 0: one after the other)')
    parser.add_argument('--gate', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.calls is None:
        args.calls = 300 if args.callgrind else 1000
    if args.calls < 1:
        parser.error('--calls must be at least 1')
    if not 0 <= args.gap <= 1000:
        parser.error('--gap must be from 0 to 1000 milliseconds')
    if args.gap * args.calls > 200000:
        # The calls are signed before the first is served: the last must
        # come within [proxy] signature_max_age (300 s) of its signing,
        # serving included (a run slower than that ends at its first
        # refused call).
        parser.error('--calls x --gap must stay under 200 seconds')
    if args.gap and args.callgrind:
        parser.error('--gap does not change the instructions: it is for '
                     'the CPU time only')
    return args


def _bodies(count, call, key_dir, tmp):
    """``count`` calls as the direct server receives them: each signed,
    its own nonce, as the rabbit driver packs it."""
    from oslo_messaging._drivers import amqp as rpc_amqp
    from oslo_messaging._drivers import common as rpc_common
    from oslo_messaging import transport as om_transport
    from oslo_serialization import jsonutils

    from nova_proxy.bench import workloads
    from nova_proxy.common import auth
    from nova_proxy.common import keys
    from nova_proxy.compute.db import _client as nova_shim

    host = workloads.seed_hosts_bulk('percall', 1, 4)[0]
    key_file = os.path.join(tmp, 'compute.key')
    keys.write_key_file(key_file)
    path = keys.host_key_path(host.name, key_dir)
    shutil.copyfile(key_file, path)
    os.chmod(path, 0o600)
    nova_shim.set_signer(workloads.HostSigners(key_file))
    auth.install_reply_binding()
    api = workloads.nova_api()
    ctx = host.nova_context(admin=True)
    make = {
        'heartbeat': lambda n: api.service_update(
            ctx, host.service_id, {'report_count': n}),
        'compute_nodes': lambda n: api.compute_node_get_all_by_host(
            ctx, host.name),
        'instances': lambda n: api.instance_get_all_by_host(
            ctx, host.name, columns_to_join=[]),
        'instance': lambda n: api.instance_get_by_uuid(
            ctx, host.instance_uuids[0], columns_to_join=[]),
    }[call]
    sent = []

    class _Sent(Exception):
        pass

    def send(self, target, ctxt, message, *args, **kwargs):
        sent.append((ctxt, dict(message)))
        raise _Sent()
    original = om_transport.Transport._send
    om_transport.Transport._send = send
    try:
        for n in range(count):
            try:
                make(n)
            except _Sent:
                pass
    finally:
        om_transport.Transport._send = original
        nova_shim.set_signer(None)
    bodies = []
    for ctxt, message in sent:
        message.update(_msg_id=uuid.uuid4().hex,
                       _reply_q='reply_' + uuid.uuid4().hex, _timeout=None)
        rpc_amqp._add_unique_id(message)
        rpc_amqp.pack_context(message, ctxt)
        bodies.append(jsonutils.dumps(
            rpc_common.serialize_msg(message)).encode())
    return bodies


def _serve(bodies, gate, gap=0.0):
    import oslo_messaging as messaging
    from oslo_messaging.rpc import dispatcher as rpc_dispatcher

    from nova_proxy.common import auth
    from nova_proxy.common import direct_amqp
    from nova_proxy.common import direct_rpc
    from nova_proxy.common import rpc
    from nova_proxy.common import wire_guard
    from nova_proxy.proxy import manager

    target = messaging.Target(topic=conf.CONF.proxy.topic, server='percall')
    dispatcher = wire_guard.QuietDispatcher(
        manager.endpoints(),
        rpc.RequestContextSerializer(auth.get_verifier(target)),
        rpc.AllowListAccessPolicy)
    clock = time.thread_time
    parts = collections.Counter()

    def serve(body):
        started = clock()
        message, ctxt, msg_id, reply_q, timeout, unique_id = \
            direct_rpc.decode(body)
        incoming = direct_rpc.DirectIncoming(
            None, None, 1, message, ctxt, msg_id, reply_q, timeout,
            unique_id)
        problem = wire_guard.screen(incoming)
        if problem is not None:
            raise SystemExit('refused: %s' % (problem,))
        read = clock()
        try:
            result = dispatcher.dispatch(incoming)
        except rpc_dispatcher.ExpectedException as e:
            # A refusal (an expired signature: a run slowed down) or an
            # endpoint's error: every call after it would measure the
            # error, not the call.
            error = e.exc_info[1]
            raise SystemExit('percall: the proxy answered a call with an '
                             'error: %s: %s' % (type(error).__name__,
                                                error))
        served = clock()
        direct_amqp.reply_body(msg_id, result, None, True)
        parts['receive (decode, screen)'] += read - started
        parts['dispatch (signature, endpoint, database)'] += served - read
        parts['reply body'] += clock() - served

    for body in bodies[:WARM_UP]:
        serve(body)
    parts.clear()
    if gate:
        _wait_for(gate, 'READY', '.go')
    for body in bodies[WARM_UP:]:
        if gap:
            time.sleep(gap)
        serve(body)
    if gate:
        _wait_for(gate, 'DONE', '.end')
    return parts


def _wait_for(gate, say, suffix):
    print(say, flush=True)
    while not os.path.exists(gate + suffix):
        time.sleep(0.1)


def _run(args):
    from nova_proxy.bench import database
    from nova_proxy.db import session as db_session

    conf.CONF([], project='nova-compute-proxy', default_config_files=[])
    tmp = tempfile.mkdtemp(prefix='np-percall-')
    db = database.BenchDatabase('postgresql', tmp)
    db.create()
    try:
        key_dir = os.path.join(tmp, 'host-keys')
        os.makedirs(key_dir, mode=0o700)
        conf.CONF.set_override('connection', db.url, group='database')
        conf.CONF.set_override('host_keys_dir', key_dir, group='proxy')
        db_session.dispose()
        bodies = _bodies(args.calls + WARM_UP, args.call, key_dir, tmp)
        parts = _serve(bodies, args.gate, args.gap / 1000.0)
    finally:
        db_session.dispose()
        db.drop()
        shutil.rmtree(tmp, ignore_errors=True)
    if not args.gate:
        total = sum(parts.values())
        print('%s, %d calls%s: %.0f us of CPU per call' % (
            args.call, args.calls,
            ' %g ms apart' % args.gap if args.gap else '',
            total * 1e6 / args.calls))
        for part, seconds in parts.items():
            print('  %-42s %6.0f us' % (part, seconds * 1e6 / args.calls))


def _callgrind(args):
    """This tool again under callgrind, counting only while the calls
    are served (``callgrind_control``: instrumentation on and counters
    zeroed at READY, dumped at DONE)."""
    for tool in ('valgrind', 'callgrind_control'):
        if shutil.which(tool) is None:
            raise SystemExit('percall: %s is not installed' % tool)
    tmp = tempfile.mkdtemp(prefix='np-percall-cg-')
    gate = os.path.join(tmp, 'gate')
    out = os.path.join(tmp, 'callgrind.out')
    errors = open(os.path.join(tmp, 'stderr'), 'w+')
    child = subprocess.Popen(
        ['valgrind', '--tool=callgrind', '--instr-atstart=no',
         '--callgrind-out-file=' + out, sys.executable, __file__,
         '--calls', str(args.calls), '--call', args.call, '--gate', gate],
        stdout=subprocess.PIPE, stderr=errors, text=True)
    try:
        for line in child.stdout:
            if line.strip() == 'READY':
                for option in ('-i', 'on'), ('-z',):
                    subprocess.run(['callgrind_control', *option,
                                    str(child.pid)], check=True,
                                   stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                open(gate + '.go', 'w').close()
            elif line.strip() == 'DONE':
                for option in ('-d',), ('-i', 'off'):
                    subprocess.run(['callgrind_control', *option,
                                    str(child.pid)], check=True,
                                   stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                open(gate + '.end', 'w').close()
        if child.wait() != 0:
            errors.seek(0)
            raise SystemExit('percall: the run under valgrind failed '
                             '(exit %d): %s' % (child.returncode,
                                                errors.read()[-2000:]))
        dumped = out + '.1'
        with open(dumped) as f:
            total = next(int(line.split()[1]) for line in f
                         if line.startswith('summary:'))
        print('%s, %d calls: %.0f instructions per call' % (
            args.call, args.calls, total / args.calls))
    finally:
        if child.poll() is None:
            child.kill()
        errors.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None):
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.callgrind:
        _callgrind(args)
    else:
        _run(args)


if __name__ == '__main__':
    main()
