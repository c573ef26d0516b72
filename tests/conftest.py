"""Fixtures shared by unit and functional tests.

* ``config``: every test gets a clean global CONF (oslo.messaging keeps
  some options on the global CONF only, so we never use a private one),
  with ``oslo_messaging.ConfFixture`` and the fake transport by default.
* ``db`` (and ``db_sqlite``/``db_all``): a migrated database, emptied for
  each test. ``db`` is SQLite; ``db_all`` runs the test on SQLite,
  PostgreSQL and MariaDB.
* ``admin_context``.
* every test starts with ``wire_guard``'s counts and log windows empty.
* ``shipped_rabbit_driver``: what ``amqp_guard.install()`` replaces, as
  oslo.messaging and py-amqp ship it (captured as this module is
  imported), for the test; put back as it was after.
* ``fresh_amqp_guard``: the same, and ``amqp_guard.install()`` may run
  again in the test, on the shipped driver.
"""

import os

# Our daemons select oslo.service's threading backend before anything
# imports oslo_messaging; tests must do the same.
import nova_proxy.cmd  # noqa: F401

from oslo_messaging import conffixture
import pytest

from nova_proxy.common import amqp_guard
from nova_proxy.common import context as np_context
from nova_proxy.common import rpc
from nova_proxy.common import wire_guard
from nova_proxy import conf
from nova_proxy.conf import database as conf_database
from tests import databases

CONF = conf.CONF


@pytest.fixture(autouse=True)
def config(tmp_path):
    if not CONF._args:
        CONF([], project='nova-compute-proxy')
    msg_fixture = conffixture.ConfFixture(CONF)
    msg_fixture.setUp()
    rpc.set_defaults()
    CONF.set_override('transport_url', 'fake:/')
    CONF.set_override('state_path', str(tmp_path / 'state'))
    CONF.set_override('host', 'test-host')
    wire_guard.reset()
    # Signed calls are required by default; tests that are not about
    # signing call without keys, the signing tests turn it back on.
    CONF.set_override('require_signed_context', False, group='proxy')
    CONF.set_override('require_signed_context', False, group='compute')
    yield CONF
    rpc.cleanup()
    msg_fixture.cleanUp()
    CONF.clear_override('transport_url')
    CONF.reset()
    # reset() also forgets set_default(): put our library defaults (the
    # embedded database URL, the exchange) back for the next test, as the
    # services set them (not conf.opts.set_defaults(), the generator's
    # hook: it changes the libraries' option objects for good).
    conf_database.register_opts(CONF)
    rpc.set_defaults()
    for group in ('proxy', 'proxy_client', 'compute', 'orchestration',
                  'periodic', 'upgrade_levels', 'database'):
        for name in list(getattr(CONF, group)):
            CONF.clear_override(name, group=group)
    for name in ('host', 'state_path', 'control_exchange'):
        CONF.clear_override(name)


_databases = {}


def _migrated_database(backend, tmp_path_factory):
    """One migrated database per backend per test session."""
    if backend not in _databases:
        from nova_proxy.db import migration
        import sqlalchemy as sa
        url = databases.create_database(
            backend, tmp_path_factory.mktemp('db-%s' % backend))
        engine = sa.create_engine(url)
        migration.db_sync(engine=engine)
        engine.dispose()
        _databases[backend] = url
    return _databases[backend]


def pytest_sessionfinish(session, exitstatus):
    for url in _databases.values():
        try:
            databases.drop_database(url)
        except Exception:
            pass


def _use_database(backend, tmp_path_factory):
    from nova_proxy.db import session as db_session
    url = _migrated_database(backend, tmp_path_factory)
    CONF.set_override('connection', url, group='database')
    db_session.dispose()
    databases.wipe(db_session.get_engine())
    return url


@pytest.fixture
def db(config, tmp_path_factory):
    """A migrated, empty SQLite database in WAL mode."""
    url = _use_database('sqlite', tmp_path_factory)
    yield url
    from nova_proxy.db import session as db_session
    db_session.dispose()


@pytest.fixture(params=databases.BACKENDS)
def db_all(request, config, tmp_path_factory):
    """A migrated, empty database, once per backend."""
    url = _use_database(request.param, tmp_path_factory)
    yield url
    from nova_proxy.db import session as db_session
    db_session.dispose()


_INHERITED = object()


def _as_shipped():
    """``(owner, name, value)`` of each attribute ``amqp_guard.install()``
    replaces, as oslo.messaging and py-amqp ship it; ``value`` is
    ``_INHERITED`` where the owner has none of its own."""
    assert not amqp_guard._installed, 'the guard is installed already'
    return tuple((owner, name, vars(owner).get(name, _INHERITED))
                 for owner, name in amqp_guard.replaced_attributes())


# As pytest imports this module: before any test can install the guard.
_SHIPPED = _as_shipped()


@pytest.fixture
def shipped_rabbit_driver(monkeypatch):
    """The driver as it ships for the test, whatever an earlier test
    installed in this process; put back as it was after."""
    for owner, name, value in _SHIPPED:
        if value is not _INHERITED:
            monkeypatch.setattr(owner, name, value)
        elif name in vars(owner):
            monkeypatch.delattr(owner, name)


@pytest.fixture
def fresh_amqp_guard(shipped_rabbit_driver, monkeypatch):
    monkeypatch.setattr(amqp_guard, '_installed', False)
    return amqp_guard


@pytest.fixture
def admin_context():
    return np_context.get_admin_context()


def pytest_configure(config):
    os.environ.setdefault('OSLO_LOCK_PATH', '/tmp')
