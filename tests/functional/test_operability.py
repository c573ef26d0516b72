"""The daemons as an operator runs them: signals, outages, bad config.

Real ``nova-compute-proxy`` / ``nova-compute-proxy-compute`` processes on
the real RabbitMQ (per-test exchange and topics, ``cluster`` fixture) and a
PostgreSQL database of their own. Times that matter to an operator (how
long a SIGTERM takes) are printed with ``-s`` and bounded loosely: the
machine is shared.
"""

import shutil
import signal
import subprocess
import threading
import time
import urllib.parse

import oslo_messaging as messaging
import pytest
import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy.common import rpc
from nova_proxy import conf
from nova_proxy import exception
from nova_proxy.proxy import rpcapi as proxy_rpcapi
from tests import databases
from tests.functional import two_proxies
from tests.functional.procs import wait_for

CONF = conf.CONF

# debug: each proxy logs "Served <method>" for every call it answers.
PROXY_OPTIONS = {'DEFAULT': {'debug': 'true'}}
COMPUTE_OPTIONS = {'compute': {'report_interval': '1',
                               'resource_update_interval': '1',
                               'sync_power_state_interval': '1'},
                   'proxy_client': {'startup_ping_timeout': '60'}}


def ctx():
    return np_context.get_admin_context()


@pytest.fixture
def pg(pg_cluster):
    engine = sa.create_engine(pg_cluster.db_url)
    yield engine
    engine.dispose()


def serving(proxy_name, timeout=60):
    """Wait until ``proxy_name`` answers on its own server queue."""
    client = rpc.get_client(messaging.Target(topic=CONF.proxy.topic,
                                             server=proxy_name,
                                             version='1.0'))
    wait_for(lambda: client.prepare(timeout=2).call(
        {}, 'ping', arg=proxy_name) == proxy_name,
        timeout=timeout, message='%s serving' % proxy_name)


def start_proxy_and_compute(cluster, extra=None):
    """proxy-a, then compute cmp-1 once proxy-a serves; both running."""
    extra = extra or {}
    proxy = cluster.start('proxy', 'proxy-a', extra=extra)
    serving('proxy-a')
    compute = cluster.start('compute', 'cmp-1',
                            extra=dict(COMPUTE_OPTIONS, **extra))
    wait_for(lambda: 'Compute service cmp-1 started' in compute.log(),
             timeout=60, message='the compute to start')
    return proxy, compute


def report_count(engine):
    """The compute cmp-1's heartbeat counter, read from the database."""
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT report_count FROM services WHERE host = 'cmp-1'")
        ).scalar()


def proxy_row(engine, member):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            'SELECT stopped, heartbeat_at FROM proxies WHERE member = :m'),
            {'m': member}).one()


def lock_waiters(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = "
            "current_database() AND wait_event_type = 'Lock'")).scalar()


def exit_time(proc, since, timeout=60):
    proc.popen.wait(timeout=timeout)
    return time.monotonic() - since


# -- 1. SIGTERM of a proxy with calls in flight ---------------------------

class Stream:
    """Threads that each update their own instance as fast as answers
    come, remembering the last value acknowledged and every error."""

    def __init__(self, api, uuids):
        self.api = api
        self.uuids = uuids
        self.acked = {u: None for u in uuids}
        self.answered = 0
        self.errors = []
        self.slow = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(u,))
                         for u in uuids]

    def _run(self, uuid):
        n = 0
        while not self._stop.is_set():
            n += 1
            name = 'n-%d' % n
            started = time.monotonic()
            try:
                # With an expected state the shim never retries the call:
                # a call lost on the way is an error here, not a retry.
                got = self.api.instance_update(ctx(), uuid, {
                    'display_name': name, 'expected_task_state': None})
                assert got['display_name'] == name
                took = time.monotonic() - started
                if took > 5:
                    with self._lock:
                        self.slow.append((time.strftime('%H:%M:%S'),
                                          round(took, 1)))
            except Exception as e:
                with self._lock:
                    self.errors.append(repr(e))
                continue
            with self._lock:
                self.acked[uuid] = name
                self.answered += 1

    def start(self):
        for t in self._threads:
            t.start()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=120)


