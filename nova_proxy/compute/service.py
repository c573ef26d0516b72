"""The reference compute service: ``nova-compute-proxy-compute``.

It plays nova-compute's part with a fake hypervisor, and has no database:

1. ``start()`` first blocks database access for the whole process
   (``nova_proxy.db.guard.block_db_access``), and checks that it holds:
   from then on importing or calling ``nova_proxy.db.api`` raises
   ``DBNotAllowed``.
2. It waits for a proxy to answer ``ping`` (up to ``[proxy_client]
   startup_ping_timeout``, whether no proxy answers or the broker cannot
   be reached), then gets or creates its service record and its
   compute node record through the shim, as nova-compute does
   (``service_get_by_host_and_binary`` or ``service_create``;
   ``compute_node_get_by_host_and_nodename`` or ``compute_node_create``).
3. It serves topic ``[compute] topic`` with server ``<host>`` (queue
   ``compute.<host>``): the endpoints of ``manager.py``.
4. It runs its own periodic tasks in threads (``periodic.py``): service
   heartbeat, resource reporting, power-state sync.

The shim is nova's database API over wire 2.x (``nova_proxy.compute.db``):
the names, arguments and results nova-compute's objects use. Only the
start-up ``ping`` is a 1.x call (``nova_proxy.compute.db_v1``): nova's
database API has no ping, and wire 2.x has none of its own; every 2.x
proxy serves the 1.x methods until 3.0.

Every call to the proxies carries
``nova_proxy.common.context.get_compute_context(host)``, so the proxies'
host-scope policy confines this service to its own host (and, with
``[proxy_client] key_file``, signs it as ``[DEFAULT] host``). With that
context the shim raises ``nova_proxy.exception`` classes, nova installed
or not: this service needs no nova.
"""

import importlib
import sys
import threading
import time

import kombu.exceptions
from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_utils import uuidutils

from nova_proxy.common import context as np_context
from nova_proxy.common import rpc
from oslo_db import exception as db_exc

from nova_proxy.common import service
from nova_proxy.compute import db
from nova_proxy.compute.db import _client as db_client
from nova_proxy.compute import db_v1
from nova_proxy.compute import manager
from nova_proxy.compute import periodic
from nova_proxy.compute import rpcapi
from nova_proxy.compute.virt import fake
from nova_proxy import conf
from nova_proxy.db import guard
from nova_proxy import exception

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['ComputeService', 'BINARY', 'SERVICE_BINARY', 'block_database',
           'wait_for_proxy', 'check_proxy_before_fork']

# The name the database guard reports in DBNotAllowed.
BINARY = 'nova-compute-proxy-compute'
# The service record's binary: the one nova-compute registers, so that the
# proxies treat this reference service exactly as they would nova-compute.
SERVICE_BINARY = 'nova-compute'

# Seconds a start-up ping may take to publish, beyond its wait for the
# answer, before it counts as stuck connecting to the broker.
_PUBLISH_GRACE = 1.0
# Set when a start-up ping was abandoned while connecting to the broker:
# its thread holds the transport's reply-queue lock, so cleaning the
# transport up would wait for it forever.
_abandoned = threading.Event()


def block_database():
    """Block database access in this process and prove that it holds.

    :returns: the ``DBNotAllowed`` message that a database access now gets.
    :raises: RuntimeError if the database layer is still reachable.
    """
    guard.block_db_access(BINARY)
    try:
        if 'nova_proxy.db.api' in sys.modules:
            # Already imported by someone: calls must still be refused.
            from nova_proxy.db import session as db_session
            db_session.get_engine()
        else:
            importlib.import_module('nova_proxy.db.api')
    except exception.DBNotAllowed as e:
        return e.format_message()
    raise RuntimeError('Database access is not blocked in %s' % BINARY)


def _ping_within(context, per_try, limit):
    """One ``ping`` with a wait of ``per_try`` seconds for its answer, run
    in a daemon thread and abandoned after ``limit`` seconds.

    The bound covers the connection to the broker, which the ping's own
    timeout does not: oslo.messaging's rabbit driver reconnects forever
    when the broker is unreachable, and a call's ``retry`` (in 18.3.1)
    only limits its sending connection, not the reply queue's, which is
    made first. An abandoned thread keeps reconnecting until the process
    exits (the caller exits or its worker fails), holding the transport's
    reply-queue lock: see ``_cleanup_transport()``.

    :raises: MessageDeliveryFailure when the call has not ended after
        ``limit`` seconds (it is still connecting to the broker); what the
        call raised otherwise.
    """
    outcome = {}

    def ping():
        try:
            db_v1.ping(context, context.compute_host, timeout=per_try)
        except BaseException as e:
            outcome['error'] = e
        else:
            outcome['done'] = True

    thread = threading.Thread(target=ping, name='startup-ping', daemon=True)
    thread.start()
    thread.join(limit)
    if 'error' in outcome:
        raise outcome['error']
    if not outcome:
        _abandoned.set()
        raise messaging.MessageDeliveryFailure(
            'the message broker (transport_url) cannot be reached: the '
            'ping was still connecting after %.1fs' % limit)


