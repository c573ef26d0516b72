"""The orchestration engine of one proxy worker.

A component of the proxy service (``start()``/``stop()``): a thread pool of
``[orchestration] max_concurrent_operations`` threads driving operations
this worker owns, and a scanner thread that every ``poll_interval``:

* takes back, at once, the unfinished operations that carry this worker's
  own member name (it was restarted: the earlier incarnation is dead, its
  slot lock is free; the take bumps the epoch so that it is fenced anyway);
* takes over operations whose owner is not among the live proxies
  (heartbeat older than ``[proxy] liveness_deadline``, or stopped), with
  the journal's compare-and-swap: exactly one live proxy wins each.

Every take counts an attempt; ``runner.Runner`` rolls an operation back
instead of resuming it once attempts pass ``max_attempts``.

``takeover_once()`` is public so that a periodic task may drive the
takeover too; it is safe to call from several threads and proxies.
"""

import concurrent.futures
import contextlib
import threading

from oslo_log import log as logging

from nova_proxy.common import context as np_context
from nova_proxy.common import db_errors
from nova_proxy.common import metrics
from nova_proxy.common import states
from nova_proxy import conf
from nova_proxy.orchestration import hooks as test_hooks
from nova_proxy.orchestration import journal
from nova_proxy.orchestration import runner as op_runner
from nova_proxy.proxy import liveness

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['Engine']


class Engine:
    """Drives the operations of proxy worker ``member``.

    :param member: this worker's liveness member name (the owner name)
    :param host: this proxy's host
    :param compute_api: the compute client; built in ``start()`` when
        None (tests pass a fake)
    """

    def __init__(self, member, host, compute_api=None):
        self.member = member
        self.host = host
        self._compute_api = compute_api
        self._lock = threading.Lock()
        self._running = set()
        self._reserved = set()
        self._stop = threading.Event()
        self._pool = None
        self._scanner = None
        self.context = None
        self.runner = None

    # -- component --------------------------------------------------------

    def start(self):
        self.context = np_context.get_admin_context()
        if self._compute_api is None:
            from nova_proxy.compute import rpcapi as compute_rpcapi
            self._compute_api = compute_rpcapi.ComputeAPI()
        self._stop.clear()
        self.runner = op_runner.Runner(self.context, self._compute_api,
                                       test_hooks.StepHooks(), self._stop)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=CONF.orchestration.max_concurrent_operations,
            thread_name_prefix='operation')
        self._scanner = threading.Thread(target=self._scan_loop, daemon=True,
                                         name='orchestration-scanner')
        self._scanner.start()
        LOG.info('Orchestration engine of %s started', self.member)

    def stop(self):
        self._stop.set()
        if self._scanner is not None:
            self._scanner.join(timeout=10)
        if self._pool is not None:
            # Runners stop at their next step boundary or call attempt.
            self._pool.shutdown(wait=True)
        LOG.info('Orchestration engine of %s stopped', self.member)

    # -- operations accepted here -----------------------------------------

    @contextlib.contextmanager
    def accepting(self, operation_id):
        """Keep the scanner off ``operation_id`` while the manager creates
        it, so that a brand new operation is not "taken back"."""
        with self._lock:
            self._reserved.add(operation_id)
        try:
            yield
        finally:
            with self._lock:
                self._reserved.discard(operation_id)

    def submit(self, record):
        """Start driving ``record`` (owned by us) if not already."""
        if record['owner'] != self.member or \
                record['status'] not in states.OP_ACTIVE_STATUSES:
            return False
        with self._lock:
            if record['id'] in self._running or self._pool is None or \
                    self._stop.is_set():
                return False
            self._running.add(record['id'])
        try:
            self._pool.submit(self._drive, record)
        except RuntimeError:
            # The pool is shutting down.
            with self._lock:
                self._running.discard(record['id'])
            return False
        return True

    def busy(self):
        with self._lock:
            return len(self._running)

    def _drive(self, record):
        try:
            self.runner.run(record)
        except Exception:
            # A database outage or failover is one warning line (seen in
            # tests/functional/test_db_failover.py and test_partitions.py);
            # anything else comes with its traceback.
            db_errors.log_failure(
                LOG, 'Driving operation %s failed; it will be taken back',
                record['id'])
        finally:
            with self._lock:
                self._running.discard(record['id'])

    # -- takeover ---------------------------------------------------------

    def _scan_loop(self):
        while not self._stop.is_set():
            try:
                self.takeover_once()
            except Exception:
                db_errors.log_failure(LOG, 'Orchestration scan failed')
            self._stop.wait(CONF.orchestration.poll_interval)

    def takeover_once(self):
        """Take back our own unfinished operations and take over those of
        dead proxies, as far as the pool has room. Returns the ids
        taken."""
        if self._stop.is_set() or self._pool is None:
            return []
        room = CONF.orchestration.max_concurrent_operations - self.busy()
        if room <= 0:
            return []
        live = liveness.live_members(self.context)
        with self._lock:
            exclude = self._running | self._reserved
        taken = []
        for op_id, owner, epoch in journal.candidates(
                self.context, self.member, live, exclude=exclude,
                limit=room):
            # Asked again now: an operation accepted here after ``exclude``
            # was read is ours and driven, not to be taken back. Any
            # operation the query saw was reserved before it was created,
            # and stays reserved until it runs.
            with self._lock:
                if op_id in self._running or op_id in self._reserved:
                    continue
            record = journal.take(self.context, op_id, owner, epoch,
                                  self.member)
            if record is None:
                continue
            metrics.takeover('restart' if owner == self.member
                             else 'dead_owner')
            LOG.warning('Took operation %(id)s (%(kind)s of %(uuid)s) from '
                        '%(owner)s at epoch %(epoch)s, attempt %(n)s',
                        {'id': op_id, 'kind': record['kind'],
                         'uuid': record['instance_uuid'], 'owner': owner,
                         'epoch': record['epoch'],
                         'n': record['attempts']})
            if self.submit(record):
                taken.append(op_id)
        return taken
