"""Liveness of the proxies: one row per proxy worker in ``proxies``.

Each worker heartbeats its row every ``[proxy] heartbeat_interval`` seconds,
with the database's clock. A worker whose heartbeat is older than
``[proxy] liveness_deadline`` is dead: the orchestration engine takes over
its operations and the periodic tasks drop it from their hash ring. A
worker that stops cleanly marks its row ``stopped`` so that others react at
once instead of after the deadline.

The member name is ``<host>`` (or ``<host>/<slot>`` with several workers).
It is stable across restarts, so a restarted proxy recognises its own
unfinished operations.

The heartbeat is also how a worker learns that it lost its database. It
then stops taking messages (``RPCService.pause_serving()``) while other
proxies were live at its latest successful heartbeat, so that the broker
gives the computes' calls to them instead of to a worker that can only
answer ``DatabaseUnavailable`` (or hold them until its connection attempt
times out); it takes messages again after its next successful heartbeat.
A worker that saw no other live proxy keeps serving, answering
``DatabaseUnavailable``: nobody else would take the calls. When every
proxy loses the database at once (the database itself is down), all of
them pause and the calls wait in the broker, for the database or their
caller's timeout (docs/operations.rst, "Database outages").
"""

import fcntl
import os
import threading
import time

from oslo_log import log as logging

from nova_proxy.common import db_errors
from nova_proxy.common import metrics
from nova_proxy import conf
from nova_proxy.db.api import proxies as db_proxies

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['acquire_member_name', 'Heartbeat', 'live_members',
           'dead_members', 'heartbeat_once']


def acquire_member_name(host, workers):
    """Pick this worker's member name: the lowest free slot of this host.

    A slot is held with an exclusive lock on a file under
    ``[DEFAULT] state_path``, so it is freed by the kernel when the process
    dies, and a restarted worker takes the slot (and so the name) back.
    Returns ``(name, lock_file)``; keep the file open while alive.
    """
    directory = os.path.join(CONF.state_path, 'proxy-slots')
    os.makedirs(directory, exist_ok=True)
    for slot in range(max(workers, 1) * 4):
        path = os.path.join(directory, '%s.%d.lock' % (host, slot))
        handle = open(path, 'a+')
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        name = host if workers == 1 and slot == 0 else '%s/%d' % (host, slot)
        return name, handle
    raise RuntimeError('No free proxy worker slot for host %s' % host)


heartbeat_once = db_proxies.proxy_heartbeat


def live_members(context, deadline=None):
    """Members whose heartbeat is younger than the deadline, sorted."""
    return db_proxies.proxy_members(
        context, deadline or CONF.proxy.liveness_deadline, True)


def dead_members(context, deadline=None):
    """Members past the deadline or stopped, sorted."""
    return db_proxies.proxy_members(
        context, deadline or CONF.proxy.liveness_deadline, False)


class Heartbeat:
    """The thread that keeps this worker's liveness row fresh, and pauses
    ``service`` (an ``RPCService``; None: nothing to pause) while the
    database cannot be reached."""

    def __init__(self, context, member, host, service=None):
        self.context = context
        self.member = member
        self.host = host
        self.service = service
        self.paused_since = None
        # Live proxies other than this one at the latest heartbeat.
        self._peers = 0
        self._told_alone = False
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        heartbeat_once(self.context, self.member, self.host, starting=True)
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='proxy-heartbeat')
        self._thread.start()

    def _run(self):
        while not self._stop.wait(CONF.proxy.heartbeat_interval):
            try:
                self.beat()
            except Exception:
                # A pause or resume that failed is tried again at the
                # next heartbeat: this thread must not end.
                LOG.exception('Proxy heartbeat of %s failed', self.member)

    def beat(self):
        """One heartbeat, then pause or resume the service by its
        outcome."""
        try:
            heartbeat_once(self.context, self.member, self.host)
            members = live_members(self.context)
        except Exception as e:
            db_errors.log_failure(LOG, 'Proxy heartbeat of %s failed',
                                  self.member)
            if db_errors.is_database_unavailable(e):
                self._pause()
            return
        self._peers = sum(1 for member in members if member != self.member)
        self._told_alone = False
        metrics.live_proxies(len(members))
        self._resume()

    def _pause(self):
        if self.service is None or self.paused_since is not None or \
                self._stop.is_set():
            return
        if not self._peers:
            if not self._told_alone:
                self._told_alone = True
                LOG.warning('Proxy %s cannot reach its database and saw '
                            'no other live proxy: it keeps taking calls, '
                            'answering DatabaseUnavailable', self.member)
            return
        self.paused_since = time.monotonic()
        metrics.serving_paused(True)
        self.service.pause_serving()
        LOG.warning('Proxy %s cannot reach its database: it stopped taking '
                    'calls, which go to the %d other live proxies, until '
                    'its heartbeat succeeds again', self.member, self._peers)

    def _resume(self):
        if self.paused_since is None:
            return
        self.service.resume_serving()
        LOG.info('Proxy %s reaches its database again: taking calls again '
                 'after %.1fs', self.member,
                 time.monotonic() - self.paused_since)
        self.paused_since = None
        metrics.serving_paused(False)

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            heartbeat_once(self.context, self.member, self.host,
                           stopped=True)
        except Exception:
            LOG.warning('Could not mark proxy %s stopped', self.member)
