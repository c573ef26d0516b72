"""The component that runs the periodic tasks in each proxy worker.

Each enabled task has its own thread (a slow purge never delays the others)
that wakes up on the database's clock:

* **A global task** claims ``(task, period, '*')`` at its first wake-up in
  each period; the proxy whose insert commits runs it and records the run,
  the others sleep until the next period.
* **A per-item task** sweeps: it lists the items, keeps those the hash ring
  of the live proxies gives to this proxy, skips those already claimed in
  this period, and claims the others ``CLAIM_BATCH`` at a time, handling
  each batch it won before claiming the next. It sweeps at the
  start of each period and again within the period whenever the live
  members change (a proxy died or joined) or half a period has passed since
  the last sweep. So when a proxy dies mid-period, the proxies that inherit
  its share of the ring handle, in that same period, the items it had not
  claimed, as soon as it drops out of the membership
  (``[proxy] liveness_deadline``); items it had claimed are not handled
  twice. A proxy that does not see itself among the live members acts on
  no item.

Each run is recorded in ``periodic_runs`` (task, period, proxy, items
handled, result, details); a per-item sweep that handled nothing records
nothing.
"""

import threading
import time

from oslo_log import log as logging

from nova_proxy.common import context as np_context
from nova_proxy.common import db_errors
from nova_proxy.common import metrics
from nova_proxy import conf
from nova_proxy.periodic import claims
from nova_proxy.periodic import clock
from nova_proxy.periodic import ring as np_ring
from nova_proxy.periodic import tasks as np_tasks

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['Runner', 'TaskLoop']

# Bounds of a per-item task's wake-up interval within a period, seconds.
MIN_TICK = 0.1
# Wait after an unexpected error (a database outage) before trying again.
ERROR_RETRY = 1.0
# Wake-up just after a period boundary, so the database's clock is past it.
BOUNDARY_MARGIN = 0.02
# Items claimed per statement, then handled, before the next claim: a proxy
# that dies leaves at most this many claimed items unhandled in a period.
CLAIM_BATCH = 25


