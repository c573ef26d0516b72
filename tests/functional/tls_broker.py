"""A RabbitMQ node of the test's own, TLS only, with a CA made here.

The shared broker on 127.0.0.1:5672 is never touched: this node has its
own name, ports, database, logs, Erlang cookie (``HOME`` is the node's
directory) and configuration, listens only on 127.0.0.1 and only with
TLS, and asks every client for a certificate the test CA signed
(``fail_if_no_peer_cert``). ``Broker.ctl()`` runs ``rabbitmqctl`` against
this node alone.
"""

import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import uuid

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.oid import NameOID

from tests.functional import procs

RABBIT_BIN = '/usr/lib/rabbitmq/bin'


def available():
    """Whether this machine can start a RabbitMQ node (the tests that need
    one are skipped otherwise)."""
    return os.path.exists(os.path.join(RABBIT_BIN, 'rabbitmq-server'))


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path, data, mode=0o600):
    with open(path, 'wb') as f:
        f.write(data)
    os.chmod(path, mode)
    return path


class CA:
    """A certificate authority of one test run; ``issue()`` writes a key
    and a certificate for a server (127.0.0.1, localhost) or a client."""

    def __init__(self, directory):
        self.directory = directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(_name('nova-compute-proxy test CA'))
            .issuer_name(_name('nova-compute-proxy test CA'))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0),
                           critical=True)
            .sign(self._key, hashes.SHA256()))
        self.cert_file = _write(
            os.path.join(directory, 'ca.pem'),
            self._cert.public_bytes(serialization.Encoding.PEM), 0o644)

    def issue(self, name, server=False):
        """:returns: ``(cert_file, key_file)`` for ``name``."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        usage = (ExtendedKeyUsageOID.SERVER_AUTH if server
                 else ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName('localhost'),
                x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]),
                critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        cert_file = _write(os.path.join(self.directory, name + '.pem'),
                           cert.public_bytes(serialization.Encoding.PEM),
                           0o644)
        key_file = _write(
            os.path.join(self.directory, name + '.key'),
            key.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()))
        return cert_file, key_file


class Broker:
    """A RabbitMQ node in ``directory``: ``start()``, ``ctl()``,
    ``stop()``. ``port`` is its TLS listener on 127.0.0.1."""

    def __init__(self, directory):
        self.directory = str(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.ca = CA(self.directory)
        self.node = 'np-tls-%s@localhost' % uuid.uuid4().hex[:8]
        self.port = _free_port()
        self.dist_port = _free_port()
        self._popen = None
        cert, key = self.ca.issue('broker', server=True)
        self.config_file = os.path.join(self.directory, 'rabbitmq.conf')
        with open(self.config_file, 'w') as f:
            f.write('\n'.join([
                'listeners.tcp = none',
                'listeners.ssl.default = 127.0.0.1:%d' % self.port,
                'ssl_options.cacertfile = %s' % self.ca.cert_file,
                'ssl_options.certfile = %s' % cert,
                'ssl_options.keyfile = %s' % key,
                'ssl_options.verify = verify_peer',
                'ssl_options.fail_if_no_peer_cert = true',
                'ssl_options.versions.1 = tlsv1.3',
                'ssl_options.versions.2 = tlsv1.2',
                'log.console = false',
                'log.file.level = warning',
                '']))
        self.env = dict(
            os.environ,
            HOME=self.directory,
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS='127.0.0.1',
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=os.path.join(self.directory, 'mnesia'),
            RABBITMQ_LOG_BASE=os.path.join(self.directory, 'log'),
            RABBITMQ_CONFIG_FILE=self.config_file,
            RABBITMQ_CONF_ENV_FILE=os.path.join(self.directory, 'env.conf'),
            RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(self.directory,
                                                       'enabled_plugins'),
            RABBITMQ_PID_FILE=os.path.join(self.directory, 'node.pid'),
            ERL_EPMD_ADDRESS='127.0.0.1')
        _write(os.path.join(self.directory, 'env.conf'), b'')
        _write(os.path.join(self.directory, 'enabled_plugins'), b'[].\n')
        _write(os.path.join(self.directory, '.erlang.cookie'),
               uuid.uuid4().hex.encode(), 0o400)

    def start(self, timeout=120):
        log = open(os.path.join(self.directory, 'node.out'), 'a')
        self._popen = subprocess.Popen(
            [os.path.join(RABBIT_BIN, 'rabbitmq-server')], env=self.env,
            cwd=self.directory, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        # await_startup fails at once while the node has not registered
        # with epmd yet: poll until it does.
        procs.wait_for(self._started, timeout=timeout, interval=0.5,
                       message='RabbitMQ node %s started' % self.node)
        # The first start makes guest/guest: not part of the layout.
        self.ctl('delete_user', 'guest')

    def _started(self):
        if self._popen.poll() is not None:
            with open(os.path.join(self.directory, 'node.out')) as f:
                raise AssertionError('RabbitMQ node exited: %s'
                                     % f.read()[-3000:])
        try:
            self.ctl('await_startup', '--timeout', '30', timeout=40)
        except AssertionError:
            return False
        return True

    def ctl(self, *args, timeout=60):
        """Run ``rabbitmqctl`` on this node; :returns: its stdout."""
        result = subprocess.run(
            [os.path.join(RABBIT_BIN, 'rabbitmqctl'), '-q', '-n', self.node]
            + list(args), env=self.env, capture_output=True, text=True,
            timeout=timeout)
        if result.returncode:
            raise AssertionError('rabbitmqctl %s: %s%s' % (
                ' '.join(args), result.stdout, result.stderr))
        return result.stdout

    def add_user(self, user, password):
        self.ctl('add_user', user, password)

    def stop(self):
        if self._popen is None or self._popen.poll() is not None:
            return
        try:
            self.ctl('stop', timeout=60)
            self._popen.wait(timeout=30)
        except Exception:
            os.killpg(self._popen.pid, 9)
            self._popen.wait(timeout=10)

    def url(self, user, password, vhost=''):
        return 'rabbit://%s:%s@127.0.0.1:%d/%s' % (
            user, password, self.port, vhost)

    def log(self):
        text = []
        for root, _dirs, files in os.walk(os.path.join(self.directory,
                                                       'log')):
            for name in files:
                with open(os.path.join(root, name), errors='replace') as f:
                    text.append(f.read())
        return '\n'.join(text)


def remove(directory):
    shutil.rmtree(str(directory), ignore_errors=True)


wait_for = procs.wait_for