def test_sigterm_drains_in_flight_calls_and_loses_none(cluster, pg):
    CONF.set_override('rpc_timeout', 60, group='proxy_client')
    pa = cluster.start('proxy', 'proxy-a', extra=PROXY_OPTIONS)
    pb = cluster.start('proxy', 'proxy-b', extra=PROXY_OPTIONS)
    serving('proxy-a')
    serving('proxy-b')
    api = proxy_rpcapi.ProxyAPI()
    uuids = [api.instance_create(ctx(), {'host': 'cmp-1'})['uuid']
             for _ in range(4)]
    locked = api.instance_create(ctx(), {'host': 'cmp-1'})['uuid']

    stream = Stream(api, uuids)
    stream.start()
    try:
        wait_for(lambda: stream.answered >= 40 and
                 pa.log().count('Served instance_update') > 0,
                 timeout=60, message='the stream to reach both proxies')

        # Calls in flight on proxy-a: blocked on a row lock we hold.
        to_a = rpc.get_client(messaging.Target(
            topic=CONF.proxy.topic, server='proxy-a', version='1.0'),
            timeout=60)
        in_flight = {}

        def call_a(j):
            try:
                in_flight[j] = to_a.call(
                    ctx(), 'instance_update', instance_uuid=locked,
                    values={'display_name': 'in-flight-%d' % j})
            except Exception as e:
                in_flight[j] = e

        with pg.connect() as conn:
            trans = conn.begin()
            conn.execute(sa.text('SELECT id FROM instances WHERE uuid = :u '
                                 'FOR UPDATE'), {'u': locked})
            callers = [threading.Thread(target=call_a, args=(j,))
                       for j in range(3)]
            for t in callers:
                t.start()
            wait_for(lambda: lock_waiters(pg) >= 3, timeout=30,
                     message='three calls blocked in proxy-a')
            sigterm_at = time.monotonic()
            pa.signal(signal.SIGTERM)
            # proxy-a is stopping (its liveness row says so) while its
            # three calls are still in flight.
            wait_for(lambda: proxy_row(pg, 'proxy-a').stopped, timeout=30,
                     message='proxy-a marked stopped')
            assert pa.alive() and not in_flight
            released_at = time.monotonic()
            trans.commit()
        after_release = exit_time(pa, released_at)
        after_sigterm = time.monotonic() - sigterm_at
        for t in callers:
            t.join(timeout=60)
        answered_before_exit = stream.answered
        wait_for(lambda: stream.answered >= answered_before_exit + 40,
                 timeout=60, message='the stream to go on through proxy-b')
    finally:
        stream.stop()
    print('\nproxy-a: exit %.2fs after SIGTERM, %.2fs after its in-flight '
          'calls could finish; stream: %d calls answered, %d errors'
          % (after_sigterm, after_release, stream.answered,
             len(stream.errors)))
    print('calls slower than 5 s (answered at, seconds): %s' % stream.slow)

    assert pa.popen.returncode == 0, pa.log()[-3000:]
    assert after_release < 15
    # Every in-flight call was answered by proxy-a, with its own update.
    assert sorted(r['display_name'] for r in in_flight.values()) == [
        'in-flight-0', 'in-flight-1', 'in-flight-2'], in_flight
    # The steady stream: every call answered, none lost or repeated.
    assert stream.errors == []
    db_api_names = {u: api.instance_get_by_uuid(ctx(), u)['display_name']
                    for u in uuids}
    assert db_api_names == stream.acked
    assert proxy_row(pg, 'proxy-a').stopped
    assert 'ProxyService stopped' in pa.log()
    assert 'Traceback' not in pa.log()
    assert pb.alive()


# -- 2. The compute stops promptly, even with no proxy answering --------

