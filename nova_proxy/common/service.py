"""Process start-up shared by every console script, and the RPC service
base class.

``prepare_service()`` is the one place that parses config and sets up
logging; a config file that is missing, unreadable or malformed ends the
process with status 1 and one line on stderr. ``RPCService`` follows
oslo.service's fork rules: ``__init__`` keeps plain values only;
transports, engines, servers and threads are built in ``start()``, after
the launcher has forked the worker; ``stop()`` stops taking messages,
drains what is in flight, then releases everything.

``launch()`` runs the workers as OpenStack daemons do: SIGTERM stops them
gracefully, SIGHUP reloads the mutable options (``[DEFAULT] debug`` and
``log_levels``, oslo.log's ``log_config_append``) in every process without
restarting a worker or dropping a call, and SIGUSR2 writes a Guru
Meditation Report (oslo.reports: every thread's stack, the options) to
stderr or ``[oslo_reports] log_dir``.
"""

import logging as std_logging
import re
import sys
import threading
import traceback

import cotyledon
from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_reports import guru_meditation_report as gmr
from oslo_reports import opts as gmr_opts
from oslo_service import opts as service_opts
from oslo_service import service

from nova_proxy.common import metrics
from nova_proxy.common import rpc
from nova_proxy import conf
from nova_proxy import version

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['prepare_service', 'config_problem', 'invalid_option_value',
           'option_rules_broken', 'RPCService', 'launch', 'log_levels',
           'apply_log_levels']

PROJECT = 'nova-compute-proxy'


def prepare_service(argv=None, default_config_files=None,
                    quiet_loggers=(), program=PROJECT):
    """Parse config files and command line, check the values, and set up
    logging; ``program`` names the process in its log (an error that
    escapes is logged under it).

    ``quiet_loggers``: loggers that log only CRITICAL unless ``--debug``:
    for a command that explains its failures in one line of its own, the
    libraries' log lines of the same failure (a traceback, a reconnection
    every few seconds) would only bury it.
    """
    argv = sys.argv if argv is None else argv
    logging.register_options(CONF)
    rpc.set_defaults()
    logging.set_defaults(default_log_levels=logging.get_default_log_levels()
                         + ['oslo.messaging=INFO', 'amqp=WARN',
                            'oslo_messaging._drivers.amqpdriver=WARN',
                            'alembic=WARN'])
    try:
        CONF(argv[1:], project=PROJECT,
             default_config_files=default_config_files)
    except cfg.Error as e:
        problem = config_problem(e)
        if problem is None:
            raise
        # Logging is not set up yet: one line on stderr, status 1.
        raise SystemExit('Error: %s' % problem)
    problem = invalid_option_value() or option_rules_broken()
    if problem is not None:
        raise SystemExit('Error: %s' % problem)
    try:
        levels = log_levels()
    except ValueError as e:
        raise SystemExit('Error: %s' % e)
    if quiet_loggers and not CONF.debug:
        CONF.set_override('default_log_levels', CONF.default_log_levels + [
            '%s=CRITICAL' % name for name in quiet_loggers])
    logging.setup(CONF, program)
    apply_log_levels(levels)
    CONF.register_mutate_hook(_on_mutate)


_LEVELS = ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')


def log_levels(items=None):
    """``[(logger, LEVEL)]`` of ``[DEFAULT] log_levels``.

    :raises: ValueError naming the first item that is not ``logger=LEVEL``
    """
    pairs = []
    for item in CONF.log_levels if items is None else items:
        name, sep, level = item.partition('=')
        level = level.strip().upper()
        if not sep or not name.strip() or level not in _LEVELS:
            raise ValueError(
                '[DEFAULT] log_levels: %r is not logger=LEVEL with LEVEL '
                'one of %s' % (item, ', '.join(_LEVELS)))
        pairs.append((name.strip(), level))
    return pairs


# The loggers whose level log_levels set in this process.
_leveled = set()


def apply_log_levels(levels):
    """Set the levels of ``log_levels()``; on SIGHUP again, after oslo.log
    has applied ``debug``. A logger set before and not named now goes back
    to the level of its parent."""
    names = {name for name, _ in levels}
    for name in _leveled - names:
        std_logging.getLogger(name).setLevel(std_logging.NOTSET)
    for name, level in levels:
        std_logging.getLogger(name).setLevel(level)
    _leveled.clear()
    _leveled.update(names)


