"""Checks the proxy makes before it forks its workers.

A worker that fails its start-up is respawned by the launcher forever, a
traceback each time; a worker whose database hangs waits on oslo.db's
connection retries, and one whose broker cannot be reached reconnects
forever (oslo.messaging's rabbit driver). So the launcher checks the
database and then the broker once, each with a connection of its own and
``[proxy] start_check_timeout``, and the daemon exits with one clear log
line when it cannot serve.
"""

import os
import threading

import oslo_messaging as messaging
from oslo_messaging._drivers import common as driver_common
import sqlalchemy as sa

from nova_proxy.common import db_errors
from nova_proxy.common import utils
from nova_proxy import conf
from nova_proxy.db import migration

CONF = conf.CONF

__all__ = ['check_database', 'check_broker', 'rpc_transport',
           'CHECK_TIMEOUT']

# Seconds the check waits for the database to answer at all, when not
# given ([proxy] start_check_timeout's default).
CHECK_TIMEOUT = 30

SYNC = 'run "nova-compute-proxy-manage db sync" with this configuration'


def _safe_url(url):
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return '(unparsable URL)'


def _schema_problem(url):
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == 'sqlite' and parsed.database and \
            parsed.database != ':memory:' and \
            not os.path.exists(parsed.database):
        return 'the database file does not exist yet: %s' % SYNC
    engine = sa.create_engine(url)
    try:
        problem = migration.schema_problem(engine=engine)
    finally:
        engine.dispose()
    return None if problem is None else '%s: %s' % (problem, SYNC)


def _problem(url):
    try:
        return _schema_problem(url)
    except (sa.exc.ArgumentError, ImportError) as e:
        return ('[database] connection is not a usable URL (%s): fix it '
                'in the configuration file' % e)
    except sa.exc.DBAPIError as e:
        if db_errors.is_database_unavailable(e):
            return ('cannot connect to the database (%s): check that the '
                    'database server is up and that [database] connection '
                    '(host, port, user, password, database name) is right'
                    % db_errors.describe(e))
        return 'the database refused the check (%s)' % db_errors.describe(e)


def check_database(timeout=CHECK_TIMEOUT):
    """Can this proxy serve from ``[database] connection``?

    :returns: None when the database answers and its schema is at the
        newest migration; otherwise one sentence saying what is wrong and
        what to do, for the log.
    """
    url = CONF.database.connection
    outcome = {}

    def run():
        try:
            outcome['problem'] = _problem(url)
        except Exception as e:
            outcome['problem'] = 'the database check failed: %s: %s' % (
                type(e).__name__, db_errors.describe(e))

    thread = threading.Thread(target=run, daemon=True,
                              name='database-check')
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        problem = ('the database did not answer within %ss: check that '
                   'the database server is reachable' % timeout)
    else:
        problem = outcome['problem']
    if problem is None:
        return None
    return 'Database %s: %s' % (_safe_url(url), problem)


def _broker_hosts(url):
    """``transport_url`` without its credentials, for the log."""
    try:
        parsed = messaging.TransportURL.parse(CONF, url)
    except Exception:
        return '(unparsable transport_url)'
    hosts = ','.join('%s:%s' % (h.hostname, h.port) for h in parsed.hosts)
    return '%s://%s/%s' % (parsed.transport, hosts,
                           parsed.virtual_host or '')


def rpc_transport():
    """The RPC transport of ``transport_url``, not connected, checked
    against ``[proxy] rpc_server``: ``(transport, None)``, or ``(None,
    why)``, ``why`` one sentence saying what is wrong and what to do.
    A transport that ``direct`` cannot serve is refused before its
    driver is loaded (this host may lack its client library)."""
    from nova_proxy.common import direct_amqp
    direct = CONF.proxy.rpc_server == 'direct'
    if direct:
        _register_transport_url()
        problem = direct_amqp.unsupported_transport(CONF)
        if problem is not None:
            return None, problem
    try:
        transport = messaging.get_rpc_transport(CONF)
    except (messaging.InvalidTransportURL, messaging.DriverLoadFailure,
            ValueError) as e:
        # ValueError: a host whose port is not a number.
        return None, ('transport_url is not usable (%s): fix it in the '
                      'configuration file' % e)
    if direct:
        problem = direct_amqp.unsupported(CONF)
        if problem is not None:
            transport.cleanup()
            return None, problem
    return transport, None


def _register_transport_url():
    """``[DEFAULT] transport_url``, which oslo.messaging registers only
    with a transport, registered as its option list gives it."""
    from oslo_config import cfg
    from oslo_messaging import opts as messaging_opts
    try:
        CONF.transport_url
    except cfg.NoSuchOptError:
        CONF.register_opts([opt for group, opts in messaging_opts.list_opts()
                            if group is None for opt in opts
                            if opt.name == 'transport_url'])


def check_broker(timeout=CHECK_TIMEOUT):
    """Can this proxy connect to the broker of ``transport_url``?

    One connection of the driver's own pool, on a transport of its own
    that is cleaned up before the fork. Drivers without a connection pool
    (the in-process ``fake`` driver) are not checked.

    First ``rpc_transport()``: with ``[proxy] rpc_server = direct``,
    whether that server supports the transport and the options set.

    :returns: None when the broker accepted a connection within
        ``timeout`` seconds; otherwise one sentence saying what is wrong
        and what to do, for the log.
    """
    transport, problem = rpc_transport()
    if problem is not None:
        return problem
    url = CONF.transport_url  # registered by the transport
    # NOTE: oslo.messaging has no public way to open a connection; a
    # pooled connection is what its calls open first.
    connect = getattr(transport._driver, '_get_connection', None)
    if connect is None:
        transport.cleanup()
        return None

    def run():
        with connect(driver_common.PURPOSE_SEND):
            pass

    try:
        utils.call_within(run, timeout, 'broker-check')
    except TimeoutError:
        # The abandoned thread holds the pool: no cleanup, the process
        # is about to exit.
        return ('Message broker %s: no connection within %ss: check '
                'transport_url (host, port, user, password, virtual host) '
                'and that the broker runs' % (_broker_hosts(url), timeout))
    except Exception as e:
        transport.cleanup()
        return ('Message broker %s: connection failed (%s): check '
                'transport_url (host, port, user, password, virtual host)'
                % (_broker_hosts(url), e))
    transport.cleanup()
    return None
