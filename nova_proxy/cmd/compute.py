"""``nova-compute-proxy-compute``: the reference compute service.

Direct database access is blocked before anything else happens, as nova's
``nova-compute`` does with ``block_db_access``; the service then reaches
the database only through the proxies. It exits with status 1 when no
proxy answers within ``[proxy_client] startup_ping_timeout``.
"""

import sys

from nova_proxy import cmd  # noqa: F401  (selects the threading backend)
from oslo_log import log as logging

from nova_proxy.common import auth
from nova_proxy.common import keys
from nova_proxy.common import metrics
from nova_proxy.common import service
from nova_proxy.compute import service as compute_service
from nova_proxy import conf
from nova_proxy.conf import metrics as metrics_conf

LOG = logging.getLogger(__name__)
CONF = conf.CONF


def main(argv=None):
    compute_service.block_database()
    CONF.set_default('port', metrics_conf.COMPUTE_PORT, group='metrics')
    service.prepare_service(sys.argv if argv is None else argv,
                            program=compute_service.BINARY)
    signed, message = auth.check_compute_signing(CONF)
    if not signed:
        LOG.warning('%s', message)
    problem = keys.key_file_problem(CONF)
    if problem is not None:
        LOG.error('Cannot start: %s', problem)
        return 1
    if not compute_service.check_proxy_before_fork(CONF.host):
        LOG.error('Cannot start: no proxy answered ping on topic %(topic)s '
                  '(exchange %(exchange)s) within %(timeout)s seconds: check '
                  'that nova-compute-proxy runs and that transport_url, '
                  'control_exchange and [proxy] topic match its '
                  'configuration; exiting',
                  {'topic': CONF.proxy.topic,
                   'exchange': CONF.control_exchange,
                   'timeout': CONF.proxy_client.startup_ping_timeout})
        return 1
    try:
        metrics.setup('compute')
    except metrics.MetricsUnavailable as e:
        LOG.error('Cannot start: %s', e)
        return 1
    server = compute_service.ComputeService(CONF.host)
    service.launch(server, workers=1)


if __name__ == '__main__':
    sys.exit(main())