def test_compute_stops_promptly_when_its_proxy_is_gone(cluster, pg):
    pa, compute = start_proxy_and_compute(cluster)

    def last_heartbeat():
        with pg.connect() as conn:
            return conn.execute(sa.text(
                "SELECT last_seen_up, (now() AT TIME ZONE 'utc') FROM "
                "services WHERE host = 'cmp-1'")).one()

    wait_for(lambda: last_heartbeat()[0] is not None, timeout=30,
             message='a first heartbeat')
    pa.stop(timeout=30)
    assert pa.popen.returncode == 0
    # The compute's heartbeat (every second) is now stuck in a call that
    # no proxy answers: its record stops moving.
    wait_for(lambda: (lambda r: (r[1] - r[0]).total_seconds() > 3)(
        last_heartbeat()), timeout=30, message='the heartbeat to hang')
    started = time.monotonic()
    compute.signal(signal.SIGTERM)
    took = exit_time(compute, started)
    print('\ncompute: exit %.2fs after SIGTERM with no proxy' % took)
    assert compute.popen.returncode == 0, compute.log()[-3000:]
    assert took < 10
    assert 'ComputeService stopped' in compute.log()


# -- 5. A paused proxy strands at most the prefetch count ---------------

def test_a_paused_proxy_strands_at_most_prefetch_count_calls(cluster, pg):
    """With oslo.messaging's default (unlimited), the broker keeps handing
    a SIGSTOPped proxy its round-robin share of every call: half of them
    with two proxies. Our default bounds that to ``PREFETCH_COUNT``, and
    what it stranded is answered, not lost, once it resumes.

    Counted, not timed: a call is stranded if it is still unanswered when
    every other one has been (a call timeout would also count a call the
    live proxy answered late on a loaded machine, as CI once did)."""
    calls = 3 * rpc.PREFETCH_COUNT
    pa = cluster.start('proxy', 'proxy-a')
    cluster.start('proxy', 'proxy-b')
    serving('proxy-a')
    serving('proxy-b')
    client = rpc.get_client(messaging.Target(topic=CONF.proxy.topic,
                                             version='1.0'), timeout=120)
    outcomes = []

    def ping(i):
        try:
            outcomes.append(client.call({}, 'ping', arg=i) == i)
        except messaging.MessagingException as e:
            outcomes.append(e)

    pa.signal(signal.SIGSTOP)
    try:
        threads = [threading.Thread(target=ping, args=(i,))
                   for i in range(calls)]
        for t in threads:
            t.start()
        # Unlimited, proxy-a would hold half of them and this would not
        # be reached.
        wait_for(lambda: len(outcomes) >= calls - rpc.PREFETCH_COUNT,
                 timeout=90, message='proxy-b to answer all but %d calls'
                 % rpc.PREFETCH_COUNT)
        # Give a late answer of proxy-b the time to count as answered.
        time.sleep(1)
        stranded = calls - len(outcomes)
    finally:
        pa.signal(signal.SIGCONT)
    for t in threads:
        t.join(timeout=120)
    print('\nproxy-a paused: %d of %d calls waited for it (prefetch %d)'
          % (stranded, calls, rpc.PREFETCH_COUNT))
    assert 0 < stranded <= rpc.PREFETCH_COUNT
    # Nothing lost: proxy-a answers what it held once it resumes.
    assert outcomes == [True] * calls, outcomes


# -- 3. The broker drops every connection (of our own vhost) ------------

def _rabbitmqctl(*args):
    return subprocess.run(('rabbitmqctl', '-q') + args, check=True,
                          timeout=120, capture_output=True,
                          text=True).stdout


def close_vhost_connections(vhost):
    """Close the broker's connections of ``vhost`` only: everything else
    on this shared broker is left alone. Returns how many."""
    pids = [line.split('\t')[1] for line in
            _rabbitmqctl('list_connections', 'vhost', 'pid').splitlines()
            if line.split('\t')[0] == vhost]
    for pid in pids:
        _rabbitmqctl('close_connection', pid, 'operability test')
    return len(pids)