def _on_mutate(conf, fresh):
    # fresh: {(group, option): (old, new)} of the mutable options that
    # changed (oslo.log has applied debug already).
    try:
        levels = log_levels()
    except ValueError as e:
        LOG.error('Not applied: %s', e)
        return
    apply_log_levels(levels)
    if fresh:
        LOG.info('Reloaded options: %s', ', '.join(
            '[%s] %s' % (group or 'DEFAULT', name)
            for group, name in sorted(fresh, key=str)))


# (smaller option, larger option, why): pairs of options whose help says
# they must be ordered, both read by the same process (the proxies).
# [compute] report_interval and [periodic] service_down_time are not
# among them: the first is the computes' and the second the proxies', and
# a proxy's config need not hold the computes' value.
_ORDERED = (
    (('proxy', 'heartbeat_interval'), ('proxy', 'liveness_deadline'),
     'a live proxy would count as dead between two heartbeats, and lose '
     'its operations and its periodic task items to the others'),
    (('compute', 'call_monitor_timeout'), ('compute', 'rpc_timeout'),
     'a call to a compute would time out before a dead compute is '
     'noticed'),
)


def option_rules_broken():
    """One line naming the first pair of options in the wrong order, or
    None."""
    for (small_group, small), (large_group, large), why in _ORDERED:
        low = getattr(getattr(CONF, small_group), small)
        high = getattr(getattr(CONF, large_group), large)
        if low >= high:
            return ('[%s] %s (%s) must be below [%s] %s (%s): otherwise %s'
                    % (small_group, small, low, large_group, large, high,
                       why))
    return None


def invalid_option_value(conf=CONF):
    """One line naming the first option whose value in a config file is
    not valid (not a number, out of its bounds, not one of its choices),
    or None.

    oslo.config checks a value when it is first read: without this the
    process would start, even call the proxies, and then die with a
    traceback where it first reads the option.
    """
    return _invalid_value_in(conf, None)


def _invalid_value_in(namespace, group):
    """``invalid_option_value()`` of the options of ``namespace`` (the
    ConfigOpts, which lists the groups among its names, or a group)."""
    for name in sorted(namespace):
        try:
            value = getattr(namespace, name)
        except cfg.ConfigFileValueError as e:
            # "Value for option <name> from LocationInfo(...,
            # detail='<file>') is not valid: <reason>"
            reason = str(e).split(' is not valid: ', 1)[-1]
            where = re.search(r"detail='([^']*)'", str(e))
            return 'Invalid value for [%s] %s%s: %s' % (
                group or 'DEFAULT', name,
                ' in %s' % where.group(1) if where else '', reason)
        if group is None and isinstance(value, cfg.ConfigOpts.GroupAttr):
            problem = _invalid_value_in(value, name)
            if problem is not None:
                return problem
    return None


def config_problem(error):
    """One line saying what is wrong with the config files, or None when
    ``error`` is not about them."""
    if isinstance(error, cfg.ConfigFilesNotFoundError):
        return 'Config file not found: %s' % ', '.join(error.config_files)
    if isinstance(error, cfg.ConfigFilesPermissionDeniedError):
        return 'Config file not readable: %s' % ', '.join(
            error.config_files)
    if isinstance(error, cfg.ConfigDirNotFoundError):
        return 'Config directory not found: %s' % error.config_dir
    if isinstance(error, cfg.ConfigFileParseError):
        # msg reads "at <file>:<line>, <what is wrong>".
        return 'Cannot parse config file %s' % error.msg
    return None


