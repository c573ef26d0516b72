"""``nova-compute-proxy``: the proxy daemon."""

import sys

from nova_proxy import cmd  # noqa: F401  (selects the threading backend)
from nova_proxy.common import service
from nova_proxy import conf
from nova_proxy.proxy import service as proxy_service

CONF = conf.CONF


def main(argv=None):
    service.prepare_service(sys.argv if argv is None else argv)
    server = proxy_service.ProxyService(CONF.host, workers=CONF.proxy.workers)
    service.launch(server, workers=CONF.proxy.workers)


if __name__ == '__main__':
    main()
