"""``nova-compute-proxied``: nova's own nova-compute, its database on the
proxies.

This is nova 34's ``nova.cmd.compute.main`` with two lines changed: where
nova points its objects at the conductor
(``NovaObject.indirection_api = ConductorAPI()``), this puts the shim in
place of nova's database API (``nova_proxy.compute.db.nova.enable()``),
and leaves ``indirection_api`` unset, so that nova's objects call the
shim's functions and every database call is one ``rpc.call`` to the
proxies. Everything else is nova's: its configuration files and options,
its virt driver, its RPC server on the ``compute`` topic, its periodic
tasks, its placement client. The process has no database configured and
needs none.

Run it where ``nova-compute`` would run, with nova's configuration files
and, in them, the shim's options (``nova_proxy.compute.db``: ``[proxy]
topic``, ``[proxy_client] key_file`` and the rest)::

    nova-compute-proxied --config-file /etc/nova/nova.conf

What still goes to nova-conductor: nothing of the database. nova-compute
also calls the conductor's ``compute_task`` API in a few places (a
reschedule of a failed build, for one); those need a conductor as
before. docs/deploying.rst, "nova-compute on the proxies".
"""

import shlex
import sys

__all__ = ['main']


def main():
    # Nothing of the shim (oslo.messaging) may be imported before nova's
    # monkey_patch, which refuses to run after eventlet was: this module
    # sits outside nova_proxy.compute.db, whose package imports the shim.
    try:
        from nova import monkey_patch
    except ImportError:
        sys.stderr.write('Error: nova is not installed in this Python '
                         'environment: nova-compute-proxied runs nova\'s '
                         'nova-compute, so install it (nova 34) next to '
                         'nova-compute-proxy.\n')
        return 1
    # As nova-compute's own main does, before anything else of nova.
    monkey_patch.patch(backend='threading')

    import os_brick
    import os_vif
    from oslo_log import log as logging
    from oslo_privsep import priv_context
    from oslo_reports import guru_meditation_report as gmr
    from oslo_reports import opts as gmr_opts
    from oslo_service import opts as oslo_svc_opts

    from nova.compute import rpcapi as compute_rpcapi
    import nova.conf
    from nova import config
    from nova import objects
    from nova import service
    from nova import utils
    from nova import version

    # Registers the shim's options on nova's CONF before it parses them.
    from nova_proxy.compute.db import nova as proxy_db

    conf = nova.conf.CONF
    log = logging.getLogger(__name__)
    config.parse_args(sys.argv)
    logging.setup(conf, 'nova')
    oslo_svc_opts.register_service_opts(conf)
    if conf.log_options and utils.concurrency_mode_threading():
        conf.log_opt_values(log, logging.DEBUG)
    priv_context.init(root_helper=shlex.split(utils.get_root_helper()))
    objects.register_all()
    gmr_opts.set_defaults(conf)
    os_brick.setup(conf)
    os_vif.initialize()

    gmr.TextGuruMeditation.setup_autorun(version, conf=conf)

    # nova: DISABLE_DB_ACCESS and indirection_api = ConductorAPI(). Here:
    # the shim in place of nova's database API (it sets DISABLE_DB_ACCESS
    # too, for what it does not replace), and no indirection.
    proxy_db.enable()
    log.info('nova-compute on the proxies: the database API is nova_proxy'
             '.compute.db, over RPC on topic %s', conf.proxy.topic)
    objects.Service.enable_min_version_cache()
    server = service.Service.create(
        binary='nova-compute',
        topic=compute_rpcapi.RPC_TOPIC,
        topic_alt=compute_rpcapi.RPC_TOPIC_ALT)
    service.serve(server, workers=1, no_fork=True)
    service.wait()
    return 0


if __name__ == '__main__':
    sys.exit(main())
