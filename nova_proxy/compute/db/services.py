"""nova's service calls (``services`` table), over RPC.

Arguments, results and errors are nova's (``nova.db.main.api``); the
proxies' endpoints (``nova_proxy.proxy.endpoints.services``) say what
each raises and which a compute host may call: its own service only, and
``service_get_minimum_version``; the lists across hosts are the control
plane's (``HostScopeViolation`` for a compute).
"""

from nova_proxy.compute.db._client import call

__all__ = [
    'service_create', 'service_destroy', 'service_get', 'service_get_all',
    'service_get_all_by_binary', 'service_get_all_by_host',
    'service_get_all_by_topic', 'service_get_all_computes_by_hv_type',
    'service_get_by_compute_host', 'service_get_by_host_and_binary',
    'service_get_by_host_and_topic', 'service_get_by_uuid',
    'service_get_minimum_version', 'service_update',
]


def service_destroy(context, service_id):
    return call(context, 'service_destroy', service_id=service_id)


def service_get(context, service_id):
    return call(context, 'service_get', service_id=service_id)


def service_get_by_uuid(context, service_uuid):
    return call(context, 'service_get_by_uuid', service_uuid=service_uuid)


def service_get_minimum_version(context, binaries):
    return call(context, 'service_get_minimum_version', binaries=binaries)


def service_get_all(context, disabled=None):
    return call(context, 'service_get_all', disabled=disabled)


def service_get_all_by_topic(context, topic):
    return call(context, 'service_get_all_by_topic', topic=topic)


def service_get_by_host_and_topic(context, host, topic):
    return call(context, 'service_get_by_host_and_topic', host=host,
                topic=topic)


def service_get_all_by_binary(context, binary, include_disabled=False):
    return call(context, 'service_get_all_by_binary', binary=binary,
                include_disabled=include_disabled)


def service_get_all_computes_by_hv_type(context, hv_type,
                                        include_disabled=False):
    return call(context, 'service_get_all_computes_by_hv_type',
                hv_type=hv_type, include_disabled=include_disabled)


def service_get_by_host_and_binary(context, host, binary):
    return call(context, 'service_get_by_host_and_binary', host=host,
                binary=binary)


def service_get_all_by_host(context, host):
    return call(context, 'service_get_all_by_host', host=host)


def service_get_by_compute_host(context, host):
    return call(context, 'service_get_by_compute_host', host=host)


def service_create(context, values):
    return call(context, 'service_create', values=values)


def service_update(context, service_id, values):
    return call(context, 'service_update', service_id=service_id,
                values=values)
