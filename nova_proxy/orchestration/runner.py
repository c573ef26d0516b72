"""Drive one operation through its flow, as its owner at one epoch.

For each step not yet done, the runner:

1. journals the step as started (fenced), with the step's ``before``
   database writes in the same transaction (skipped on a resume where the
   step was already started: they were committed with it);
2. re-checks its epoch (a fenced write) right before every attempt of the
   compute call, and waits for the compute host while it is down, up to
   ``[orchestration] compute_wait_deadline``;
3. calls the step on the compute host with the operation id: the compute's
   ledger keyed by ``(operation_id, step)`` makes a repeated call return
   the first result without applying the effect again;
4. journals the step as done (fenced), with the step's ``after`` writes in
   the same transaction.

A step that fails (the compute raised, or stayed down past the deadline)
turns the operation into a rollback: the flow's undo steps run the same way
(journaled in ``state['undone']``), then the final writes and the status
``rolled_back`` (``failed`` for kinds that have nothing to undo). A rollback
step that cannot reach its host is recorded and skipped, so that the
instance is never left in a transitional state.

``StaleEpoch`` anywhere means another proxy owns the operation now: the
runner stops at once, having written nothing more.
"""

import copy
import threading
import time

from oslo_db import exception as db_exc
from oslo_log import log as logging
import oslo_messaging as messaging
import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy.common import metrics
from nova_proxy.common import states
from nova_proxy.compute import rpcapi as compute_rpcapi
from nova_proxy import conf
from nova_proxy import exception
from nova_proxy.db import api as db_api
from nova_proxy.db import session as db_session
from nova_proxy.orchestration import flows
from nova_proxy.orchestration import journal
from nova_proxy.orchestration import scheduler

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['Runner', 'Stopping', 'migration_percent']

# Rollbacks interrupted this many times beyond max_attempts give up.
EXTRA_ROLLBACK_ATTEMPTS = 2
PROGRESS_POLL_SECONDS = 0.5


class Stopping(Exception):
    """The engine is stopping: leave the operation to a live proxy."""


# The database itself failing (down, failover) is no reason to undo a
# migration: the runner stops, and the engine takes the operation back
# and resumes it (one attempt more) once the database answers again.
DATABASE_OUTAGES = (db_exc.DBConnectionError, db_exc.DBDeadlock,
                    sa.exc.OperationalError, sa.exc.InterfaceError)
# The compute host (or the broker) did not take or answer the call, or
# the compute could not reach the database through the proxies (what its
# step wrote is then unknown): wait, up to the deadline, and call again
# (steps are idempotent), then the step fails.
UNANSWERED = (messaging.MessagingTimeout, messaging.MessageDeliveryFailure,
              exception.DatabaseUnavailable)


