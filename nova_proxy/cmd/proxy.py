"""``nova-compute-proxy``: the proxy daemon.

Before forking its workers it checks its database and its message broker
(``nova_proxy.proxy.preflight``) and exits with status 1 and one error line
saying what to do when it cannot serve. It logs one warning line when
its configuration serves unsigned calls or cannot check signed ones
(``nova_proxy.common.auth.check_signing``).
"""

import sys

from nova_proxy import cmd  # noqa: F401  (selects the threading backend)
from oslo_log import log as logging

from nova_proxy.common import auth
from nova_proxy.common import keys
from nova_proxy.common import metrics
from nova_proxy.common import rpc
from nova_proxy.common import service
from nova_proxy import conf
from nova_proxy.db import session as db_session
from nova_proxy.proxy import preflight
from nova_proxy.proxy import service as proxy_service

LOG = logging.getLogger(__name__)
CONF = conf.CONF


def main(argv=None):
    rpc.set_executor_threads_default(rpc.PROXY_EXECUTOR_THREADS)
    service.prepare_service(sys.argv if argv is None else argv)
    signed, message = auth.check_signing(CONF)
    if not signed:
        LOG.warning('%s', message)
    problem = keys.key_file_problem(CONF)
    if problem is not None:
        LOG.error('Cannot start: %s', problem)
        return 1
    timeout = CONF.proxy.start_check_timeout
    problem = preflight.check_database(timeout)
    # Nothing of the database may cross the fork.
    db_session.dispose()
    if problem is None:
        problem = preflight.check_broker(timeout)
    if problem is not None:
        LOG.error('Cannot start: %s', problem)
        return 1
    try:
        metrics.setup('proxy')
    except metrics.MetricsUnavailable as e:
        LOG.error('Cannot start: %s', e)
        return 1
    server = proxy_service.ProxyService(CONF.host, workers=CONF.proxy.workers)
    service.launch(server, workers=CONF.proxy.workers)


if __name__ == '__main__':
    sys.exit(main())
