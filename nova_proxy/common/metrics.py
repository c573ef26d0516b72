"""Prometheus metrics of our daemons, served when ``[metrics] enabled``.

``setup(daemon)`` runs once in the daemon's first process, before it forks
its workers: it empties the daemon's directory of
prometheus_client's multiprocess mode (``[metrics] directory``), defines
the metrics, and starts the HTTP endpoint there, in a thread that merges
the values every worker writes to that directory. The workers update them
through the functions below, which do nothing while metrics are off: the
code that calls them never needs to ask.

Every metric, its labels and what it answers are listed in
docs/operations.rst ("Metrics"); a test keeps that list and ``_define``
equal.
"""

import functools
import glob
import os
import re
import time

from oslo_log import log as logging

from nova_proxy import conf

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['setup', 'enabled', 'served', 'db_retry', 'db_unavailable',
           'operation', 'takeover', 'fenced_write', 'periodic_run',
           'live_proxies', 'serving_paused', 'forget_worker', 'PREFIX',
           'MetricsUnavailable']

PREFIX = 'nova_compute_proxy_'

# Seconds: a proxy's calls are short transactions (about a millisecond on
# a quiet database, docs/benchmark.rst); a compute service's steps take
# up to minutes.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

# The metrics of this process, once ``setup()`` defined them; None while
# metrics are off.
_metrics = None


class MetricsUnavailable(Exception):
    """The endpoint cannot be served (the port is taken, the directory
    cannot be written); the message says which and what to change."""


def _define(prometheus_client, registry):
    """The metrics, by short name, registered in ``registry``."""
    counter = functools.partial(prometheus_client.Counter, registry=registry)
    gauge = functools.partial(prometheus_client.Gauge, registry=registry)
    histogram = functools.partial(prometheus_client.Histogram,
                                  registry=registry)
    return {
        'info': gauge(
            PREFIX + 'build_info', 'The release this process runs (value 1).',
            ['daemon', 'release'], multiprocess_mode='max'),
        'calls': counter(
            PREFIX + 'rpc_calls',
            'RPC calls served, by method and outcome: "ok", or the name '
            'of the error the caller got.', ['method', 'outcome']),
        'latency': histogram(
            PREFIX + 'rpc_call_duration_seconds',
            'Time to serve an RPC call, by method (outcomes together).',
            ['method'], buckets=LATENCY_BUCKETS),
        'in_flight': gauge(
            PREFIX + 'rpc_calls_in_flight',
            'RPC calls being served now.', multiprocess_mode='livesum'),
        'db_retries': counter(
            PREFIX + 'db_retries',
            'Database transactions run again, by reason: "deadlock" or '
            '"connection_lost" (before the commit).', ['reason']),
        'db_unavailable': counter(
            PREFIX + 'db_unavailable',
            'Times the database could not be reached, by where: "rpc" (a '
            'call answered DatabaseUnavailable) or "background" (a '
            'heartbeat, scan or periodic task).', ['where']),
        'operations': counter(
            PREFIX + 'operations',
            'Orchestration operations reaching a status, by kind and '
            'status: pending (accepted here), done, failed, rolled_back.',
            ['kind', 'status']),
        'takeovers': counter(
            PREFIX + 'operation_takeovers',
            'Operations this proxy took, by reason: "dead_owner" (its '
            'owner stopped heartbeating) or "restart" (its own, after a '
            'restart).', ['reason']),
        'fenced': counter(
            PREFIX + 'fenced_writes',
            'Journal writes refused because another proxy had taken the '
            'operation (StaleEpoch): the old owner stops there.'),
        'periodic_runs': counter(
            PREFIX + 'periodic_runs',
            'Periodic task runs this proxy recorded, by task and result '
            '(ok, partial, error).', ['task', 'result']),
        'periodic_lag': gauge(
            PREFIX + 'periodic_lag_seconds',
            'Seconds between when a task\'s latest run here was due (the '
            'start of its period, or of this process when later) and when '
            'it began: how late the task runs.', ['task'],
            multiprocess_mode='mostrecent'),
        'live_proxies': gauge(
            PREFIX + 'live_proxies',
            'Live proxy workers this process saw at its latest heartbeat.',
            multiprocess_mode='mostrecent'),
        'serving_paused': gauge(
            PREFIX + 'serving_paused',
            'Workers of this daemon that take no calls because they '
            'cannot reach the database while other proxies are live.',
            multiprocess_mode='livesum'),
    }


def enabled():
    return _metrics is not None


def _directory(daemon):
    return CONF.metrics.directory or os.path.join(
        os.path.abspath(CONF.state_path), 'metrics', daemon)


