"""nova's compute node calls (``compute_nodes`` table).

Host scope: a compute host reads and writes its own host's compute nodes
only (their ``host``): in the statement for the update and the delete,
on the rows read otherwise. nova-compute deletes its own orphan nodes
(``ComputeNode.destroy`` with a ``host`` constraint), so a compute host
may. The lists across hosts (``compute_node_get_all``, by pagination,
``compute_node_get_all_mapped_less_than``,
``compute_node_search_by_hypervisor``) are the control plane's: nova's
API, scheduler and nova-manage call them, nova-compute does not.
"""

from nova_proxy.common import rpc
from nova_proxy.db import api as db
from nova_proxy.proxy.endpoints import base
from nova_proxy.proxy import policy

__all__ = ['ComputeNodeEndpoint']


class ComputeNodeEndpoint(base.Endpoint):

    @rpc.remotable
    def compute_node_create(self, context, values):
        if isinstance(values, dict):
            policy.check_host(context, values.get('host'),
                              'a new compute node')
        return db.compute_node_create(context, values,
                                      scope_host=policy.scope_host(context))

    @rpc.remotable
    def compute_node_delete(self, context, compute_id: int,
                            constraint: dict | None = None):
        return db.compute_node_delete(context, compute_id, constraint,
                                      scope_host=policy.scope_host(context))

    @rpc.remotable
    def compute_node_get(self, context, compute_id: int):
        return base.own_row(context, db.compute_node_get(context, compute_id),
                            'compute node %s' % compute_id)

    @rpc.remotable
    def compute_node_get_all(self, context):
        policy.check_unconfined(context,
                                'list the compute nodes of all hosts')
        return db.compute_node_get_all(context)

    @rpc.remotable
    def compute_node_get_all_by_host(self, context, host: str):
        policy.check_host(context, host, 'the compute nodes of %s' % host)
        return db.compute_node_get_all_by_host(context, host)

    @rpc.remotable
    def compute_node_get_all_by_uuids(self, context,
                                      compute_uuids: list[str]):
        return base.own_rows(
            context, db.compute_node_get_all_by_uuids(context, compute_uuids),
            'compute nodes %s' % ', '.join(map(str, compute_uuids)))

    @rpc.remotable
    def compute_node_get_all_by_pagination(self, context,
                                           limit: int | None = None,
                                           marker: int | None = None):
        policy.check_unconfined(context,
                                'list the compute nodes of all hosts')
        return db.compute_node_get_all_by_pagination(context, limit=limit,
                                                     marker=marker)

    @rpc.remotable
    def compute_node_get_all_mapped_less_than(self, context,
                                              mapped_less_than: int):
        policy.check_unconfined(context,
                                'list the compute nodes of all hosts')
        return db.compute_node_get_all_mapped_less_than(context,
                                                        mapped_less_than)

    @rpc.remotable
    def compute_node_get_by_host_and_nodename(self, context, host: str,
                                              nodename: str):
        policy.check_host(context, host,
                          'compute node %s/%s' % (host, nodename))
        return db.compute_node_get_by_host_and_nodename(context, host,
                                                        nodename)

    @rpc.remotable
    def compute_node_get_by_nodename(self, context,
                                     hypervisor_hostname: str):
        return base.own_row(
            context, db.compute_node_get_by_nodename(context,
                                                     hypervisor_hostname),
            'compute node %s' % hypervisor_hostname)

    @rpc.remotable
    def compute_node_search_by_hypervisor(self, context,
                                          hypervisor_match: str):
        policy.check_unconfined(context,
                                'search the compute nodes of all hosts')
        return db.compute_node_search_by_hypervisor(context,
                                                    hypervisor_match)

    @rpc.remotable
    @rpc.nonce_with_write
    def compute_node_update(self, context, compute_id: int, values):
        return db.compute_node_update(context, compute_id, values,
                                      scope_host=policy.scope_host(context))

    @rpc.remotable
    def compute_nodes_get_by_service_id(self, context, service_id: int):
        return base.own_rows(
            context, db.compute_nodes_get_by_service_id(context, service_id),
            'the compute nodes of service %s' % service_id)
