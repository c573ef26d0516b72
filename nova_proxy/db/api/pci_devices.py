"""PCI devices: nova's calls (wire 2.x).

Host scope (keyword-only ``scope_host``): a device belongs to its compute
node's host (``compute_node_id`` -> ``compute_nodes.host``, the node live
or not); a confined caller reads and writes only the devices of its own
nodes, and reads the devices allocated to an instance only while the
instance is in its scope (its host, or either end of a migration of it in
progress; a soft-deleted instance stays the host's it was on). Writes
check it in their own transaction.

Where nova's own rules differ, on purpose: ``uuid`` is never NULL here
(``pci_device_update`` makes one for a new device without one), so
``pci_device_create_uuid`` only ever finds the device's own.
"""

from oslo_db import exception as db_exc
from oslo_utils import uuidutils
import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _child_scope
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session

_DEVICES = models.PciDevice.__table__
_NODES = models.ComputeNode.__table__


def _check_node(connection, node_id, scope_host, lock=False):
    """For a confined caller, the compute node ``node_id`` (live or not)
    is on its host; a node that does not exist has no devices to protect.

    :param lock: lock the node's row until the transaction ends, for a
        write: the node stays the caller's until the write is committed.
    :raises: HostScopeViolation
    """
    if scope_host is None:
        return
    statement = sa.select(_NODES.c.host).where(_NODES.c.id == node_id)
    if lock:
        statement = statement.with_for_update()
    host = connection.execute(statement.limit(1)).first()
    if host is not None and host[0] != scope_host:
        raise exception.HostScopeViolation(
            caller=scope_host, resource='compute node %s' % node_id,
            owner=host[0])


def _check_node_writable(connection, node_id, scope_host):
    """As ``_check_node``, and a confined caller writes only devices of a
    node that exists (it cannot tell whose a missing node would be).

    :raises: HostScopeViolation
    """
    _check_node(connection, node_id, scope_host, lock=True)
    if scope_host is not None and connection.execute(
            sa.select(_NODES.c.id).where(_NODES.c.id == node_id)).first() \
            is None:
        raise exception.HostScopeViolation(
            caller=scope_host, resource='compute node %s' % node_id,
            owner=None)


def _devices(context, *conditions, read_deleted=None):
    d = _DEVICES.c
    return _values.rows(context.connection, sa.select(_DEVICES).where(
        *_values.read_deleted_filter(context, _DEVICES, read_deleted),
        *conditions).order_by(d.id))


def _integer(name, value):
    """nova's queries take any id; one that is no integer is the caller's
    mistake, refused by name."""
    try:
        return _values.integer(value)
    except ValueError as e:
        raise exception.Invalid(reason='%s: %s' % (name, e)) from None


@db_session.core_reader
def pci_device_get_by_addr(context, node_id, dev_addr, *, scope_host=None):
    """:raises: PciDeviceNotFound, HostScopeViolation"""
    node_id = _integer('node_id', node_id)
    _check_node(context.connection, node_id, scope_host)
    rows = _devices(context, _DEVICES.c.compute_node_id == node_id,
                    _DEVICES.c.address == dev_addr)
    if not rows:
        raise exception.PciDeviceNotFound(node_id=node_id, address=dev_addr)
    return rows[0]


@db_session.core_reader
def pci_device_get_by_id(context, id, *, scope_host=None):
    """:raises: PciDeviceNotFoundById, HostScopeViolation"""
    rows = _devices(context, _DEVICES.c.id == _integer('id', id))
    if not rows:
        raise exception.PciDeviceNotFoundById(id=id)
    _check_node(context.connection, rows[0]['compute_node_id'], scope_host)
    return rows[0]


@db_session.core_reader
def pci_device_get_all_by_node(context, node_id, *, scope_host=None):
    """:raises: HostScopeViolation"""
    node_id = _integer('node_id', node_id)
    _check_node(context.connection, node_id, scope_host)
    return _devices(context, _DEVICES.c.compute_node_id == node_id)


@db_session.core_reader
def pci_device_get_all_by_parent_addr(context, node_id, parent_addr, *,
                                      scope_host=None):
    """:raises: HostScopeViolation"""
    node_id = _integer('node_id', node_id)
    _check_node(context.connection, node_id, scope_host)
    return _devices(context, _DEVICES.c.compute_node_id == node_id,
                    _DEVICES.c.parent_addr == parent_addr)


@db_session.core_reader
def pci_device_get_all_by_instance_uuid(context, instance_uuid, *,
                                        scope_host=None):
    """The devices allocated to the instance.

    :raises: HostScopeViolation
    """
    _child_scope.check_readable(context.connection, [instance_uuid],
                                scope_host)
    return _devices(context, _DEVICES.c.status == 'allocated',
                    _DEVICES.c.instance_uuid == instance_uuid)