@pytest.mark.skipif(shutil.which('rabbitmqctl') is None,
                    reason='needs rabbitmqctl for a private vhost')
def test_broker_dropping_connections_is_survived(cluster, pg):
    with two_proxies.private_broker() as (url, _):
        vhost = urllib.parse.urlsplit(url).path.lstrip('/')
        CONF.set_override('transport_url', url)
        rpc.cleanup()
        pa, compute = start_proxy_and_compute(
            cluster, extra={'DEFAULT': {'transport_url': url}})
        closed = close_vhost_connections(vhost)
        assert closed >= 3  # proxy, compute and this test, at least
        before = report_count(pg)
        # Both daemons reconnect by themselves: the proxy answers, the
        # compute's heartbeats reach the database again.
        api = proxy_rpcapi.ProxyAPI(timeout=10)
        wait_for(lambda: api.ping(ctx(), 'back') == 'back', timeout=60,
                 message='the proxy to answer again')
        wait_for(lambda: report_count(pg) > before + 1, timeout=60,
                 message='compute heartbeats to resume')
        print('\nbroker closed %d connections of vhost %s; both daemons '
              'reconnected' % (closed, vhost))
        assert pa.alive() and compute.alive()
        rpc.cleanup()
        for proc in reversed(cluster.processes):
            proc.stop(timeout=10)


# -- 4. Database outage seen from a compute --------------------------------

