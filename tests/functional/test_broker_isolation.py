"""The broker layout of docs/security.rst, on a RabbitMQ node of our own.

One TLS-only node per module (tests/functional/tls_broker.py), the users
and permissions that ``nova-compute-proxy-manage broker permissions``
prints, a proxy and two computes (``cmp-a``, ``cmp-b``) each with its own
user and client certificate. Then: the calls of the layout are served,
and what a root attacker on ``cmp-a`` tries with ``cmp-a``'s credentials,
in raw AMQP, is refused by the broker itself (ACCESS_REFUSED).
"""

import glob
import os
import ssl
import subprocess
import sys
import uuid

import amqp
from amqp import exceptions as amqp_exc
import pytest
import sqlalchemy as sa

from nova_proxy.common import broker_cli
from nova_proxy.common import context as np_context
from nova_proxy import conf
from nova_proxy.db import api as db
from nova_proxy.db import migration
from tests import databases
from tests.functional import procs
from tests.functional import tls_broker

CONF = conf.CONF

pytestmark = pytest.mark.skipif(not tls_broker.available(),
                                reason='RabbitMQ is not installed here')

EXCHANGE = 'nova'
PROXY_TOPIC = 'compute_proxy'
COMPUTE_TOPIC = 'compute'
COMPUTES = ('cmp-a', 'cmp-b')


class Layout:
    """The node, the users' passwords and the running processes."""

    def __init__(self, broker, directory):
        self.broker = broker
        self.directory = directory
        self.passwords = {}
        self.cluster = None
        self.db_url = None

    def add(self, user, **who):
        """Create ``user`` and give it what ``broker permissions`` says."""
        password = uuid.uuid4().hex
        self.broker.add_user(user, password)
        for argv in broker_cli.commands(user=user, **who):
            assert argv[0] == 'rabbitmqctl'
            self.broker.ctl(*argv[1:])
        self.passwords[user] = password

    def messaging_options(self, user):
        """The config of a process that connects as ``user``: its own
        client certificate, the test CA, TLS only."""
        cert, key = self.broker.ca.issue(user)
        return {
            'DEFAULT': {'transport_url': self.broker.url(
                user, self.passwords[user]),
                'control_exchange': EXCHANGE},
            'oslo_messaging_rabbit': {
                'ssl': 'true', 'ssl_ca_file': self.broker.ca.cert_file,
                'ssl_cert_file': cert, 'ssl_key_file': key,
                'ssl_enforce_hostname_verification': 'true',
                'heartbeat_timeout_threshold': '0'},
        }

    def connect(self, user, password=None, certificate=True, vhost='/'):
        """A raw AMQP connection as ``user`` (py-amqp, no oslo)."""
        options = {'ca_certs': self.broker.ca.cert_file,
                   'cert_reqs': ssl.CERT_REQUIRED,
                   'server_hostname': 'localhost'}
        if certificate:
            cert, key = self.broker.ca.issue('%s-raw' % user)
            options.update(certfile=cert, keyfile=key)
        connection = amqp.Connection(
            '127.0.0.1:%d' % self.broker.port, userid=user,
            password=password or self.passwords[user], ssl=options,
            virtual_host=vhost,
            connect_timeout=10)
        connection.connect()
        return connection

    def queues(self):
        return self.broker.ctl('list_queues', '-p', '/', 'name',
                               '--no-table-headers').split()


@pytest.fixture(scope='module')
def layout(tmp_path_factory):
    directory = tmp_path_factory.mktemp('broker')
    broker = tls_broker.Broker(directory / 'node')
    layout = Layout(broker, directory)
    try:
        broker.start()
        layout.add(broker_cli.PROXY_USER, proxy=True)
        layout.add(broker_cli.CONTROL_USER, control=True)
        for host in COMPUTES:
            layout.add(host, host=host)
        layout.db_url = databases.create_database('postgresql', directory)
        engine = sa.create_engine(layout.db_url)
        migration.db_sync(engine=engine)
        engine.dispose()
        cluster = procs.Cluster(directory, exchange=EXCHANGE,
                                db_url=layout.db_url,
                                topics={'proxy': PROXY_TOPIC,
                                        'compute': COMPUTE_TOPIC})
        layout.cluster = cluster
        cluster.start('proxy', 'proxy-a', extra=layout.messaging_options(
            broker_cli.PROXY_USER))
        for host in COMPUTES:
            cluster.start('compute', host, extra=procs.merge_options(
                layout.messaging_options(host),
                {'oslo_messaging_rabbit': {'use_queue_manager': 'true',
                                           'hostname': host},
                 'oslo_concurrency': {
                     'lock_path': str(directory / ('lock-' + host))},
                 'proxy_client': {'startup_ping_timeout': '90'}}))
        for proc in cluster.processes:
            if proc.kind == 'compute':
                procs.wait_for(
                    lambda: 'Compute service %s started' % proc.name
                    in proc.log() or not proc.alive(),
                    timeout=120, message='%s to start' % proc.name)
                assert proc.alive(), proc.log()[-3000:]
        yield layout
    finally:
        if layout.cluster is not None:
            for proc in reversed(layout.cluster.processes):
                proc.stop(timeout=10)
        broker.stop()
        if layout.db_url:
            databases.drop_database(layout.db_url)
        # The queue manager's counters (oslo.messaging keeps them there).
        for host in COMPUTES:
            for path in glob.glob('/dev/shm/%s_*_qmanager' % host):
                os.remove(path)


