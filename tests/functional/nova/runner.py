"""A nova object process: ``python -m tests.functional.nova.runner
NOVA_CONF MODULE:SCENARIO KWARGS_JSON``.

Set up as nova-compute sets itself up (nova's ``monkey_patch`` first,
``nova.config.parse_args``, ``objects.register_all()``), with two
differences that are the point: ``nova_proxy.compute.db.nova.enable()``
instead of the conductor indirection, and no database configured. Then
runs the scenario with nova's admin context and this compute host's
name (``[DEFAULT] host``), and prints its result (JSON)
after ``RESULT``.
"""

# autopep8: off
from nova import monkey_patch; monkey_patch.patch(backend='threading')  # noqa
# autopep8: on

import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

from nova import config  # noqa: E402
from nova import context  # noqa: E402
from nova import objects  # noqa: E402
from nova.objects import base as objects_base  # noqa: E402
from oslo_log import log as logging  # noqa: E402

from nova_proxy.compute.db import nova as proxy_db  # noqa: E402

from tests.functional.nova import RESULT  # noqa: E402


def main(argv):
    conf_path, target, kwargs = argv[1:]
    config.parse_args(['nova-compute', '--config-file', conf_path])
    logging.setup(config.CONF, 'nova')
    objects.register_all()
    proxy_db.enable()
    assert objects_base.NovaObject.indirection_api is None
    assert config.CONF.database.connection is None
    module, name = target.split(':')
    scenario = getattr(importlib.import_module(module), name)
    result = scenario(context.get_admin_context(), host=config.CONF.host,
                      **json.loads(kwargs))
    print(RESULT + json.dumps(result, default=str), flush=True)


if __name__ == '__main__':
    main(sys.argv)
