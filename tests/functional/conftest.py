"""Functional fixtures: the real RabbitMQ and real processes.

``rabbit``: a per-test exchange (``control_exchange``) on the broker at
127.0.0.1:5672, so tests never see each other's messages, and CONF pointed
at it. ``cluster``: starts ``nova-compute-proxy`` and
``nova-compute-proxy-compute`` processes with generated config files and
stops them (SIGKILL if they do not stop) at the end.
"""

import uuid

import pytest

from nova_proxy import conf
from tests.functional import procs

CONF = conf.CONF

RABBIT_URL = procs.RABBIT_URL


@pytest.fixture
def rabbit(config):
    exchange = 'np-test-%s' % uuid.uuid4().hex[:10]
    CONF.set_override('transport_url', RABBIT_URL)
    CONF.set_override('control_exchange', exchange)
    yield exchange


@pytest.fixture
def cluster(rabbit, tmp_path):
    """A ``procs.Cluster`` on this test's exchange; ``db_url`` is set by
    the test (``cluster.db_url = ...``) before starting processes."""
    c = procs.Cluster(tmp_path, exchange=rabbit)
    yield c
    c.stop_all()