def _refused(action):
    """``action()`` fails with the broker's ACCESS_REFUSED (403)."""
    with pytest.raises(amqp_exc.AccessRefused) as raised:
        action()
    assert raised.value.reply_code == 403
    return str(raised.value)


class Attacker:
    """A root attacker on ``cmp-a`` with ``cmp-a``'s broker user: each
    attempt on a channel of its own (a refusal closes the channel)."""

    def __init__(self, connection):
        self.connection = connection

    def channel(self):
        return self.connection.channel()

    def consume(self, queue):
        self.channel().basic_consume(queue, callback=lambda m: None)

    def publish(self, exchange, routing_key):
        channel = self.channel()
        # With publisher confirms, the publish waits for the broker's
        # answer: a refusal raises here, not on a later call.
        channel.basic_publish_confirm(amqp.Message('{}'), exchange=exchange,
                                      routing_key=routing_key)
        channel.close()

    def bind(self, queue, exchange, routing_key):
        self.channel().queue_bind(queue, exchange, routing_key)

    def declare(self, queue):
        self.channel().queue_declare(queue, auto_delete=True)

    def delete(self, queue):
        self.channel().queue_delete(queue)


@pytest.fixture
def attacker(layout):
    connection = layout.connect('cmp-a')
    try:
        yield Attacker(connection)
    finally:
        connection.collect()


