"""The proxy process: database endpoints, orchestration and periodic tasks.

Every worker of every proxy host is equal: it consumes the one topic
``[proxy] topic`` (any worker may serve any compute node), heartbeats its
liveness row, drives the operations it owns and takes its share of the
periodic tasks. A worker whose heartbeat finds the database unreachable
stops taking calls while other proxies are live (``liveness``).
"""

from oslo_log import log as logging
import oslo_messaging as messaging

from nova_proxy.common import context as np_context
from nova_proxy.common import service
from nova_proxy import conf
from nova_proxy.db import session as db_session
from nova_proxy.orchestration import engine as orchestration_engine
from nova_proxy.orchestration import manager as orchestration_manager
from nova_proxy.periodic import runner as periodic_runner
from nova_proxy.proxy import liveness
from nova_proxy.proxy import manager
from nova_proxy.proxy import rpcapi

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['ProxyService']


class ProxyService(service.RPCService):

    def __init__(self, host, workers=1):
        super().__init__(host)
        self.workers = workers
        self.member = None
        self._slot_lock = None
        self.orchestration = None

    def _target(self):
        # server= names this worker's own queue; all share the topic queue.
        return messaging.Target(topic=CONF.proxy.topic, server=self.member,
                                version=rpcapi.RPC_API_VERSION)

    def _endpoints(self):
        return manager.endpoints() + self._extra_endpoints()

    def _server_options(self):
        return {'executor': CONF.proxy.executor,
                'server': CONF.proxy.rpc_server}

    def _extra_endpoints(self):
        """Endpoints of other namespaces served on the same topic."""
        self.orchestration = orchestration_engine.Engine(self.member,
                                                         self.host)
        return [orchestration_manager.ComputeTaskManager(self.orchestration)]

    def _components(self):
        context = np_context.get_admin_context()
        return [liveness.Heartbeat(context, self.member, self.host,
                                   service=self),
                periodic_runner.Runner(self.member), self.orchestration]

    def start(self):
        self.member, self._slot_lock = liveness.acquire_member_name(
            self.host, self.workers)
        LOG.info('Proxy worker %s starting', self.member)
        super().start()

    def _release(self):
        db_session.dispose()
        if self._slot_lock is not None:
            self._slot_lock.close()
            self._slot_lock = None
