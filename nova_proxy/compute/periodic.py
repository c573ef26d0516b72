"""The compute service's own periodic tasks, each in its own thread.

They stay on the compute node because they need the hypervisor (or, for
the heartbeat, because the heartbeat is what says this node is alive), and
they reach the database only through the shim, with nova's calls
(``nova_proxy.compute.db``, wire 2.x):

``ServiceHeartbeat``
    every ``[compute] report_interval``: ``service_update`` with the next
    ``report_count``, as nova's servicegroup database driver sends it
    (``report_count += 1; save()``); the proxy sets ``last_seen_up`` from
    the database clock when the count goes up. The count goes up here
    even when a call fails, so that the next beat always counts.
``ResourceReporter``
    every ``[compute] resource_update_interval``, and at once after a claim
    changes (``kick()``): ``compute_node_update`` with the driver's
    capacity and used counters.
``PowerStateSync``
    every ``[compute] sync_power_state_interval``: for each instance of
    this host (``instance_get_all_by_host``) with no task in progress,
    write the driver's power state when it differs; an ``active``
    instance found shut down becomes ``stopped``, as nova's
    ``_sync_power_states`` does. The write is
    ``instance_update_and_get_original`` expecting ``task_state`` None (a
    compare-and-swap), so it never races an operation that starts
    meanwhile.

A failed run is logged and retried next period; the thread never dies of
it.
"""

import threading
import time

from oslo_log import log as logging

from nova_proxy.common import states
from nova_proxy.compute import actions
from nova_proxy.compute import db
from nova_proxy import exception

LOG = logging.getLogger(__name__)

__all__ = ['PeriodicThread', 'ServiceHeartbeat', 'ResourceReporter',
           'PowerStateSync']


class PeriodicThread:
    """Runs ``run_once()`` now and then every ``interval`` seconds, until
    ``stop()``; ``kick()`` runs it early."""

    name = 'periodic'
    # Seconds stop() waits for a run in progress.
    STOP_WAIT = 2.0

    def __init__(self, context, interval):
        self.context = context
        self.interval = interval
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._thread = None
        self._stop_requested_at = None
        self.runs = 0

    def run_once(self):
        raise NotImplementedError

    def start(self):
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name,
                                        daemon=True)
        self._thread.start()

    def stop(self):
        """Stop the loop; wait ``STOP_WAIT`` seconds at most.

        A run in the middle of a call to the proxies (none answering, say)
        is not waited for: it could wait ``[proxy_client] rpc_timeout``
        times its retries, and nothing it does needs finishing (the next
        start reports again). Its thread is a daemon and dies with the
        process.
        """
        self.request_stop()
        if self._thread is not None:
            left = self._stop_requested_at + self.STOP_WAIT - time.monotonic()
            self._thread.join(timeout=max(0.0, left))
            if self._thread.is_alive():
                LOG.warning('Periodic task %s is still in a call to the '
                            'proxies; not waiting for it', self.name)
            self._thread = None

    def request_stop(self):
        """Tell the loop to stop, without waiting: a service stopping
        several tasks asks them all first, so that their waits overlap."""
        if not self._stop.is_set():
            self._stop_requested_at = time.monotonic()
        self._stop.set()
        self._kick.set()

    def kick(self):
        self._kick.set()

    def _loop(self):
        while not self._stop.is_set():
            self._kick.clear()
            try:
                self.run_once()
                self.runs += 1
            except Exception:
                if self._stop.is_set():
                    break  # stopping: the transport is going away
                LOG.warning('Periodic task %s failed; retrying in %ss',
                            self.name, self.interval, exc_info=True)
            self._kick.wait(self.interval)

    def __repr__(self):
        return '<%s every %ss>' % (self.name, self.interval)


class ServiceHeartbeat(PeriodicThread):
    name = 'service_heartbeat'

    def __init__(self, context, interval, service_id, report_count=0):
        """:param report_count: the service record's, when it was read."""
        super().__init__(context, interval)
        self.service_id = service_id
        self.report_count = report_count

    def run_once(self):
        self.report_count += 1
        db.service_update(self.context, self.service_id,
                          {'report_count': self.report_count})
        LOG.debug('Heartbeat %d of service %s', self.report_count,
                  self.service_id)


class ResourceReporter(PeriodicThread):
    name = 'resource_reporter'

    def __init__(self, context, interval, compute_node_id, driver):
        super().__init__(context, interval)
        self.compute_node_id = compute_node_id
        self.driver = driver

    @staticmethod
    def node_values(driver):
        """The compute node's resource columns, as nova's resource
        tracker sets them: the driver's capacity and used counters, and
        what is free of them."""
        usage = driver.usage()
        return dict(usage,
                    free_ram_mb=usage['memory_mb'] - usage['memory_mb_used'],
                    free_disk_gb=usage['local_gb'] - usage['local_gb_used'])

    def run_once(self):
        values = self.node_values(self.driver)
        db.compute_node_update(self.context, self.compute_node_id, values)
        LOG.debug('Reported resources of compute node %s: %s',
                  self.compute_node_id, values)


class PowerStateSync(PeriodicThread):
    name = 'power_state_sync'

    def __init__(self, context, interval, host, driver):
        super().__init__(context, interval)
        self.host = host
        self.driver = driver

    def run_once(self):
        for instance in db.instance_get_all_by_host(self.context, self.host):
            if instance['task_state'] is not None:
                continue
            actual = self.driver.power_state(instance['uuid'])
            if actual is None:
                actual = states.POWER_NOSTATE
            if actual == instance['power_state']:
                continue
            values = {'power_state': actual, 'expected_task_state': [None]}
            if instance['vm_state'] == states.VM_ACTIVE and \
                    actual == states.POWER_SHUTDOWN:
                values['vm_state'] = states.VM_STOPPED
            LOG.info('Instance %(uuid)s: power state %(db)s in the database, '
                     '%(actual)s on the hypervisor; updating',
                     {'uuid': instance['uuid'],
                      'db': instance['power_state'], 'actual': actual})
            try:
                actions.save(self.context, instance['uuid'], values)
            except (exception.UnexpectedTaskStateError,
                    exception.InstanceNotFound):
                # An operation started meanwhile: it owns the instance now.
                continue
