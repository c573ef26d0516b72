"""The queues the tests declare on the local broker expire once unused
(``procs.TEST_QUEUE_POLICY``): oslo.messaging's topic queues have no
expiry of their own, and a full run left some 1,600 of them. The tests'
raw connections (``procs.broker_connection``) go to the broker of
``NOVA_PROXY_TEST_RABBIT_URL``, as their oslo.messaging ones do."""

import socket
import subprocess
import uuid

import amqp
import pytest

from nova_proxy import conf
from tests.functional import orchestration_fixtures as of
from tests.functional import procs

CONF = conf.CONF


def _policies(names):
    """``{queue: policy}`` of ``names``, as the broker applies them."""
    out = subprocess.run(
        ['rabbitmqctl', '-q', 'list_queues', 'name', 'policy'],
        capture_output=True, text=True, timeout=60, check=True).stdout
    rows = dict(line.split('\t', 1) for line in out.splitlines()
                if '\t' in line)
    return {name: rows.get(name, '').strip() for name in names}


def test_the_queues_of_a_test_expire_and_no_others(rabbit,
                                                   test_queues_expire):
    if not test_queues_expire:
        pytest.skip('rabbitmqctl cannot set the policy on this broker')
    topic = CONF.proxy.topic
    ours = [topic, topic + '.proxy-a',
            '%s_fanout_%s' % (topic, uuid.uuid4().hex),
            CONF.compute.topic + '.cmp-1']
    # The orchestration tests' processes name their topics by the
    # exchange: theirs too.
    ours += ['%s.%s' % (group['topic'], server) for group, server in zip(
        of.topics(rabbit).values(), ('survivor', 'cmp2'))]
    # Names no test gives (a suffix of 12 hex digits, not 10): no
    # deployment's queue is touched.
    others = ['compute_proxy_%s' % uuid.uuid4().hex[:12],
              'compute_proxy_%s.proxy-a' % uuid.uuid4().hex[:12],
              'np-hygiene-%s' % uuid.uuid4().hex]
    with procs.broker_connection() as connection:
        channel = connection.channel()
        for name in ours + others:
            channel.queue_declare(name, durable=False, auto_delete=False)
        try:
            policies = _policies(ours + others)
        finally:
            for name in ours + others:
                channel.queue_delete(name)
    name = procs.TEST_QUEUE_POLICY[0]
    assert {q: policies[q] for q in ours} == {q: name for q in ours}
    assert name not in {policies[q] for q in others}, policies


@pytest.mark.parametrize('url, refused', [
    ('rabbit://guest:guest@np-no-such-host.invalid:5672/', socket.gaierror),
    ('rabbit://guest:guest@127.0.0.1:1/', ConnectionRefusedError),
    ('rabbit://np-no-such-user:guest@127.0.0.1:5672/',
     amqp.exceptions.AccessRefused),
    ('rabbit://guest:np-wrong@127.0.0.1:5672/', amqp.exceptions.AccessRefused),
    ('rabbit://guest:guest@127.0.0.1:5672/np-no-such-vhost',
     amqp.exceptions.NotAllowed),
], ids=['host', 'port', 'user', 'password', 'vhost'])
def test_a_raw_connection_goes_where_the_tests_url_says(url, refused,
                                                        monkeypatch):
    # Each URL differs from the local broker's in one part.
    monkeypatch.setattr(procs, 'RABBIT_URL', url)
    with pytest.raises(refused):
        with procs.broker_connection():
            pass