# What the start-up ping raises when the broker cannot be reached:
# oslo.messaging's own error; for a connection that fails while the
# driver opens it, kombu's or the socket's (an OSError: reset, refused,
# unreachable, timed out, name not found). Seen once in the partition
# tests: the launcher ended with "Unhandled error: ... Connection reset
# by peer" instead of trying again.
_BROKER_ERRORS = (messaging.MessageDeliveryFailure,
                  kombu.exceptions.OperationalError, OSError)


def wait_for_proxy(context):
    """Wait until a proxy answers ``ping``.

    :raises: MessagingTimeout after ``[proxy_client] startup_ping_timeout``
        seconds (0: wait forever) when the broker is reachable but no proxy
        answered; MessageDeliveryFailure when the broker could not be
        reached in that time (a connection reset while it was opened
        included).
    """
    limit = CONF.proxy_client.startup_ping_timeout
    deadline = time.monotonic() + limit if limit else None
    attempt = 0
    while True:
        attempt += 1
        left = None if deadline is None else deadline - time.monotonic()
        # Short tries: a ping sent before any proxy declared the topic's
        # queue is dropped by the broker, never answered.
        per_try = max(1, int(min(2, left) if left is not None else 2))
        try:
            if deadline is None:
                db_v1.ping(context, context.compute_host, timeout=per_try)
            else:
                # A connected call ends within per_try (plus the time to
                # publish): wait that long even past the deadline.
                _ping_within(context, per_try,
                             max(left, per_try) + _PUBLISH_GRACE)
            LOG.info('A proxy answered ping (attempt %d)', attempt)
            return
        except messaging.MessagingTimeout:
            if deadline is not None and time.monotonic() >= deadline:
                LOG.warning('No proxy answered ping within %ss', limit)
                raise
            LOG.warning('No proxy answered ping yet (attempt %d); '
                        'waiting', attempt)
        except _BROKER_ERRORS as e:
            if deadline is not None and time.monotonic() >= deadline:
                LOG.warning('No proxy answered ping within %ss: %s',
                            limit, e)
                if isinstance(e, messaging.MessageDeliveryFailure):
                    raise
                raise messaging.MessageDeliveryFailure(
                    'the message broker (transport_url) cannot be reached: '
                    '%s' % e) from e
            LOG.warning('Cannot reach the message broker yet (attempt %d): '
                        '%s; waiting', attempt, e)
        time.sleep(CONF.compute.startup_retry_interval)


def check_proxy_before_fork(host):
    """Wait for a proxy in the launcher process, before it forks the
    worker (a worker that fails its own start-up is respawned forever).

    :returns: True if a proxy answered in time; False if none did, or if
        the broker could not be reached, within ``[proxy_client]
        startup_ping_timeout``.
    """
    try:
        wait_for_proxy(np_context.get_compute_context(host))
        return True
    except (messaging.MessagingTimeout, messaging.MessageDeliveryFailure):
        return False
    finally:
        # No transport may cross the fork.
        db_v1.reset()
        db_client.reset()
        _cleanup_transport()


def _cleanup_transport():
    """``rpc.cleanup()``, without waiting for an abandoned start-up
    ping: the transport's cleanup then waits on the lock that the ping's
    thread holds, so it runs in a daemon thread, given half a second
    (the process is about to exit)."""
    if not _abandoned.is_set():
        rpc.cleanup()
        return
    thread = threading.Thread(target=rpc.cleanup, name='rpc-cleanup',
                              daemon=True)
    thread.start()
    thread.join(0.5)


