"""A three-node RabbitMQ cluster of the test's own, on this machine.

The shared broker on 127.0.0.1:5672 is never touched: each node has its
own name (``np-rmqN-<run>@localhost``), AMQP and distribution ports,
database, logs and configuration under the test's directory; the nodes
share one Erlang cookie (``HOME`` is the cluster's directory, which holds
``.erlang.cookie``) and register with the machine's epmd on 4369, as any
node does. Nodes 2 and 3 join node 1 (``stop_app``, ``join_cluster``,
``start_app``). ``stop()`` stops every node and kills what does not stop;
``remove()`` kills every node and deletes the directory.

Faults: ``kill(n)`` is ``kill -9`` of the node's whole process group (the
Erlang VM and its port programs), ``stop_node(n)`` a clean ``rabbitmqctl
stop``, ``start_node(n)`` starts it again on its own database so that it
rejoins. ``leader(queue)`` names the node leading a quorum queue.
"""

import os
import shutil
import signal
import subprocess
import threading
import time
import uuid

from tests.functional import procs
from tests.functional import tls_broker

__all__ = ['RabbitCluster', 'available']

USER = 'nova'
PASSWORD = 'np-cluster'

available = tls_broker.available


_free_port = tls_broker._free_port


class _Node:

    def __init__(self, directory, name, cookie_home):
        self.directory = directory
        self.name = name
        self.port = _free_port()
        self.dist_port = _free_port()
        self.popen = None
        os.makedirs(directory, exist_ok=True)
        config = os.path.join(directory, 'rabbitmq.conf')
        with open(config, 'w') as f:
            f.write('\n'.join([
                'listeners.tcp.default = 127.0.0.1:%d' % self.port,
                'loopback_users = none',
                # The cluster's own user, made at the first boot (no
                # guest; fewer rabbitmqctl runs, each a VM start).
                'default_user = %s' % USER,
                'default_pass = %s' % PASSWORD,
                'log.console = false',
                'log.file.level = info',
                # Quorum queues need a majority: 3 nodes, 2 must be up.
                'cluster_partition_handling = pause_minority',
                '']))
        for name_, text in (('env.conf', ''), ('enabled_plugins', '[].\n')):
            with open(os.path.join(directory, name_), 'w') as f:
                f.write(text)
        self.env = dict(
            os.environ,
            HOME=cookie_home,
            RABBITMQ_NODENAME=name,
            RABBITMQ_NODE_IP_ADDRESS='127.0.0.1',
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=os.path.join(directory, 'mnesia'),
            RABBITMQ_LOG_BASE=os.path.join(directory, 'log'),
            RABBITMQ_CONFIG_FILE=config,
            RABBITMQ_CONF_ENV_FILE=os.path.join(directory, 'env.conf'),
            RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(directory,
                                                       'enabled_plugins'),
            RABBITMQ_PID_FILE=os.path.join(directory, 'node.pid'),
            # A small VM: three of them share two cores with everything.
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='+S 1:1 +A 8',
            ERL_EPMD_ADDRESS='127.0.0.1')

    def ctl(self, *args, timeout=60, check=True):
        result = subprocess.run(
            [os.path.join(tls_broker.RABBIT_BIN, 'rabbitmqctl'), '-q', '-n',
             self.name] + list(args), env=self.env, capture_output=True,
            text=True, timeout=timeout)
        if check and result.returncode:
            raise AssertionError('rabbitmqctl -n %s %s: %s%s' % (
                self.name, ' '.join(args), result.stdout, result.stderr))
        return result.stdout

    def start(self):
        log = open(os.path.join(self.directory, 'node.out'), 'a')
        self.popen = subprocess.Popen(
            [os.path.join(tls_broker.RABBIT_BIN, 'rabbitmq-server')],
            env=self.env, cwd=self.directory, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def wait_started(self, timeout=120):
        def started():
            if self.popen.poll() is not None:
                with open(os.path.join(self.directory, 'node.out')) as f:
                    raise AssertionError('RabbitMQ node %s exited: %s' % (
                        self.name, f.read()[-3000:]))
            try:
                self.ctl('await_startup', '--timeout', '20', timeout=30)
            except (AssertionError, subprocess.TimeoutExpired):
                return False
            return True
        procs.wait_for(started, timeout=timeout, interval=0.5,
                       message='RabbitMQ node %s started' % self.name)

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def kill(self):
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=30)

    def stop(self):
        if not self.alive():
            return
        try:
            self.ctl('stop', timeout=60)
            self.popen.wait(timeout=30)
        except Exception:
            self.kill()


