"""Compute nodes: create, read, update."""

import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _host_rows
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session


_NODE_FIELDS = {
    'host': _values.string, 'node': _values.string,
    'hypervisor_type': _values.string, 'vcpus': _values.integer,
    'memory_mb': _values.integer, 'local_gb': _values.integer,
    'vcpus_used': _values.integer, 'memory_mb_used': _values.integer,
    'local_gb_used': _values.integer, 'running_vms': _values.integer,
}
_NODE_CREATE_FIELDS = dict(_NODE_FIELDS, uuid=_values.string)
_NODES = models.ComputeNode.__table__
_NODE_COLUMNS = _values.columns(models.ComputeNode)


def _node_dict(node):
    return _values.row_to_dict(node, _NODE_COLUMNS)


@db_session.core_reader
def compute_node_get_by_host_and_node(context, host, node):
    """:raises: ComputeHostNotFound"""
    n = _NODES.c
    row = context.connection.execute(sa.select(*n).where(
        n.host == host, n.node == node, n.deleted == 0)).one_or_none()
    if row is None:
        raise exception.ComputeHostNotFound(host=host, node=node)
    return _node_dict(row)


@db_session.core_reader
def compute_node_get_all(context):
    n = _NODES.c
    return [_node_dict(row) for row in context.connection.execute(
        sa.select(*n).where(n.deleted == 0).order_by(n.id))]


@db_session.core_writer
def compute_node_create(context, values):
    """:raises: InvalidUpdate, ComputeNodeExists"""
    return _host_rows.create_host_row(
        context.connection, _NODES, values, _NODE_CREATE_FIELDS,
        ('host', 'node'), exception.ComputeNodeExists)


@db_session.core_writer
def compute_node_update(context, compute_node_id, values, scope_host=None):
    """:raises: ComputeHostNotFound, InvalidUpdate, HostScopeViolation,
        Conflict"""
    values = _values.check_values(values, _NODE_FIELDS,
                                  protected=_host_rows.UPDATE_PROTECTED,
                                  table=models.ComputeNode.__table__)
    return _host_rows.update_host_row(
        context.connection, models.ComputeNode, compute_node_id, values,
        scope_host, 'compute node %s' % compute_node_id,
        lambda: exception.ComputeHostNotFound(host=compute_node_id,
                                              node=None))