@db_session.core_writer
def pci_device_destroy(context, node_id, address, *, scope_host=None):
    """Soft-delete the live device at ``address`` of the node.

    :raises: PciDeviceNotFound, HostScopeViolation
    """
    node_id = _integer('node_id', node_id)
    connection = context.connection
    _check_node(connection, node_id, scope_host, lock=True)
    d = _DEVICES.c
    result = connection.execute(sa.update(_DEVICES).where(
        d.compute_node_id == node_id, d.address == address,
        d.deleted == 0).values(deleted=d.id,
                               deleted_at=db_session.utcnow()))
    if not result.rowcount:
        raise exception.PciDeviceNotFound(node_id=node_id, address=address)


# What a new device must have (the columns that take no NULL and have no
# default, but the two the arguments give).
_REQUIRED = ('vendor_id', 'product_id', 'dev_type', 'label', 'status')


@db_session.core_writer
def pci_device_update(context, node_id, address, values, *,
                      scope_host=None):
    """Set ``values`` on the live device at ``address`` of the node, or,
    when it has none, create it from ``values`` (nova's objects send every
    field of a new device); returns the device.

    A new device takes ``compute_node_id`` and ``address`` from the
    arguments when ``values`` lacks them, and a uuid when it has none.

    :raises: InvalidUpdate, HostScopeViolation
    """
    node_id = _integer('node_id', node_id)
    if isinstance(values, dict):
        # nova's objects send what they hold of a live row's soft deletion.
        values = {k: v for k, v in values.items()
                  if not (k in ('deleted', 'deleted_at') and not v)}
    values = _values.check_nova_values(_DEVICES, values)
    connection = context.connection
    _check_node_writable(connection, node_id, scope_host)
    if values.get('compute_node_id', node_id) != node_id:
        _check_node_writable(connection, values['compute_node_id'],
                             scope_host)
    if values.get('instance_uuid') and scope_host is not None:
        # The instance a device is claimed or allocated for must be in
        # the caller's scope too (a migration's destination claims for an
        # instance migrating to it), and stay so until this commits.
        _child_scope.lock_live(
            connection, values['instance_uuid'], scope_host,
            resource='a PCI device claim for instance %(instance)s')
    if 'uuid' in values and not values['uuid']:
        del values['uuid']
    now = db_session.utcnow()
    for _ in range(2):
        row = _update(connection, node_id, address, values, now)
        if row is not None:
            return row
        for field in _REQUIRED:
            if values.get(field) is None:
                raise exception.InvalidUpdate(
                    field=field, reason='a new device needs it')
        try:
            with connection.begin_nested():
                return _dialect.insert_row(connection, _DEVICES, dict(
                    {'compute_node_id': node_id, 'address': address,
                     'uuid': uuidutils.generate_uuid(), 'created_at': now},
                    **values, deleted=0))
        except db_exc.DBDuplicateEntry:
            # Another call created it meanwhile: update that one.
            continue
    raise exception.Conflict(reason='PCI device %s:%s is being created '
                             'concurrently' % (node_id, address))


def _update(connection, node_id, address, values, now):
    """The live device's dict after ``values``, or None without one."""
    d = _DEVICES.c
    found = connection.execute(sa.select(d.id).where(
        d.compute_node_id == node_id, d.address == address,
        d.deleted == 0)).first()
    if found is None:
        return None
    return _dialect.update_row(connection, _DEVICES, found.id,
                               dict({'updated_at': now}, **values))


@db_session.core_writer
def pci_device_create_uuid(context, dev_id, uuid, *, scope_host=None):
    """Give the device ``dev_id`` the ``uuid`` when it has none
    (compare-and-swap, so a second writer keeps the first's); returns the
    device's uuid. Not nova's: nova's ``PciDevice._create_uuid`` writes it
    itself (``nova_proxy.compute.db.nova``). Idempotent.

    :raises: PciDeviceNotFoundById, InvalidUUID, HostScopeViolation
    """
    if not isinstance(uuid, str) or not uuidutils.is_uuid_like(uuid):
        raise exception.InvalidUUID(uuid=uuid)
    dev_id = _integer('dev_id', dev_id)
    connection = context.connection
    d = _DEVICES.c
    row = connection.execute(sa.select(d.compute_node_id).where(
        d.id == dev_id)).first()
    if row is None:
        raise exception.PciDeviceNotFoundById(id=dev_id)
    _check_node(connection, row.compute_node_id, scope_host, lock=True)
    connection.execute(sa.update(_DEVICES).where(
        d.id == dev_id, d.uuid.is_(None)).values(uuid=uuid))
    return connection.execute(sa.select(d.uuid).where(
        d.id == dev_id)).scalar()