def _set_connections(url, allowed):
    name = sa.engine.make_url(url).database
    admin = sa.create_engine(
        '%s/postgres' % databases.SERVER_URLS['postgresql'],
        isolation_level='AUTOCOMMIT')
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql('ALTER DATABASE %s ALLOW_CONNECTIONS %s'
                                 % (name, 'true' if allowed else 'false'))
            if not allowed:
                conn.execute(sa.text(
                    'SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                    'WHERE datname = :d AND pid <> pg_backend_pid()'),
                    {'d': name})
    finally:
        admin.dispose()


def test_database_outage_gives_a_named_error_and_recovers(cluster, pg):
    pa, compute = start_proxy_and_compute(cluster)
    api = proxy_rpcapi.ProxyAPI(timeout=30)
    compute_ctx = np_context.get_compute_context('cmp-1')
    uuid = api.instance_create(compute_ctx, {'host': 'cmp-1'})['uuid']
    pg.dispose()

    _set_connections(cluster.db_url, allowed=False)
    try:
        with pytest.raises(exception.DatabaseUnavailable) as e:
            api.instance_get_by_uuid(compute_ctx, uuid)
        assert e.value.kwargs['method'] == 'instance_get_by_uuid'
        assert 'not currently accepting connections' in \
            e.value.kwargs['reason']
        # The daemon keeps serving what needs no database.
        assert api.ping(compute_ctx, 'still-there') == 'still-there'
        # The compute's own heartbeat meets the same named error.
        wait_for(lambda: 'DatabaseUnavailable' in compute.log(), timeout=30,
                 message='the compute to see DatabaseUnavailable')
    finally:
        _set_connections(cluster.db_url, allowed=True)
    # Back: the next calls are served, with no restart.
    got = wait_for(lambda: api.instance_get_by_uuid(compute_ctx, uuid),
                   timeout=30, message='the proxy to recover')
    assert got['uuid'] == uuid
    before = report_count(pg)
    wait_for(lambda: report_count(pg) > before, timeout=30,
             message='compute heartbeats to resume')
    log = pa.log()
    assert 'Database unavailable while serving instance_get_by_uuid' in log
    assert 'while serving instance_get_by_uuid' not in log.replace(
        'Database unavailable while serving instance_get_by_uuid', '')
    assert pa.alive() and compute.alive()


def test_a_database_outage_of_every_proxy_holds_calls_until_it_ends(
        cluster, pg):
    """With two proxies, each stops taking calls when it loses the
    database (the other was live): a call made during the outage waits in
    the broker and is answered once the database is back, instead of
    failing with DatabaseUnavailable. (A proxy that saw no other live
    proxy keeps answering DatabaseUnavailable: the test above.)"""
    pa = cluster.start('proxy', 'proxy-a')
    pb = cluster.start('proxy', 'proxy-b')
    serving('proxy-a')
    serving('proxy-b')
    api = proxy_rpcapi.ProxyAPI(timeout=60)
    compute_ctx = np_context.get_compute_context('cmp-1')
    uuid = api.instance_create(compute_ctx, {'host': 'cmp-1'})['uuid']
    pg.dispose()
    # Each has seen the other live at a heartbeat (every 2 s).
    time.sleep(2 * CONF.proxy.heartbeat_interval + 1)
    paused = 'cannot reach its database: it stopped taking calls'
    resumed = 'reaches its database again: taking calls again'
    answers = []
    _set_connections(cluster.db_url, allowed=False)
    try:
        for proc in (pa, pb):
            wait_for(lambda: paused in proc.log(), timeout=60,
                     message='%s to pause' % proc.name)
        caller = threading.Thread(target=lambda: answers.append(
            api.instance_get_by_uuid(compute_ctx, uuid)))
        caller.start()
        time.sleep(3)
        assert caller.is_alive() and answers == []
    finally:
        _set_connections(cluster.db_url, allowed=True)
    caller.join(timeout=60)
    assert [a['uuid'] for a in answers] == [uuid]
    for proc in (pa, pb):
        wait_for(lambda: resumed in proc.log(), timeout=60,
                 message='%s to resume' % proc.name)
        assert proc.log().count(paused) == 1
        assert 'while serving instance_get_by_uuid' not in proc.log()
    assert pa.alive() and pb.alive()


# -- 6. Bad configuration fails fast, with one clear line ----------------

def _start_and_wait(cluster, kind, name, extra=None, timeout=60):
    proc = cluster.start(kind, name, extra=extra)
    started = time.monotonic()
    proc.popen.wait(timeout=timeout)
    took = time.monotonic() - started
    errors = [line for line in proc.log().splitlines() if ' ERROR ' in line]
    return proc, took, errors


@pytest.mark.parametrize('case', ['unreachable', 'no-such-database',
                                  'no-tables'])
def test_proxy_with_an_unusable_database_exits_at_once(
        cluster, tmp_path, case):
    server = databases.SERVER_URLS['postgresql']
    empty = None
    if case == 'unreachable':
        cluster.db_url = 'postgresql+psycopg2://postgres:secret@127.0.0.1:1/x'
        expected = 'cannot connect to the database'
    elif case == 'no-such-database':
        cluster.db_url = '%s/np_missing_%s' % (server, tmp_path.name[-8:])
        expected = 'cannot connect to the database'
    else:
        empty = cluster.db_url = databases.create_database('postgresql',
                                                           tmp_path)
        expected = 'the database has no tables: run ' \
                   '"nova-compute-proxy-manage db sync"'
    try:
        proc, took, errors = _start_and_wait(cluster, 'proxy', 'proxy-a')
    finally:
        if empty:
            databases.drop_database(empty)
    print('\nproxy with %s database: exit %d after %.2fs: %s'
          % (case, proc.popen.returncode, took, errors))
    assert proc.popen.returncode == 1
    assert len(errors) == 1 and expected in errors[0], proc.log()
    assert 'Cannot start: Database' in errors[0]
    assert 'secret' not in proc.log()
    assert 'Traceback' not in proc.log()


def test_compute_with_no_proxy_exits_with_a_clear_line(cluster):
    proc, took, errors = _start_and_wait(
        cluster, 'compute', 'cmp-1',
        extra={'proxy_client': {'startup_ping_timeout': '3'}})
    print('\ncompute with no proxy: exit %d after %.2fs: %s'
          % (proc.popen.returncode, took, errors))
    assert proc.popen.returncode == 1
    assert 'Traceback' not in proc.log()
    assert len(errors) == 1, errors
    assert 'Cannot start: no proxy answered ping on topic %s' % (
        CONF.proxy.topic) in errors[0]
