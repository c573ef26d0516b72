"""Compute nodes: nova's compute node calls (wire 2.x, also serving the
1.x ones of the same names), and the 1.x read by ``host``/``node``.

A row keeps our ``node`` (NOT NULL) beside nova's ``hypervisor_hostname``:
a create or update that gives only one of them sets the other to it.
"""

from oslo_db import exception as db_exc
from oslo_utils import uuidutils
import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _constraint
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _host_rows
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session


_NODES = models.ComputeNode.__table__
# Never written from an update's values: the row's identity, its creation
# and its soft deletion (nova's object has uuid read-only too).
_UPDATE_PROTECTED = _values.NOVA_PROTECTED | {'uuid', 'created_at'}


def _nodes(context, *conditions, limit=None):
    return _values.table_rows(context, _NODES, *conditions, limit=limit)


def _one_node(context, not_found, *conditions):
    return _values.table_row(context, _NODES, not_found, *conditions)


def _check_id(value, not_found):
    if isinstance(value, bool) or not isinstance(value, int):
        raise not_found


def _name_both(values):
    """``node`` and ``hypervisor_hostname`` set together when one is
    given (not None) and the other is not."""
    name = values.get('hypervisor_hostname')
    if name is not None and 'node' not in values:
        values['node'] = name
    elif values.get('node') is not None and \
            'hypervisor_hostname' not in values:
        values['hypervisor_hostname'] = values['node']


@db_session.core_reader
def compute_node_get(context, compute_id):
    """:raises: ComputeHostNotFound (``host`` the id, as nova)"""
    not_found = exception.ComputeHostNotFound(host=compute_id)
    _check_id(compute_id, not_found)
    return _one_node(context, not_found, _NODES.c.id == compute_id)


@db_session.core_reader
def compute_nodes_get_by_service_id(context, service_id):
    """:raises: ServiceNotFound when the service has no compute node (as
    nova)"""
    rows = _nodes(context, _NODES.c.service_id == service_id)
    if not rows:
        raise exception.ServiceNotFound(service_id=service_id)
    return rows


@db_session.core_reader
def compute_node_get_by_host_and_nodename(context, host, nodename):
    """:raises: ComputeHostNotFound"""
    return _one_node(context, exception.ComputeHostNotFound(host=host),
                     _NODES.c.host == host,
                     _NODES.c.hypervisor_hostname == nodename)


@db_session.core_reader
def compute_node_get_by_nodename(context, hypervisor_hostname):
    """:raises: ComputeHostNotFound"""
    return _one_node(
        context, exception.ComputeHostNotFound(host=hypervisor_hostname),
        _NODES.c.hypervisor_hostname == hypervisor_hostname)


@db_session.core_reader
def compute_node_get_all(context):
    return _nodes(context)


@db_session.hot_reader
def compute_node_get_all_by_host(context, host):
    """:raises: ComputeHostNotFound when the host has none (as nova)"""
    rows = _values.table_rows_by(
        context, _NODES, 'by host',
        lambda bind: [_NODES.c.host == bind('host')], {'host': host})
    if not rows:
        raise exception.ComputeHostNotFound(host=host)
    return rows


@db_session.core_reader
def compute_node_get_all_by_uuids(context, compute_uuids):
    """The compute nodes of ``compute_uuids`` (nova's
    ``ComputeNodeList.get_all_by_uuids``, which queries by itself)."""
    if not all(isinstance(u, str) for u in compute_uuids):
        raise exception.Invalid(reason='compute_uuids must be strings')
    if not compute_uuids:
        return []
    return _nodes(context, _NODES.c.uuid.in_(list(compute_uuids)))


@db_session.core_reader
def compute_node_get_all_mapped_less_than(context, mapped_less_than):
    return _nodes(context, _NODES.c.mapped < mapped_less_than)


@db_session.core_reader
def compute_node_get_all_by_pagination(context, limit=None, marker=None):
    """:raises: MarkerNotFound"""
    conditions = []
    if marker is not None:
        try:
            compute_node_get(context, marker)
        except exception.ComputeHostNotFound:
            raise exception.MarkerNotFound(marker=marker) from None
        conditions.append(_NODES.c.id > marker)
    if limit is not None and limit < 0:
        raise exception.InvalidInput(reason='limit must not be negative')
    return _nodes(context, *conditions, limit=limit)


@db_session.core_reader
def compute_node_search_by_hypervisor(context, hypervisor_match):
    return _nodes(context, _NODES.c.hypervisor_hostname.like(
        '%%%s%%' % hypervisor_match))


@db_session.core_reader
def compute_node_get_by_host_and_node(context, host, node):
    """By our ``node`` (the 1.x call).

    :raises: ComputeHostNotFound (``host`` and ``node``)
    """
    return _one_node(
        context, exception.ComputeHostNotFound(host=host, node=node),
        _NODES.c.host == host, _NODES.c.node == node)