def migration_percent(migration):
    """How far a migration's disk copy is, in percent: nova's
    ``disk_processed`` of ``disk_total`` when the compute reports them,
    else the ``progress`` the 1.x compute calls write."""
    total = migration.get('disk_total')
    if total:
        return min(100, 100 * (migration.get('disk_processed') or 0) // total)
    return migration.get('progress') or 0


def _error_text(error):
    if isinstance(error, exception.NovaProxyException):
        return '%s: %s' % (type(error).__name__, error.format_message())
    return '%s: %s' % (type(error).__name__, error)


class Runner:
    """Drives operations; one per engine, shared by its threads.

    :param compute_api: the compute service client
        (``nova_proxy.compute.rpcapi.ComputeAPI`` or a fake in tests)
    :param hooks: ``hooks.StepHooks`` (test hooks; empty in production)
    :param stop_event: set when the engine stops
    """

    def __init__(self, context, compute_api, hooks, stop_event):
        self.context = context
        self.compute = compute_api
        self.hooks = hooks
        self.stop_event = stop_event

    # -- entry ------------------------------------------------------------

    def run(self, op):
        """Drive ``op`` (a journal record owned by us at its epoch) until
        it is finished, we lose it, or the engine stops."""
        op = copy.deepcopy(op)
        op['state'].setdefault('started', [])
        op['state'].setdefault('done', [])
        flow = flows.get_flow(op['kind'])
        try:
            max_attempts = CONF.orchestration.max_attempts
            if op['attempts'] > max_attempts + EXTRA_ROLLBACK_ATTEMPTS:
                self._give_up(flow, op)
            elif op['state'].get('rolling_back') or \
                    op['attempts'] > max_attempts:
                error = op['state'].get('error') or (
                    'Operation interrupted %d times; rolling back' %
                    (op['attempts'] - 1))
                self._rollback(flow, op, error)
            else:
                self._forward(flow, op)
        except exception.StaleEpoch:
            LOG.warning('Operation %(id)s is no longer ours at epoch '
                        '%(epoch)s; stopped driving it',
                        {'id': op['id'], 'epoch': op['epoch']})
        except Stopping:
            LOG.info('Leaving operation %s to another proxy (stopping)',
                     op['id'])

    # -- forward ----------------------------------------------------------

    def _forward(self, flow, op):
        steps = flow.steps(op)
        for index, step in enumerate(steps):
            if step.name in op['state']['done']:
                continue
            try:
                self._run_step(op, step, index, len(steps))
            except (exception.StaleEpoch, Stopping) + DATABASE_OUTAGES:
                raise
            except Exception as e:
                if not isinstance(e, exception.NovaProxyException):
                    LOG.exception('Step %(step)s of %(id)s failed',
                                  {'step': step.name, 'id': op['id']})
                self._rollback(flow, op, _error_text(e))
                return
        self._write(op, {'status': states.OP_DONE, 'step': None,
                         'progress': 100, 'error': None,
                         'finished_at': db_session.utcnow()})
        metrics.operation(op['kind'], states.OP_DONE)
        LOG.info('Operation %(id)s (%(kind)s of %(uuid)s) done',
                 {'id': op['id'], 'kind': op['kind'],
                  'uuid': op['instance_uuid']})

    def _run_step(self, op, step, index, total):
        state = op['state']
        if step.name not in state['started']:
            new_state = copy.deepcopy(state)
            new_state['started'].append(step.name)
            before = step.before
            self._write(op, {'status': states.OP_RUNNING, 'step': step.name,
                             'state': new_state,
                             'progress': int(100 * index / total),
                             'step_started_at': db_session.utcnow()},
                        then=(lambda c: before(c, op)) if before else None)
            op['state'] = new_state
        else:
            self._write(op, {'status': states.OP_RUNNING, 'step': step.name})
        self.hooks.fire('before', step.name, op['id'])
        result = self._call(op, step, base_progress=(index, total),
                            deadline=CONF.orchestration.compute_wait_deadline)
        self.hooks.fire('after', step.name, op['id'])
        new_state = copy.deepcopy(op['state'])
        new_state['done'].append(step.name)
        after = step.after
        self._write(op, {'state': new_state,
                         'progress': int(100 * (index + 1) / total)},
                    then=(lambda c: after(c, op, result)) if after else None)
        op['state'] = new_state

    # -- rollback ---------------------------------------------------------

    def _rollback(self, flow, op, error):
        state = op['state']
        if not state.get('rolling_back'):
            new_state = copy.deepcopy(state)
            new_state.update(rolling_back=True, error=error, undone=[],
                             rollback_errors=[])
            self._write(op, {'status': states.OP_RUNNING, 'step': 'rollback',
                             'error': error, 'state': new_state})
            op['state'] = state = new_state
            LOG.warning('Operation %(id)s rolling back: %(error)s',
                        {'id': op['id'], 'error': error})
        for step in flow.rollback_steps(op, state['started']):
            if step.name in op['state']['undone']:
                continue
            self._write(op, {'step': step.name,
                             'step_started_at': db_session.utcnow()})
            self.hooks.fire('before', step.name, op['id'])
            new_state = copy.deepcopy(op['state'])
            try:
                self._call(op, step, base_progress=None,
                           deadline=CONF.orchestration.compute_wait_deadline)
            except (exception.StaleEpoch, Stopping) + DATABASE_OUTAGES:
                raise
            except Exception as e:
                LOG.error('Rollback step %(step)s of %(id)s failed: '
                          '%(error)s', {'step': step.name, 'id': op['id'],
                                        'error': _error_text(e)})
                new_state['rollback_errors'].append(
                    '%s: %s' % (step.name, _error_text(e)))
            self.hooks.fire('after', step.name, op['id'])
            new_state['undone'].append(step.name)
            self._write(op, {'state': new_state})
            op['state'] = new_state
        self._finish(flow, op, error, flow.rollback_status, flow.rolled_back)

    def _give_up(self, flow, op):
        error = op['state'].get('error') or 'attempts exhausted'
        error = '%s (gave up after %d attempts)' % (error, op['attempts'])
        self._finish(flow, op, error, states.OP_FAILED, flow.failed)

    def _finish(self, flow, op, error, status, final_writes):
        errors = op['state'].get('rollback_errors') or []
        if errors:
            error = '%s; rollback: %s' % (error, '; '.join(errors))
        values = {'status': status, 'step': None, 'error': error[:4000],
                  'finished_at': db_session.utcnow()}
        try:
            self._write(op, values,
                        then=lambda c: final_writes(c, op, error))
        except (exception.StaleEpoch,) + DATABASE_OUTAGES:
            raise
        except Exception as e:
            # The instance or migration went away or changed meanwhile:
            # finish the journal anyway, so that the operation is never
            # taken back only to fail the same way again.
            if not isinstance(e, exception.NovaProxyException):
                LOG.exception('Final writes of %s failed', op['id'])
            values['error'] = ('%s; final writes skipped: %s' % (
                error, _error_text(e)))[:4000]
            self._write(op, values)
        metrics.operation(op['kind'], status)
        LOG.warning('Operation %(id)s ended %(status)s: %(error)s',
                    {'id': op['id'], 'status': status, 'error': error})

    # -- helpers ----------------------------------------------------------

    def _write(self, op, values, then=None):
        return journal.fenced_write(self.context, op, values, then=then)

    def _check_stop(self):
        if self.stop_event.is_set():
            raise Stopping()

    def _call(self, op, step, base_progress, deadline):
        """Call ``step`` on its host, waiting while the host is down."""
        host = op['state'][step.host]
        kwargs = dict(step.args(op), operation_id=op['id'])
        give_up_at = time.monotonic() + deadline
        interval = min(CONF.orchestration.poll_interval, 1.0)
        while True:
            self._check_stop()
            # The fence before every call: a stale owner sends nothing.
            self._write(op, {})
            if scheduler.compute_host_up(self.context, host):
                try:
                    return self._call_once(op, step, host, kwargs,
                                           base_progress)
                except UNANSWERED as e:
                    reason = 'no answer (%s: %s)' % (type(e).__name__, e)
                    if isinstance(e, messaging.MessagingTimeout):
                        reason = self._with_topic_hint(host, reason)
            else:
                reason = 'compute service is down'
            if time.monotonic() >= give_up_at:
                raise exception.ComputeUnavailable(host=host, reason=reason)
            LOG.info('Step %(step)s of %(id)s waits for %(host)s: '
                     '%(reason)s', {'step': step.name, 'id': op['id'],
                                    'host': host, 'reason': reason})
            self.stop_event.wait(interval)

    def _with_topic_hint(self, host, reason):
        """``reason`` of a call to ``host`` that timed out, and why when
        the host's service record names another topic than the one we
        call (``compute_rpcapi.foreign_topic``): an operator's mismatch of
        ``[compute] topic`` otherwise looks like a slow compute until the
        deadline. Only a hint: a failed read leaves ``reason`` as it is.
        """
        try:
            service = db_api.service_get_by_compute_host(self.context, host)
            topic = compute_rpcapi.foreign_topic(service)
        except Exception:
            LOG.debug('Topic of compute host %s not read', host,
                      exc_info=True)
            return reason
        if topic is None:
            return reason
        return ('%s; the compute service of %s registered topic %r, this '
                'proxy calls %r (set [compute] topic to the same value on '
                'proxies and computes)' % (reason, host, topic,
                                           CONF.compute.topic))

    def _call_once(self, op, step, host, kwargs, base_progress):
        method = getattr(self.compute, step.name)
        if not step.long or base_progress is None:
            return method(self.context, host, **kwargs)
        done = threading.Event()
        watcher = threading.Thread(
            target=self._watch_progress, args=(op, base_progress, done),
            daemon=True, name='progress-%s' % op['id'])
        watcher.start()
        try:
            return method(self.context, host, **kwargs)
        finally:
            done.set()
            watcher.join(timeout=5)

    def _watch_progress(self, op, base_progress, done):
        """Mirror the migration's progress into the operation's, so that
        ``operation show`` moves during the copy."""
        index, total = base_progress
        migration_id = op['state'].get('migration_id')
        context = np_context.get_admin_context()
        last = None
        while not done.wait(PROGRESS_POLL_SECONDS):
            try:
                percent = migration_percent(
                    db_api.migration_get(context, migration_id))
                progress = int(100 * (index + percent / 100.0) / total)
                if progress != last:
                    journal.fenced_write(context, op, {'progress': progress})
                    last = progress
            except exception.StaleEpoch:
                return
            except Exception:
                LOG.debug('Progress watch of %s failed', op['id'],
                          exc_info=True)
