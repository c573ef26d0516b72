"""The server processes of a run: echo servers and ``nova-compute-proxy``.

Each is a subprocess with its own log file under the run's directory and a
new session, so that stopping it stops its forked workers too. A proxy gets
a generated config file: the run's exchange and database, and the option
``overrides`` (``{group: {option: value}}``) that a tuning step measures.
"""

import os
import signal
import subprocess
import sys

from nova_proxy.common import utils

__all__ = ['Server', 'start_amqp_echo', 'start_oslo_echo', 'start_proxy',
           'write_config', 'wait_for']


def wait_for(predicate, timeout=60, interval=0.1, message='condition'):
    return utils.wait_for(predicate, timeout, interval, message)


class Server:

    def __init__(self, name, argv, directory, env=None):
        self.name = name
        self.log_path = os.path.join(directory, name + '.log')
        self._log = open(self.log_path, 'ab')
        # A server started again (in a later pass) appends to the same
        # log: what it logs this time starts here.
        self._log_start = self._log.tell()
        self.popen = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True, env=dict(os.environ, **(env or {})))

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def log(self, since_start=False):
        with open(self.log_path, 'rb') as f:
            if since_start:
                f.seek(self._log_start)
            return f.read().decode(errors='replace')

    def wait_log(self, text, timeout=60):
        def seen():
            if not self.alive():
                raise RuntimeError('%s exited (rc %s):\n%s' % (
                    self.name, self.popen.returncode, self.log()[-3000:]))
            return text in self.log(since_start=True)
        try:
            wait_for(seen, timeout=timeout, message='%s to log %r'
                     % (self.name, text))
        except RuntimeError as e:
            raise RuntimeError('%s\n%s' % (e, self.log()[-3000:]))

    def stop(self, timeout=15):
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(timeout=10)
        self._log.close()


def start_amqp_echo(directory, host, userid, password, queue, prefetch=64,
                    name='amqp-echo'):
    server = Server(name, [
        sys.executable, '-m', 'nova_proxy.bench.echo', 'amqp',
        '--host', host, '--userid', userid, '--password', password,
        '--queue', queue, '--prefetch', str(prefetch)], directory)
    return _ready(server)


def start_oslo_echo(directory, url, exchange, topic, name='oslo-echo'):
    server = Server(name, [
        sys.executable, '-m', 'nova_proxy.bench.echo', 'oslo', '--url', url,
        '--exchange', exchange, '--topic', topic], directory)
    return _ready(server)


def _ready(server):
    """``server`` once it logged that it is ready; stopped if it never
    does (it is nobody's to stop yet)."""
    try:
        server.wait_log('ready')
    except BaseException:
        server.stop()
        raise
    return server


write_config = utils.write_config


def start_proxy(directory, name, url, exchange, db_url, overrides=None,
                driver_report=None):
    """Start one ``nova-compute-proxy`` process named ``name``; with
    ``driver_report`` (a directory), its psycopg2 timed there
    (``nova_proxy.bench.drivercpu``)."""
    sections = {
        'DEFAULT': {'host': name, 'transport_url': url,
                    'control_exchange': exchange,
                    'state_path': os.path.join(directory, 'state-' + name),
                    'debug': 'false'},
        'database': {'connection': db_url},
        # The scenarios call unsigned and signed (with keys in
        # host_keys_dir): both must be served.
        'proxy': {'require_signed_context': 'false'},
    }
    for group, values in (overrides or {}).items():
        sections.setdefault(group, {}).update(values)
    conf_path = write_config(os.path.join(directory, name + '.conf'),
                             sections)
    command = ['-m', 'nova_proxy.cmd.proxy']
    if driver_report is not None:
        command = ['-m', 'nova_proxy.bench.drivercpu', driver_report, '--']
    return Server(name, [sys.executable] + command +
                  ['--config-file', conf_path], directory)