class TaskLoop:
    """One task's thread in one proxy worker."""

    def __init__(self, task, member, stop_event, skew=0.0):
        self.task = task
        self.member = member
        self.skew = skew
        self._stop = stop_event
        self._thread = None
        self.context = np_context.get_admin_context()
        # Per-item state within the current period.
        self.period = None
        self.swept_members = None
        self.swept_at = None
        self.sweeps = 0
        self.offset = None
        # The database's time at this loop's first wake-up: no run was
        # due here before it.
        self.first_tick = None

    # -- thread -----------------------------------------------------------

    def start(self):
        self._thread = threading.Thread(
            target=self._run, daemon=True,
            name='periodic-%s' % self.task.name)
        self._thread.start()

    def join(self, timeout):
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self):
        while not self._stop.is_set():
            try:
                wait = self.tick()
            except Exception:
                db_errors.log_failure(LOG, 'Periodic task %s failed on %s',
                                      self.task.name, self.member)
                wait = ERROR_RETRY
            self._stop.wait(wait)

    # -- one wake-up ------------------------------------------------------

    def tick(self):
        """Do what is due now; returns seconds to wait before the next
        wake-up."""
        interval = self.task.interval
        now = clock.db_now(self.context)
        if self.first_tick is None:
            self.first_tick = now
        # Read right after the database's clock, so that the run records
        # show this proxy's skew, not the time the run took.
        self.offset = round((clock.local_now(self.skew) - now)
                            .total_seconds(), 3)
        period = clock.period_of(now, interval)
        to_boundary = (clock.to_unix(clock.period_start(period + 1,
                                                        interval))
                       - clock.to_unix(now)) + BOUNDARY_MARGIN
        if self.task.is_global:
            if period != self.period:
                self.run_global(now, period)
                # Only once the claim is decided: one the database failed
                # is tried again at the next wake-up, not given up for
                # the whole period.
                self.period = period
            return max(to_boundary, MIN_TICK)
        members = np_ring.current_members(self.context)
        if period != self.period:
            self.period, self.swept_members, self.swept_at = period, None, None
        half = interval / 2.0
        if (self.swept_members != members or self.swept_at is None or
                time.monotonic() - self.swept_at >= half):
            self.sweep(now, period, members)
        tick = max(MIN_TICK, min(interval / 4.0,
                                 CONF.proxy.heartbeat_interval))
        return max(MIN_TICK, min(tick, to_boundary))

    def run_global(self, now, period):
        name = self.task.name
        if not claims.claim(self.context, name, period, claims.GLOBAL_ITEM,
                            self.member):
            return False
        started = time.monotonic()
        details = {'clock_offset': self.offset}
        try:
            handled, task_details = self.task.run(self.context, now)
            details.update(task_details or {})
            result = claims.RESULT_OK
        except Exception as e:
            LOG.exception('Periodic task %s failed in period %s', name,
                          period)
            handled, result = [], claims.RESULT_ERROR
            details['error'] = '%s: %s' % (type(e).__name__, e)
        claims.record_run(self.context, name, period, self.member, now,
                          handled, result, details,
                          duration=time.monotonic() - started)
        self._count(result, now, period)
        return True

    def sweep(self, now, period, members):
        """Claim and handle this proxy's unclaimed items of ``period``;
        returns the items handled."""
        name = self.task.name
        # A sweep that overruns its period finishes it: cutting it short
        # would leave the rest of its items unhandled in that period.
        started = time.monotonic()
        self.swept_members = members
        self.swept_at = started
        ring = np_ring.Ring(members)
        if self.member not in ring.members:
            LOG.info('Proxy %s is not among the live members; leaving the '
                     'items of %s to the others', self.member, name)
            return []
        try:
            mine = ring.mine(self.member,
                             self.task.list_items(self.context, now))
            taken = claims.claimed_items(self.context, name,
                                         period) if mine else ()
        except Exception:
            # Not swept: the next wake-up tries again.
            self.swept_at = None
            raise
        if not mine:
            return []
        todo = [item for item in mine if item not in taken]
        handled, outcomes, errors = [], {}, {}
        failure = None
        try:
            for start in range(0, len(todo), CLAIM_BATCH):
                if self._stop.is_set():
                    # The rest is the others', within this period.
                    break
                won = claims.claim_many(self.context, name, period,
                                        todo[start:start + CLAIM_BATCH],
                                        self.member)
                handled.extend(won)
                done, failed = self._handle(won, now)
                outcomes.update(done)
                errors.update(failed)
        except Exception as e:
            # A claim failed (the database went away): record what was
            # done; the items not claimed are still free for this period,
            # and the next wake-up sweeps again for them.
            LOG.exception('Sweep of %s in period %s stopped', name, period)
            failure = '%s: %s' % (type(e).__name__, e)
            self.swept_at = None
        if not handled and failure is None:
            return handled
        self.sweeps += 1
        if not errors and failure is None:
            result = claims.RESULT_OK
        elif len(errors) < len(handled) or (failure and handled):
            result = claims.RESULT_PARTIAL
        else:
            result = claims.RESULT_ERROR
        details = {'outcomes': outcomes, 'members': list(members),
                   'clock_offset': self.offset}
        if errors:
            details['errors'] = errors
        if failure:
            details['error'] = failure
        claims.record_run(self.context, name, period, self.member, now,
                          handled, result, details,
                          duration=time.monotonic() - started)
        self._count(result, now, period)
        return handled

    def _count(self, result, now, period):
        """The run in the metrics, with how late it began after it was
        due: the start of its period, or of this loop when later (by the
        database's clock)."""
        due = clock.period_start(period, self.task.interval)
        if self.first_tick is not None and self.first_tick > due:
            due = self.first_tick
        metrics.periodic_run(self.task.name, result,
                             clock.to_unix(now) - clock.to_unix(due))

    def _handle(self, items, now):
        if not items:
            return {}, {}
        try:
            return self.task.handle_items(self.context, items, now)
        except Exception as e:
            LOG.exception('Periodic task %s failed on %d items',
                          self.task.name, len(items))
            message = '%s: %s' % (type(e).__name__, e)
            return {}, {item: message for item in items}


class Runner:
    """Starts a ``TaskLoop`` per enabled task; a component of
    ``ProxyService`` (``start()``/``stop()``), started after the heartbeat
    so that this proxy is a live member when it first sweeps."""

    def __init__(self, member, tasks=None):
        self.member = member
        self._tasks = tasks
        self._stop = threading.Event()
        self.loops = []

    def start(self):
        skew = clock.read_skew()
        if skew:
            LOG.warning('Test-only clock skew of %ss applied to proxy %s '
                        '(%s)', skew, self.member, clock.SKEW_ENV)
        tasks = self._tasks if self._tasks is not None else \
            np_tasks.all_tasks(member=self.member)
        self._stop.clear()
        self.loops = [TaskLoop(task, self.member, self._stop, skew)
                      for task in tasks if task.enabled]
        for loop in self.loops:
            loop.start()
        LOG.info('Periodic tasks of %s: %s', self.member,
                 ', '.join('%s every %ss' % (loop.task.name,
                                             loop.task.interval)
                           for loop in self.loops) or 'none')

    def stop(self, timeout=10):
        """Finish the item in hand, then stop; unclaimed items are left to
        the other proxies."""
        self._stop.set()
        end = time.monotonic() + timeout
        for loop in self.loops:
            loop.join(max(0.0, end - time.monotonic()))
