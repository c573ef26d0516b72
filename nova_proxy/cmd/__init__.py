"""Console scripts.

Importing this package selects oslo.service's threading backend. It must run
before anything imports ``oslo_messaging``: ``oslo_messaging.server`` imports
``oslo_service.service``, which otherwise locks the process to the eventlet
backend. Every console script lives in this package, so none can forget.

It also registers every option of the project (``nova_proxy.conf``), which
importing ``nova_proxy.conf`` alone does not: nova's processes, where the
shim runs, import that without this package.
"""

import warnings

from oslo_service import backend as _backend

# futurist imports eventlet when it is installed (our tests install it for
# the shim's compatibility mode); the daemons never use it, so its
# deprecation banner would only confuse operators.
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')

_backend.init_backend(_backend.BackendType.THREADING)

from nova_proxy import conf as _conf  # noqa: E402

_conf.register_opts()
