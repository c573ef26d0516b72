"""Start and stop our real daemons as subprocesses, for functional tests."""

import contextlib
import os
import signal
import subprocess
import sys
import uuid

import amqp
from oslo_config import cfg
import oslo_messaging as messaging

from nova_proxy.common import utils

_LOCAL_RABBIT_URL = 'rabbit://guest:guest@127.0.0.1:5672/'
RABBIT_URL = os.environ.get('NOVA_PROXY_TEST_RABBIT_URL', _LOCAL_RABBIT_URL)

# The broker policy that deletes the queues of ``unique_names``' topics
# (``<topic>``, ``<topic>.<server>``, ``<topic>_fanout_<id>``) once unused
# for 30 minutes, longer than a whole run. oslo.messaging declares a
# topic's queues with no expiry: a full run left some 1,600 of them.
# The topics of ``unique_names()``, and those the orchestration tests
# name after the exchange (``orchestration_fixtures.topics``).
TEST_QUEUE_POLICY = ('np-test-queues',
                     r'^compute(_proxy)?(_|-np-test-)[0-9a-f]{10}([._]|$)',
                     '{"expires": 1800000}')


@contextlib.contextmanager
def broker_connection():
    """A py-amqp connection to the tests' broker (``RABBIT_URL``, its
    first host, with the driver's defaults), closed at the end."""
    url = messaging.TransportURL.parse(cfg.CONF, RABBIT_URL)
    host = url.hosts[0]
    connection = amqp.Connection(
        '%s:%d' % (host.hostname, host.port or 5672),
        userid=host.username or 'guest', password=host.password or 'guest',
        virtual_host=url.virtual_host or '/')
    connection.connect()
    try:
        yield connection
    finally:
        connection.close()


def expire_test_queues():
    """Set ``TEST_QUEUE_POLICY`` on the local broker, with rabbitmqctl;
    nothing when the tests use another broker or cannot run rabbitmqctl
    (it needs the broker's Erlang cookie: root, or the rabbitmq user).
    :returns: whether it was set."""
    if RABBIT_URL != _LOCAL_RABBIT_URL:
        return False
    name, pattern, definition = TEST_QUEUE_POLICY
    try:
        done = subprocess.run(
            ['rabbitmqctl', '-q', 'set_policy', '--apply-to', 'queues',
             name, pattern, definition],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def unique_names():
    """``(exchange, topics)`` of one's own on the shared broker: a
    ``control_exchange`` and the ``{'proxy': ..., 'compute': ...}`` topics
    (the exchange alone does not isolate, see tests/functional/conftest)."""
    suffix = uuid.uuid4().hex[:10]
    return 'np-test-%s' % suffix, {'proxy': 'compute_proxy_%s' % suffix,
                                   'compute': 'compute_%s' % suffix}


_SCRIPTS = {
    'proxy': 'nova_proxy.cmd.proxy',
    'compute': 'nova_proxy.cmd.compute',
}


class Process:

    def __init__(self, kind, name, popen, log_path, conf_path):
        self.kind = kind
        self.name = name
        self.popen = popen
        self.log_path = log_path
        self.conf_path = conf_path

    @property
    def pid(self):
        return self.popen.pid

    def signal(self, signo):
        """Signal the whole process group (the launcher and its workers)."""
        try:
            os.killpg(self.popen.pid, signo)
        except ProcessLookupError:
            pass

    def kill(self):
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout=15):
        if self.popen.poll() is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def alive(self):
        return self.popen.poll() is None


# The environment variable that puts every proxy the tests start on the
# RPC server it names (``[proxy] rpc_server``; unset: the default,
# ``direct``).
RPC_SERVER_VARIABLE = 'NOVA_PROXY_TEST_RPC_SERVER'


class Cluster:
    """Processes sharing one exchange and one database."""

    def __init__(self, directory, exchange, db_url=None, topics=None):
        """``topics``: ``{'proxy': ..., 'compute': ...}``, the per-test
        topics every process of the cluster uses (see conftest)."""
        self.directory = str(directory)
        self.exchange = exchange
        self.topics = topics or {}
        self.db_url = db_url
        self.processes = []

    def write_config(self, name, extra=None):
        """Write ``<name>.conf``; ``extra`` is ``{group: {opt: value}}``."""
        sections = {
            'DEFAULT': {
                'host': name,
                'transport_url': RABBIT_URL,
                'control_exchange': self.exchange,
                'state_path': os.path.join(self.directory, 'state-' + name),
                'debug': 'false',
            },
            'database': {'connection': self.db_url},
            # Signed calls are required by default; tests that are not
            # about signing call without keys (extra= turns it back on,
            # or None leaves the default).
            'proxy': {'heartbeat_interval': '1', 'liveness_deadline': '5',
                      'require_signed_context': 'false'},
            'compute': {'report_interval': '1',
                        'require_signed_context': 'false'},
            'oslo_messaging_rabbit': {'heartbeat_timeout_threshold': '0'},
        }
        for group, topic in self.topics.items():
            sections.setdefault(group, {})['topic'] = topic
        if os.environ.get(RPC_SERVER_VARIABLE):
            # Every proxy of the run on that server ([proxy] rpc_server;
            # tools/test.sh runs a part of the suite so).
            sections['proxy']['rpc_server'] = os.environ[RPC_SERVER_VARIABLE]
        for group, values in (extra or {}).items():
            sections.setdefault(group, {}).update(values)
        return utils.write_config(
            os.path.join(self.directory, name + '.conf'), sections)

    def start(self, kind, name, extra=None, env=None, prefix=None):
        """Start a daemon; ``prefix``: argv put before it (``ip netns exec
        NAME``, say)."""
        assert self.db_url or kind != 'proxy', 'set cluster.db_url first'
        conf_path = self.write_config(name, extra)
        log_path = os.path.join(self.directory, name + '.log')
        log = open(log_path, 'a')
        popen = subprocess.Popen(
            list(prefix or ()) + [sys.executable, '-m', _SCRIPTS[kind],
                                  '--config-file', conf_path],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env=dict(os.environ, **(env or {})))
        proc = Process(kind, name, popen, log_path, conf_path)
        self.processes.append(proc)
        return proc

    def stop_all(self):
        for proc in self.processes:
            try:
                proc.stop(timeout=10)
            except Exception:
                proc.kill()


def merge_options(*dicts):
    """``{group: {opt: value}}`` dicts merged, later values winning."""
    result = {}
    for options in dicts:
        for group, values in options.items():
            result.setdefault(group, {}).update(values)
    return result


def wait_for(predicate, timeout=30, interval=0.1, message='condition'):
    """Poll ``predicate`` until it returns a truthy value; return it (a
    test failure, AssertionError, on timeout)."""
    return utils.wait_for(predicate, timeout, interval, message,
                          error=AssertionError)


def use_broker(conf, exchange, topics):
    """Point this process's ``conf`` at the test broker, ``exchange`` and
    ``topics`` (as ``unique_names`` gives them)."""
    conf.set_override('transport_url', RABBIT_URL)
    conf.set_override('control_exchange', exchange)
    for group, topic in topics.items():
        conf.set_override('topic', topic, group=group)