def _check_identity(connection, values, scope_host):
    """A confined caller's node names its own service and a hypervisor
    no other host's live node has: a node pointing at another host's
    service or hypervisor would answer, and break, that host's lookups by
    service id or node name."""
    if scope_host is None:
        return
    service_id = values.get('service_id')
    if service_id is not None:
        services = models.Service.__table__
        owner = connection.execute(sa.select(services.c.host).where(
            services.c.id == service_id)).scalar()
        if owner != scope_host:
            raise exception.HostScopeViolation(
                caller=scope_host, resource='service %s' % service_id,
                owner=owner)
    name = values.get('hypervisor_hostname')
    if name is not None:
        taken = connection.execute(sa.select(_NODES.c.host).where(
            _NODES.c.hypervisor_hostname == name, _NODES.c.deleted == 0,
            _NODES.c.host != scope_host).limit(1)).scalar()
        if taken is not None:
            raise exception.Conflict(
                reason='hypervisor %s is a node of another host' % name)


@db_session.core_writer
def compute_node_create(context, values, *, scope_host=None):
    """Create a compute node. As nova, a duplicate that gives a ``uuid``
    of an existing row (deleted or not) updates that row with ``values``
    and makes it live again; for a caller confined to ``scope_host`` only
    a row of its own host.

    :raises: InvalidUpdate, ComputeNodeExists
    """
    values = _values.check_nova_values(_NODES, values)
    _name_both(values)
    _values.require(values, 'host', 'node')
    _check_identity(context.connection, values, scope_host)
    given_uuid = 'uuid' in values
    values.setdefault('uuid', uuidutils.generate_uuid())
    values.setdefault('created_at', db_session.utcnow())
    connection = context.connection
    try:
        # A savepoint, so that the transaction outlives a duplicate.
        with connection.begin_nested():
            return _dialect.insert_row(connection, _NODES,
                                       dict(values, deleted=0))
    except db_exc.DBDuplicateEntry:
        exists = exception.ComputeNodeExists(host=values['host'],
                                             node=values['node'])
    if not given_uuid:
        raise exists
    conditions = [_NODES.c.uuid == values['uuid']]
    if scope_host is not None:
        conditions.append(_NODES.c.host == scope_host)
    values.update(deleted=0, deleted_at=None,
                  updated_at=db_session.utcnow())
    del values['created_at']
    try:
        with connection.begin_nested():
            result = connection.execute(
                sa.update(_NODES).where(*conditions).values(**values))
    except db_exc.DBDuplicateEntry:
        # Revived onto another live node's host and name.
        raise exists from None
    if result.rowcount != 1:
        raise exists
    return _dialect.written_row(connection, _NODES, connection.execute(
        sa.select(_NODES.c.id).where(*conditions)).scalar_one(), None)


# What a compute host's node update may change only after a check
# (``node`` is ``hypervisor_hostname`` too: ``_name_both``).
_IDENTITY = frozenset(['service_id', 'hypervisor_hostname', 'node'])


def _one_update(compute_id, values, *, scope_host=None):
    """Whether ``compute_node_update`` writes in its UPDATE alone: all
    but a compute host's change of its node's service or name, which
    reads other rows first (``_check_identity``)."""
    return scope_host is None or not isinstance(values, dict) or \
        not _IDENTITY.intersection(values)


@db_session.autocommit_writer_when(_one_update)
def compute_node_update(context, compute_id, values, *, scope_host=None):
    """Set ``values`` on a live compute node, and ``updated_at`` always
    (as nova), in one UPDATE confined to ``scope_host``.

    The resource tracker's save, every minute on every node: on
    PostgreSQL the UPDATE commits as it runs (``autocommit_writer``);
    run again after its connection was lost, it sets the same values.

    :raises: ComputeHostNotFound, InvalidUpdate, HostScopeViolation,
        Conflict
    """
    values = _values.check_nova_values(_NODES, values,
                                       protected=_UPDATE_PROTECTED)
    _name_both(values)
    _check_identity(context.connection, values, scope_host)
    values['updated_at'] = db_session.utcnow()
    return _host_rows.update_host_row(
        context.connection, _NODES, compute_id, values, scope_host,
        'compute node %s' % compute_id,
        lambda: exception.ComputeHostNotFound(host=compute_id))


@db_session.core_writer
def compute_node_delete(context, compute_id, constraint=None, *,
                        scope_host=None):
    """Soft-delete a compute node, in one UPDATE that also requires
    ``constraint`` (its wire form) and, for a confined caller, its host.

    :raises: ComputeHostNotFound, ConstraintNotMet, HostScopeViolation,
        Invalid (a malformed constraint)
    """
    not_found = exception.ComputeHostNotFound(host=compute_id)
    _check_id(compute_id, not_found)
    conditions = [_NODES.c.id == compute_id, _NODES.c.deleted == 0]
    conditions += _constraint.conditions(_NODES, constraint)
    if scope_host is not None:
        conditions.append(_NODES.c.host == scope_host)
    connection = context.connection
    result = connection.execute(sa.update(_NODES).where(*conditions).values(
        deleted=_NODES.c.id, deleted_at=db_session.utcnow()))
    if result.rowcount == 1:
        return
    host = connection.execute(sa.select(_NODES.c.host).where(
        _NODES.c.id == compute_id, _NODES.c.deleted == 0)).scalar()
    if host is None:
        raise not_found
    if scope_host is not None and host != scope_host:
        raise exception.HostScopeViolation(
            caller=scope_host, resource='compute node %s' % compute_id,
            owner=host)
    raise exception.ConstraintNotMet()
