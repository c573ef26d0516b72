"""nova's compute node calls (``compute_nodes`` table), over RPC.

Arguments, results and errors are nova's (``nova.db.main.api``); the
proxies' endpoints (``nova_proxy.proxy.endpoints.compute_nodes``) say
what each raises and which a compute host may call: its own host's
nodes (``constraint`` travels as docs/wire.rst says); the lists of every
host are the control plane's (``Forbidden`` for a compute). A
duplicate compute node is oslo.db's ``DBDuplicateEntry``, as from nova's
own database.
"""

from oslo_db import exception as db_exc

from nova_proxy.compute.db._client import call
from nova_proxy import exception

__all__ = [
    'compute_node_create', 'compute_node_delete', 'compute_node_get',
    'compute_node_get_all', 'compute_node_get_all_by_host',
    'compute_node_get_all_by_pagination',
    'compute_node_get_all_mapped_less_than',
    'compute_node_get_by_host_and_nodename', 'compute_node_get_by_nodename',
    'compute_node_search_by_hypervisor', 'compute_node_update',
    'compute_nodes_get_by_service_id',
]


def compute_node_get(context, compute_id):
    return call(context, 'compute_node_get', compute_id=compute_id)


def compute_nodes_get_by_service_id(context, service_id):
    return call(context, 'compute_nodes_get_by_service_id',
                service_id=service_id)


def compute_node_get_by_host_and_nodename(context, host, nodename):
    return call(context, 'compute_node_get_by_host_and_nodename', host=host,
                nodename=nodename)


def compute_node_get_by_nodename(context, hypervisor_hostname):
    return call(context, 'compute_node_get_by_nodename',
                hypervisor_hostname=hypervisor_hostname)


def compute_node_get_all(context):
    return call(context, 'compute_node_get_all')


def compute_node_get_all_by_host(context, host):
    return call(context, 'compute_node_get_all_by_host', host=host)


def compute_node_get_all_mapped_less_than(context, mapped_less_than):
    return call(context, 'compute_node_get_all_mapped_less_than',
                mapped_less_than=mapped_less_than)


def compute_node_get_all_by_pagination(context, limit=None, marker=None):
    return call(context, 'compute_node_get_all_by_pagination', limit=limit,
                marker=marker)


def compute_node_search_by_hypervisor(context, hypervisor_match):
    return call(context, 'compute_node_search_by_hypervisor',
                hypervisor_match=hypervisor_match)


def compute_node_create(context, values):
    try:
        return call(context, 'compute_node_create', values=values)
    except exception.ComputeNodeExists as e:
        # What nova's database raises there: nova's ComputeNode.create
        # turns it into DuplicateRecord, which its resource tracker
        # catches.
        raise db_exc.DBDuplicateEntry(
            columns=['host', 'hypervisor_hostname']) from e


def compute_node_update(context, compute_id, values):
    return call(context, 'compute_node_update', compute_id=compute_id,
                values=values)


def compute_node_delete(context, compute_id, constraint=None):
    return call(context, 'compute_node_delete', compute_id=compute_id,
                constraint=constraint)
