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
"""

import fcntl
import os
import threading

from oslo_log import log as logging

from nova_proxy.common import db_errors
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
    """The thread that keeps this worker's liveness row fresh."""

    def __init__(self, context, member, host):
        self.context = context
        self.member = member
        self.host = host
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        heartbeat_once(self.context, self.member, self.host)
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='proxy-heartbeat')
        self._thread.start()

    def _run(self):
        while not self._stop.wait(CONF.proxy.heartbeat_interval):
            try:
                heartbeat_once(self.context, self.member, self.host)
            except Exception:
                db_errors.log_failure(LOG, 'Proxy heartbeat of %s failed',
                                      self.member)

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            heartbeat_once(self.context, self.member, self.host,
                           stopped=True)
        except Exception:
            LOG.warning('Could not mark proxy %s stopped', self.member)