def _empty(directory):
    """Values of an earlier run would be merged into this one's."""
    os.makedirs(directory, exist_ok=True)
    for path in glob.glob(os.path.join(directory, '*.db')):
        os.remove(path)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _LiveCollector:
    """prometheus_client's multiprocess collector, after dropping the
    live gauges of workers that died without saying so (killed, crashed):
    a dead worker's calls are not in flight any more."""

    _LIVE_FILE = re.compile(r'gauge_live\w+?_(\d+)\.db$')

    def __init__(self, directory, multiprocess):
        self.directory = directory
        self.multiprocess = multiprocess
        self.collector = multiprocess.MultiProcessCollector(None, directory)

    def collect(self):
        for path in glob.glob(os.path.join(self.directory, 'gauge_live*')):
            match = self._LIVE_FILE.search(path)
            if match and not _pid_alive(int(match.group(1))):
                self.multiprocess.mark_process_dead(int(match.group(1)),
                                                    self.directory)
        return self.collector.collect()


def setup(daemon):
    """Define the metrics and serve them, if ``[metrics] enabled``.

    Call in the daemon's first process after config is parsed and before
    any worker forks. Returns the endpoint's address ``(host, port)`` or
    None.

    :raises: MetricsUnavailable
    """
    global _metrics
    if not CONF.metrics.enabled:
        return None
    directory = _directory(daemon)
    try:
        _empty(directory)
    except OSError as e:
        raise MetricsUnavailable(
            'cannot use %s for metrics (%s): set [metrics] directory to a '
            'directory this user may write' % (directory, e.strerror))
    os.environ['PROMETHEUS_MULTIPROC_DIR'] = directory
    import prometheus_client
    from prometheus_client import multiprocess
    from prometheus_client import values
    # prometheus_client picks its value store when first imported; we
    # import it only here, after the variable is set, but a library may
    # have imported it before.
    values.ValueClass = values.get_value_class()
    registry = prometheus_client.CollectorRegistry()
    registry.register(_LiveCollector(directory, multiprocess))
    try:
        prometheus_client.start_http_server(
            CONF.metrics.port, addr=CONF.metrics.host, registry=registry)
    except OSError as e:
        raise MetricsUnavailable(
            'cannot serve metrics on %s:%s (%s): set [metrics] port to a '
            'free port, or [metrics] enabled = false'
            % (CONF.metrics.host, CONF.metrics.port, e.strerror))
    # Defined in no registry: the endpoint reads the workers' files.
    _metrics = _define(prometheus_client, None)
    from nova_proxy import version
    _metrics['info'].labels(daemon, version.release()).set(1)
    LOG.info('Serving metrics on http://%s:%s/metrics (values in %s)',
             CONF.metrics.host, CONF.metrics.port, directory)
    return CONF.metrics.host, CONF.metrics.port


def forget_worker():
    """In a worker that stops: its live gauges leave the sums."""
    if _metrics is not None:
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(os.getpid())


# -- what the code reports ----------------------------------------------

def _error_name(error):
    """The name of the error a caller gets: ``remotable`` raises
    ``ExpectedException`` around it."""
    exc_info = getattr(error, 'exc_info', None)
    if exc_info and exc_info[0] is not None:
        return exc_info[0].__name__
    return type(error).__name__


def served(method, fn):
    """``fn`` (an endpoint method wrapped by ``rpc.remotable``) counted
    and timed under ``method``."""
    @functools.wraps(fn)
    def counted(*args, **kwargs):
        if _metrics is None:
            return fn(*args, **kwargs)
        in_flight = _metrics['in_flight']
        in_flight.inc()
        started = time.monotonic()
        outcome = 'ok'
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            outcome = _error_name(e)
            if outcome == 'DatabaseUnavailable':
                db_unavailable('rpc')
            raise
        finally:
            in_flight.dec()
            _metrics['latency'].labels(method).observe(
                time.monotonic() - started)
            _metrics['calls'].labels(method, outcome).inc()
    return counted


def db_retry(reason):
    if _metrics is not None:
        _metrics['db_retries'].labels(reason).inc()


def db_unavailable(where):
    if _metrics is not None:
        _metrics['db_unavailable'].labels(where).inc()


def operation(kind, status):
    if _metrics is not None:
        _metrics['operations'].labels(kind, status).inc()


def takeover(reason):
    if _metrics is not None:
        _metrics['takeovers'].labels(reason).inc()


def fenced_write():
    if _metrics is not None:
        _metrics['fenced'].inc()


def periodic_run(task, result, lag):
    if _metrics is not None:
        _metrics['periodic_runs'].labels(task, result).inc()
        _metrics['periodic_lag'].labels(task).set(lag)


def live_proxies(count):
    if _metrics is not None:
        _metrics['live_proxies'].set(count)


def serving_paused(paused):
    if _metrics is not None:
        _metrics['serving_paused'].set(1 if paused else 0)