def _together(nodes, *args):
    """``rabbitmqctl *args`` on each of ``nodes`` at the same time."""
    errors = []

    def run(node):
        try:
            node.ctl(*args)
        except Exception as e:
            errors.append(e)
    threads = [threading.Thread(target=run, args=(node,)) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


class RabbitCluster:
    """Three nodes in ``directory``: ``start()``, ``url``, faults, and
    ``stop()``."""

    def __init__(self, directory, size=3):
        self.directory = str(directory)
        os.makedirs(self.directory, exist_ok=True)
        cookie = os.path.join(self.directory, '.erlang.cookie')
        with open(cookie, 'w') as f:
            f.write(uuid.uuid4().hex)
        os.chmod(cookie, 0o400)
        run = uuid.uuid4().hex[:6]
        self.nodes = [
            _Node(os.path.join(self.directory, 'rmq%d' % n),
                  'np-rmq%d-%s@localhost' % (n, run), self.directory)
            for n in range(1, size + 1)]

    @property
    def url(self):
        """A transport URL naming every node."""
        return 'rabbit://' + ','.join(
            '%s:%s@127.0.0.1:%d' % (USER, PASSWORD, node.port)
            for node in self.nodes) + '/'

    def start(self):
        self._started = time.monotonic()
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_started()
        self.boot_seconds = time.monotonic() - self._started
        first, others = self.nodes[0], self.nodes[1:]
        # Joins one at a time; stopping and starting the joining nodes'
        # applications (the slow part) together.
        _together(others, 'stop_app')
        for node in others:
            node.ctl('join_cluster', first.name)
        _together(others, 'start_app')
        return self

    def running_nodes(self, via=None):
        """Node names the cluster reports running, asked of ``via`` (the
        first live node by default)."""
        node = via or next(n for n in self.nodes if n.alive())
        out = node.ctl('eval', 'rabbit_nodes:all_running().', timeout=30)
        return sorted(n for n in self.node_names() if n in out)

    def node_names(self):
        return [node.name for node in self.nodes]

    def wait_running(self, count=None, timeout=120):
        count = count or len(self.nodes)
        procs.wait_for(lambda: len(self.running_nodes()) >= count,
                       timeout=timeout, interval=1,
                       message='%d RabbitMQ nodes running' % count)

    def leader(self, queue):
        """The index of the node that leads the quorum queue ``queue``."""
        node = next(n for n in self.nodes if n.alive())
        for line in node.ctl('list_queues', '--no-table-headers', 'name',
                             'leader', timeout=30).splitlines():
            fields = line.split('\t')
            if len(fields) == 2 and fields[0] == queue:
                return self.node_names().index(fields[1].strip())
        raise AssertionError('no quorum queue %s' % queue)

    def queues(self):
        """``{name: type}`` of every queue."""
        node = next(n for n in self.nodes if n.alive())
        out = node.ctl('list_queues', '--no-table-headers', 'name', 'type',
                       timeout=30)
        return dict(line.split('\t', 1) for line in out.splitlines()
                    if '\t' in line)

    def kill(self, index):
        self.nodes[index].kill()

    def stop_node(self, index):
        self.nodes[index].stop()

    def start_node(self, index):
        self.nodes[index].start()
        self.nodes[index].wait_started()

    def stop(self):
        for node in reversed(self.nodes):
            node.stop()

    def remove(self):
        # Its data is deleted: no need for a clean stop.
        for node in self.nodes:
            node.kill()
        shutil.rmtree(self.directory, ignore_errors=True)

    def logs(self):
        text = []
        for node in self.nodes:
            for root, _dirs, files in os.walk(os.path.join(node.directory,
                                                           'log')):
                for name in files:
                    with open(os.path.join(root, name),
                              errors='replace') as f:
                        text.append(f.read())
        return '\n'.join(text)