class ComputeService(service.RPCService):

    def __init__(self, host, block_db=True):
        """``block_db=False`` is only for running a proxy and computes in
        one process (the README's main job without a broker): the block is
        process-wide and would stop the proxy too."""
        super().__init__(host)
        self.block_db = block_db
        self.node = host
        self.driver = None
        self.service_record = None
        self.compute_node = None
        self.context = None
        self.reporter = None
        self.tasks = []

    def _target(self):
        return messaging.Target(topic=CONF.compute.topic, server=self.host,
                                version=rpcapi.RPC_API_VERSION)

    def _endpoints(self):
        return manager.endpoints(self.host, self.node, self.driver,
                                 resources_changed=self.reporter.kick)

    def _components(self):
        return list(self.tasks)

    def start(self):
        if self.block_db:
            message = block_database()
            LOG.info('Direct database access is blocked in this process: a '
                     'database call raises DBNotAllowed: %s', message)
        else:
            LOG.warning('Database access is NOT blocked in this process: '
                        'compute %s shares it with a proxy', self.host)
        rpc.init()
        self.context = np_context.get_compute_context(self.host)
        wait_for_proxy(self.context)
        self.driver = fake.FakeDriver.from_conf(self.host)
        self.driver.start()
        self.service_record = self._get_or_create_service()
        self._warn_of_another_recorded_topic()
        self.compute_node = self._get_or_create_compute_node()
        c = CONF.compute
        self.reporter = periodic.ResourceReporter(
            self.context, c.resource_update_interval,
            self.compute_node['id'], self.driver)
        self.tasks = [
            periodic.ServiceHeartbeat(self.context, c.report_interval,
                                      self.service_record['id'],
                                      self.service_record['report_count']),
            self.reporter,
            periodic.PowerStateSync(self.context,
                                    c.sync_power_state_interval, self.host,
                                    self.driver),
        ]
        super().start()
        LOG.info('Compute service %(host)s started (service %(sid)s, '
                 'compute node %(nid)s)',
                 {'host': self.host, 'sid': self.service_record['id'],
                  'nid': self.compute_node['id']})

    def _get_or_create_service(self):
        """nova's ``Service.start``: its record, or a new one (another
        start may create it first)."""
        try:
            return db.service_get_by_host_and_binary(
                self.context, self.host, SERVICE_BINARY)
        except exception.HostBinaryNotFound:
            pass
        try:
            return db.service_create(self.context, {
                'host': self.host, 'binary': SERVICE_BINARY,
                'topic': CONF.compute.topic, 'report_count': 0,
                'uuid': uuidutils.generate_uuid()})
        except (exception.ServiceBinaryExists, exception.ServiceTopicExists):
            return db.service_get_by_host_and_binary(
                self.context, self.host, SERVICE_BINARY)

    def _warn_of_another_recorded_topic(self):
        """The topic in this service's record is the one of its first
        start: a compute host may not change it (``service_update``'s
        host scope). The proxies read it (the upgrade check "Compute
        topics", the reason of a call to this host that timed out), so a
        ``[compute] topic`` changed since is misjudged there; this is
        the one process that sees both."""
        recorded = rpcapi.foreign_topic(self.service_record)
        if recorded is not None:
            LOG.warning(
                'The service record of compute host %(host)s says topic '
                '%(recorded)r (from its first start); this process listens '
                'on [compute] topic %(topic)r. The proxies call '
                '%(topic)r only if theirs is %(topic)r too; their '
                '"Compute topics" check and timeout errors will go on '
                'naming %(recorded)r until an operator runs '
                '"nova-compute-proxy-manage service set-topic --host '
                '%(host)s --topic %(topic)s" (service id %(id)s).',
                {'host': self.host, 'recorded': recorded,
                 'topic': CONF.compute.topic,
                 'id': self.service_record['id']})

    def _get_or_create_compute_node(self):
        """nova's resource tracker (``_init_compute_node``): the node's
        record, or a new one; a duplicate is oslo.db's
        ``DBDuplicateEntry``, as from nova's database."""
        try:
            return db.compute_node_get_by_host_and_nodename(
                self.context, self.host, self.node)
        except exception.ComputeHostNotFound:
            pass
        values = dict(periodic.ResourceReporter.node_values(self.driver),
                      host=self.host, hypervisor_hostname=self.node,
                      hypervisor_type='fake', uuid=uuidutils.generate_uuid())
        try:
            return db.compute_node_create(self.context, values)
        except db_exc.DBDuplicateEntry:
            return db.compute_node_get_by_host_and_nodename(
                self.context, self.host, self.node)

    def stop(self, graceful=True):
        # All periodic tasks at once: each may be stuck in a call to the
        # proxies, and their bounded waits then overlap.
        for task in self.tasks:
            task.request_stop()
        super().stop(graceful=graceful)

    def _release(self):
        db_v1.reset()
        db_client.reset()
