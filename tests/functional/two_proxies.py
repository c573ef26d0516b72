"""Two real ``nova-compute-proxy`` processes on PostgreSQL and RabbitMQ,
and a client that knows nothing of this project.

The client side uses oslo.messaging alone: a transport on the broker, a
``Target`` naming the test's exchange and the topic ``compute_proxy``, and
a context that is a plain dict (what ``RequestContext.to_dict()`` gives).
``nova_proxy.exception`` is named, as a string, as the module whose
exceptions the client may rebuild; nothing else of ours is imported.

Isolation: oslo.messaging's rabbit driver names a topic's queue after the
topic alone, whatever the exchange, so every proxy on the broker (other
people's test runs included) consumes the one ``compute_proxy`` queue. A
per-test exchange is not enough: our calls would be served by strangers
with another database. So the cluster gets a RabbitMQ vhost of its own
(``rabbitmqctl``); where that tool is missing it falls back to a topic of
its own instead.
"""

import contextlib
import os
import re
import shutil
import subprocess
import urllib.parse
import uuid

from oslo_config import cfg
import oslo_messaging
import pytest
import sqlalchemy as sa

from nova_proxy.db import migration
from tests import databases
from tests.functional import procs

TOPIC = 'compute_proxy'
PROXIES = ('proxy-a', 'proxy-b')


def _rabbitmqctl(*args):
    subprocess.run(('rabbitmqctl', '-q') + args, check=True, timeout=120,
                   stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def private_broker():
    """Yields ``(transport_url, topic)`` that no one else uses."""
    suffix = uuid.uuid4().hex[:10]
    url = urllib.parse.urlsplit(procs.RABBIT_URL)
    if shutil.which('rabbitmqctl') is None:
        yield procs.RABBIT_URL, '%s_%s' % (TOPIC, suffix)
        return
    vhost = 'np-test-%s' % suffix
    _rabbitmqctl('add_vhost', vhost)
    try:
        _rabbitmqctl('set_permissions', '-p', vhost, url.username or 'guest',
                     '.*', '.*', '.*')
        yield url._replace(path='/' + vhost).geturl(), TOPIC
    finally:
        _rabbitmqctl('delete_vhost', vhost)


@contextlib.contextmanager
def two_proxies(directory):
    """Start both proxies on a fresh PostgreSQL database; yields the
    ``procs.Cluster``, with ``transport_url`` and ``topic`` added."""
    url = databases.create_database('postgresql', directory)
    engine = sa.create_engine(url)
    migration.db_sync(engine=engine)
    engine.dispose()
    with private_broker() as (transport_url, topic):
        cluster = procs.Cluster(directory,
                                exchange='np-test-%s' % uuid.uuid4().hex[:10],
                                db_url=url)
        cluster.transport_url = transport_url
        cluster.topic = topic
        try:
            for name in PROXIES:
                cluster.start('proxy', name, extra={
                    # debug: each proxy logs "Served <method>" per call.
                    'DEFAULT': {'debug': 'true',
                                'transport_url': transport_url},
                    'proxy': {'topic': topic}})
            yield cluster
        finally:
            cluster.stop_all()
            databases.drop_database(url)


@contextlib.contextmanager
def plain_transport(cluster):
    transport = oslo_messaging.get_rpc_transport(
        cfg.CONF, url=cluster.transport_url,
        allowed_remote_exmods=['nova_proxy.exception'])
    try:
        yield transport
    finally:
        transport.cleanup()


def plain_client(transport, cluster, timeout=60):
    target = oslo_messaging.Target(exchange=cluster.exchange,
                                   topic=cluster.topic, version='1.0')
    return oslo_messaging.get_rpc_client(transport, target, timeout=timeout)


def module_cluster(name):
    """A module-scoped fixture: the two proxies, shared by the module's
    tests (starting them is the slow part)."""
    @pytest.fixture(scope='module')
    def cluster(tmp_path_factory):
        with two_proxies(tmp_path_factory.mktemp(name)) as c:
            yield c
    return cluster


@pytest.fixture
def transport(cluster, config):
    """A plain oslo.messaging transport to the module's cluster, once both
    proxies serve."""
    with plain_transport(cluster) as transport:
        wait_until_serving(plain_client(transport, cluster), cluster)
        yield transport


def wait_until_serving(client, cluster):
    """Both proxies answer on their own server queue."""
    for proc in cluster.processes:
        assert proc.alive(), proc.log()[-3000:]
        server = client.prepare(server=proc.name, timeout=5)
        procs.wait_for(
            lambda: server.call({}, 'ping', arg=proc.name) == proc.name,
            timeout=60, message='%s serving' % proc.name)


def served(cluster, method):
    """How many calls of ``method`` each proxy served, by its log."""
    pattern = re.compile(r'Served %s\b' % re.escape(method))
    return {proc.name: len(pattern.findall(proc.log()))
            for proc in cluster.processes}


def log_sizes(cluster):
    return {proc.name: os.path.getsize(proc.log_path)
            for proc in cluster.processes}


def logs_since(cluster, sizes):
    text = []
    for proc in cluster.processes:
        with open(proc.log_path) as f:
            f.seek(sizes[proc.name])
            text.append(f.read())
    return '\n'.join(text)
