"""The shim lives in nova's process without changing it: nova's options
and its own transport as nova made them, no database, and the first call
made on the shim's own transport."""


def process_facts(ctx, host):
    from nova import conf
    from nova.db.main import api as db
    from nova import rpc as nova_rpc
    from oslo_messaging._drivers import amqpdriver

    from nova_proxy.common import amqp_guard
    from nova_proxy.compute.db import _client

    minimum = db.service_get_minimum_version(ctx, ['nova-compute'])
    return {
        'minimum': minimum,
        'connection': conf.CONF.database.connection,
        'guard_installed': amqp_guard._installed,
        'listener_is_oslos': amqpdriver.RpcAMQPListener.__call__.__code__
        .co_filename.endswith('amqpdriver.py'),
        'novas_transport': nova_rpc.TRANSPORT is not None,
        'separate_transports': _client.get_transport() not in (
            nova_rpc.TRANSPORT, nova_rpc.NOTIFICATION_TRANSPORT),
        'shim_transport_exmods': _client.get_transport()
        ._driver._allowed_remote_exmods,
    }


def test_the_shim_leaves_novas_process_as_nova_made_it(nova):
    facts = nova.run(process_facts)
    assert facts == {
        'minimum': {},  # no service yet
        'connection': None,
        'guard_installed': False,
        'listener_is_oslos': True,
        'novas_transport': True,
        'separate_transports': True,
        'shim_transport_exmods': ['nova_proxy.exception'],
    }