class RPCService(service.Service):
    """An RPC server plus the background components of one process.

    Subclasses say what to serve with ``_target()`` and ``_endpoints()``, and
    what else to run with ``_components()``: objects with ``start()`` and
    ``stop()``, started after the server and stopped before it. A
    component may take the service off its queues for a while with
    ``pause_serving()`` and put it back with ``resume_serving()``.
    """

    def __init__(self, host):
        super().__init__()
        self.host = host
        self.rpcserver = None
        self.components = []
        # While the RPC server connects (forever, if the broker cannot be
        # reached): a stop then must not wait for it.
        self._server_starting = False
        # Guards rpcserver against pause_serving()/resume_serving() from
        # another thread (the proxy's heartbeat) racing a stop.
        self._serving_lock = threading.Lock()
        self._stopping = False
        self._served_endpoints = None

    def _target(self):
        raise NotImplementedError

    def _endpoints(self):
        raise NotImplementedError

    def _components(self):
        return []

    def _server_options(self):
        """Keyword arguments of ``rpc.get_server()`` for this service."""
        return {}

    def start(self):
        super().start()
        rpc.init()
        self._stopping = False
        self._served_endpoints = self._endpoints()
        self.rpcserver = self._new_server()
        self._server_starting = True
        self.rpcserver.start()
        self._server_starting = False
        self.components = self._components()
        for component in self.components:
            component.start()
        LOG.info('%(service)s on host %(host)s serving %(target)s',
                 {'service': type(self).__name__, 'host': self.host,
                  'target': self._target()})

    def _new_server(self):
        return rpc.get_server(self._target(), self._served_endpoints,
                              **self._server_options())

    def pause_serving(self):
        """Stop taking messages until ``resume_serving()``; True if it
        was serving.

        The RPC server stops as it does at ``stop()``: the calls it has
        taken are answered, and those the broker had handed it but it had
        not taken (the prefetched ones, never acknowledged) go back to
        their queues when its connection closes, for the other servers of
        the topic. Its own per-server and fanout queues keep their
        messages until it resumes.
        """
        with self._serving_lock:
            server, self.rpcserver = self.rpcserver, None
            if server is None:
                return False
            server.stop()
            server.wait()
        return True

    def resume_serving(self):
        """Take messages again after ``pause_serving()``, with a new RPC
        server on the same endpoints; True if it was paused."""
        with self._serving_lock:
            if self._stopping or self.rpcserver is not None or \
                    self._served_endpoints is None:
                return False
            self.rpcserver = server = self._new_server()
            self._server_starting = True
        try:
            server.start()
        finally:
            self._server_starting = False
        return True

    def stop(self, graceful=True):
        self._stopping = True
        for component in reversed(self.components):
            try:
                component.stop()
            except Exception:
                LOG.exception('Failed to stop %s', component)
        if self._server_starting:
            # oslo.messaging's stop() would wait for the start, which
            # waits for the broker: the process exits without either,
            # with nothing served to drain.
            LOG.warning('%s stopped while its RPC server was still '
                        'connecting to the message broker: check '
                        'transport_url', type(self).__name__)
            self._release()
            super().stop(graceful=graceful)
            return
        with self._serving_lock:
            server, self.rpcserver = self.rpcserver, None
            if server is not None:
                try:
                    server.stop()
                    server.wait()
                except Exception:
                    LOG.exception('Failed to stop the RPC server')
        self._release()
        rpc.cleanup()
        super().stop(graceful=graceful)
        LOG.info('%s stopped', type(self).__name__)

    def _release(self):
        """Free what ``start()`` took beyond the RPC server."""


class _Worker(cotyledon.Service):
    """One worker process running ``rpc_service``.

    What oslo.service's threading launcher runs, with one difference: it
    reloads in place on SIGHUP. oslo.service 4.8's worker wrapper has no
    ``reload()``, so cotyledon's default ends the worker and forks a new
    one (every worker re-joins the liveness table and the queues, and a
    call in flight meets a stopping server); cotyledon's oslo.config glue
    defines a reloading hook for workers but never installs it.
    """

    def __init__(self, worker_id, rpc_service):
        super().__init__(worker_id)
        self.rpc_service = rpc_service

    def run(self):
        try:
            self.rpc_service.start()
            self.rpc_service.wait()
        except Exception:
            traceback.print_exc()
            sys.exit(1)

    def terminate(self):
        self.rpc_service.stop()
        metrics.forget_worker()

    def reload(self):
        LOG.info('SIGHUP: reloading the mutable options of %s',
                 type(self.rpc_service).__name__)
        CONF.mutate_config_files()
        self.rpc_service.reset()


def _reload_launcher():
    # The launcher's own copy, which later forked workers inherit.
    CONF.mutate_config_files()


def setup_reports():
    """SIGUSR2 writes a Guru Meditation Report; the handler is inherited
    by the workers forked after."""
    gmr_opts.set_defaults(CONF)
    gmr.TextGuruMeditation.setup_autorun(version, service_name=PROJECT,
                                         conf=CONF)


def launch(rpc_service, workers=1):
    """Run ``workers`` processes of ``rpc_service`` until SIGTERM."""
    service_opts.register_service_opts(CONF)
    setup_reports()
    manager = cotyledon.ServiceManager(
        graceful_shutdown_timeout=CONF.graceful_shutdown_timeout)
    manager.register_hooks(on_reload=_reload_launcher)
    manager.add(_Worker, workers, args=(rpc_service,))
    manager.run()


def make_target(topic, server=None, namespace=None, version=None):
    return messaging.Target(topic=topic, server=server, namespace=namespace,
                            version=version)
