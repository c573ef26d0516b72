"""nova's service calls (``services`` table).

Host scope: a compute host reads and writes its own service only. Lists
across hosts are the control plane's, but for
``service_get_minimum_version``: every nova-compute asks it at start, and
it tells the versions of the fleet's binaries, nothing of any one host.
"""

from nova_proxy.common import rpc
from nova_proxy.db import api as db
from nova_proxy.proxy.endpoints import base
from nova_proxy.proxy import policy

__all__ = ['ServiceEndpoint']


class ServiceEndpoint(base.Endpoint):

    @rpc.remotable
    def service_create(self, context, values):
        if isinstance(values, dict):
            policy.check_host(context, values.get('host'), 'a new service')
            if values.get('binary') != 'nova-compute':
                # A compute host runs nova-compute; another binary's row
                # would count in that binary's minimum version.
                policy.check_unconfined(
                    context, 'create a %s service' % values.get('binary'))
        return db.service_create(context, values)

    @rpc.remotable
    def service_destroy(self, context, service_id: int):
        policy.check_unconfined(context, 'delete a service')
        return db.service_destroy(context, service_id)

    @rpc.remotable
    def service_get(self, context, service_id: int):
        return base.own_row(context, db.service_get(context, service_id),
                            'service %s' % service_id)

    @rpc.remotable
    def service_get_by_uuid(self, context, service_uuid: str):
        return base.own_row(context,
                            db.service_get_by_uuid(context, service_uuid),
                            'service %s' % service_uuid)

    @rpc.remotable
    def service_get_minimum_version(self, context, binaries: list[str]):
        return db.service_get_minimum_version(context, binaries)

    @rpc.remotable
    def service_get_all(self, context, disabled: bool | None = None):
        policy.check_unconfined(context, 'list the services of all hosts')
        return db.service_get_all(context, disabled=disabled)

    @rpc.remotable
    def service_get_all_by_topic(self, context, topic: str):
        policy.check_unconfined(context, 'list the services of all hosts')
        return db.service_get_all_by_topic(context, topic)

    @rpc.remotable
    def service_get_all_by_binary(self, context, binary: str,
                                  include_disabled: bool = False):
        policy.check_unconfined(context, 'list the services of all hosts')
        return db.service_get_all_by_binary(
            context, binary, include_disabled=include_disabled)

    @rpc.remotable
    def service_get_all_computes_by_hv_type(self, context, hv_type: str,
                                            include_disabled: bool = False):
        policy.check_unconfined(context, 'list the services of all hosts')
        return db.service_get_all_computes_by_hv_type(
            context, hv_type, include_disabled=include_disabled)

    @rpc.remotable
    def service_get_all_by_host(self, context, host: str):
        policy.check_host(context, host, 'the services of %s' % host)
        return db.service_get_all_by_host(context, host)

    @rpc.remotable
    def service_get_by_host_and_binary(self, context, host: str,
                                       binary: str):
        policy.check_host(context, host, 'service %s/%s' % (host, binary))
        return db.service_get_by_host_and_binary(context, host, binary)

    @rpc.remotable
    def service_get_by_host_and_topic(self, context, host: str, topic: str):
        policy.check_host(context, host, 'service %s/%s' % (host, topic))
        return db.service_get_by_host_and_topic(context, host, topic)

    @rpc.remotable
    def service_get_by_compute_host(self, context, host: str):
        policy.check_host(context, host, 'the compute service of %s' % host)
        return db.service_get_by_compute_host(context, host)

    @rpc.remotable
    @rpc.nonce_with_write
    def service_update(self, context, service_id: int, values):
        return db.service_update(context, service_id, values,
                                 scope_host=policy.scope_host(context))