def test_the_calls_of_the_layout_are_served_over_tls(layout, config):
    """control plane -> proxy -> compute cmp-a, and cmp-a's shim calls back
    to the proxy (the build's database work), each with its own user."""
    CONF.set_override('connection', layout.db_url, group='database')
    ctx = np_context.get_admin_context()
    # The computes' shims registered and heartbeat through the proxy.
    for host in COMPUTES:
        service = procs.wait_for(lambda: db.service_get_by_host_and_binary(
            ctx, host, 'nova-compute'), message='%s service' % host)
        procs.wait_for(lambda: db.service_get_by_host_and_binary(
            ctx, host, 'nova-compute')['report_count']
            >= service['report_count'] + 2,
            timeout=30, message='%s heartbeats' % host)
    control = layout.cluster.write_config('control', procs.merge_options(
        layout.messaging_options(broker_cli.CONTROL_USER),
        {'DEFAULT': {'rpc_response_timeout': '60'}}))
    result = subprocess.run(
        [sys.executable, '-m', 'nova_proxy.cmd.manage', '--config-file',
         control, 'server', 'build', 'vm-tls', '--host', 'cmp-a', '--wait'],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    built = [i for i in db.instance_get_all_by_host(ctx, 'cmp-a')
             if i['display_name'] == 'vm-tls']
    assert [(i['host'], i['vm_state']) for i in built] == [
        ('cmp-a', 'active')]
    for proc in layout.cluster.processes:
        assert proc.alive(), proc.log()[-3000:]
        assert 'ACCESS_REFUSED' not in proc.log(), proc.name


def test_a_compute_cannot_read_what_is_not_its_own(layout, attacker):
    queues = layout.queues()
    replies_of_b = [q for q in queues if q.startswith('reply_cmp-b:')]
    replies_of_proxy = [q for q in queues if q.startswith('reply_')
                        and ':' not in q]
    assert replies_of_b and replies_of_proxy, queues
    for queue in [PROXY_TOPIC, PROXY_TOPIC + '.proxy-a', 'compute.cmp-b',
                  replies_of_b[0], replies_of_proxy[0]]:
        assert queue in queues
        message = _refused(lambda: attacker.consume(queue))
        assert "queue '%s'" % queue in message, message
    # Nor by binding its own queue where the proxies' calls are routed.
    for key in (PROXY_TOPIC, '#', PROXY_TOPIC + '.*', 'compute.cmp-b'):
        message = _refused(lambda: attacker.bind('compute.cmp-a', EXCHANGE,
                                                 key))
        assert "access to topic '%s'" % key in message, message
    _refused(lambda: attacker.bind('compute.cmp-a',
                                   PROXY_TOPIC + '_fanout', ''))


def test_a_compute_cannot_call_as_or_on_another_host(layout, attacker):
    for key in ('compute.cmp-b', 'compute', PROXY_TOPIC + '.proxy-a'):
        message = _refused(lambda: attacker.publish(EXCHANGE, key))
        assert "access to topic '%s'" % key in message, message
    _refused(lambda: attacker.publish('amq.topic', PROXY_TOPIC))
    # What it needs: a call to the proxies' topic is accepted.
    attacker.publish(EXCHANGE, PROXY_TOPIC)


def test_a_compute_cannot_declare_or_delete_what_is_not_its_own(
        layout, attacker):
    replies_of_b = [q for q in layout.queues()
                    if q.startswith('reply_cmp-b:')]
    for queue in (PROXY_TOPIC, 'compute.cmp-b', replies_of_b[0],
                  'reply_%s' % uuid.uuid4().hex, 'reply_cmp-b:x:1'):
        _refused(lambda: attacker.delete(queue))
        _refused(lambda: attacker.declare(queue))
    # Its own reply queues, under its own name: allowed.
    own = 'reply_cmp-a:attacker:%s' % uuid.uuid4().hex[:6]
    channel = attacker.channel()
    channel.queue_declare(own, auto_delete=True)
    channel.basic_consume(own, callback=lambda m: None)
    channel.queue_delete(own)


def test_nothing_is_ever_sent_to_the_bare_compute_queue(layout):
    """Every compute consumes the shared ``compute`` queue (oslo.messaging's
    server declares it): no user of the layout may route a message there."""
    assert COMPUTE_TOPIC in layout.queues()
    for user in (broker_cli.PROXY_USER, broker_cli.CONTROL_USER, 'cmp-b'):
        connection = layout.connect(user)
        try:
            _refused(lambda: Attacker(connection).publish(
                EXCHANGE, COMPUTE_TOPIC))
            _refused(lambda: Attacker(connection).publish(
                COMPUTE_TOPIC + '_fanout', ''))
        finally:
            connection.collect()


def test_the_default_exchange_is_the_layouts_known_limit(layout, attacker):
    """Replying needs write on ``amq.default``, which routes by queue name
    to any queue: the broker lets cmp-a put a message on cmp-b's queue
    (docs/security.rst says what stops it there). The control plane, which
    serves nothing, has no such write."""
    attacker.publish('', 'compute.cmp-b')
    connection = layout.connect(broker_cli.CONTROL_USER)
    try:
        _refused(lambda: Attacker(connection).publish('', 'compute.cmp-b'))
    finally:
        connection.collect()


def test_a_compute_may_delete_the_exchange_the_layouts_other_limit(
        layout):
    """oslo.messaging declares the exchange, and RabbitMQ grants delete
    with declare: shown on a vhost of its own, not to break the others."""
    layout.broker.ctl('add_vhost', 'scratch')
    for argv in broker_cli.commands(host='cmp-a', vhost='scratch'):
        layout.broker.ctl(*argv[1:])
    connection = layout.connect('cmp-a', vhost='scratch')
    try:
        channel = connection.channel()
        channel.exchange_declare(EXCHANGE, 'topic', durable=False,
                                 auto_delete=False)
        channel.exchange_delete(EXCHANGE)
        _refused(lambda: connection.channel().exchange_delete('amq.topic'))
    finally:
        connection.collect()
        layout.broker.ctl('delete_vhost', 'scratch')


def test_without_a_client_certificate_or_password_nothing_connects(layout):
    with pytest.raises((ssl.SSLError, OSError, amqp_exc.AMQPError)):
        layout.connect('cmp-a', certificate=False).collect()
    with pytest.raises(amqp_exc.AccessRefused):
        layout.connect('cmp-a', password='wrong').collect()
