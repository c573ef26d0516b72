"""Instance metadata: nova's ``instances_fill_metadata`` (the metadata,
PCI devices and latest fault its list reads add) and
``instance_metadata_delete`` (wire 2.x).

A confined caller (``scope_host``) reaches the instances in its scope
only: the fill checks them in one statement, the delete writes the
instance's row in an UPDATE that carries the scope.
"""

import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _instance_joins as _joins
from nova_proxy.db.api import _instance_reads as _reads
from nova_proxy.db.api import _instance_rows
from nova_proxy.db.api import _scope
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session

__all__ = ['instance_metadata_delete', 'instances_fill_metadata']

_INSTANCES = _reads.INSTANCES


@db_session.core_reader
def instances_fill_metadata(context, instances, manual_joins=None, *,
                            scope_host=None):
    """``instances`` (dicts with a ``uuid``) with their ``metadata`` and
    ``system_metadata`` (nova's default ``manual_joins``), ``pci_devices``
    when named, and ``fault``: the latest fault when named, else None.
    An instance that is not there gets empty ones, as in nova.

    :raises: Invalid, HostScopeViolation (an instance there but not in
        ``scope_host``'s scope)
    """
    if not isinstance(instances, list) or not all(
            isinstance(i, dict) and isinstance(i.get('uuid'), str)
            for i in instances):
        raise exception.Invalid(
            reason='instances must be a list of dicts with a uuid')
    if manual_joins is None:
        manual_joins = ['metadata', 'system_metadata']
    joins = _joins.parse([j for j in manual_joins if j != 'fault'], ())
    if joins.names - {'metadata', 'system_metadata', 'pci_devices'}:
        raise exception.Invalid(
            reason='manual_joins: metadata, system_metadata, pci_devices '
                   'or fault')
    uuids = [i['uuid'] for i in instances]
    connection = context.connection
    if scope_host is not None and uuids:
        # Not NOT(scope): an instance without a host makes the scope
        # NULL, and NOT NULL would let it through.
        out_of_scope = sa.case((_scope.SCOPE_CONDITION, 1), else_=0) == 0
        for row in connection.execute(sa.select(
                _INSTANCES.c.uuid, _INSTANCES.c.host).where(
                _INSTANCES.c.uuid.in_(uuids), out_of_scope),
                {'scope_host': scope_host}):
            raise exception.HostScopeViolation(
                caller=scope_host, resource='instance %s' % row.uuid,
                owner=row.host)
    shells = [{'uuid': u, 'deleted': 0, 'host': None,
               'metadata': {}, 'system_metadata': {}} for u in uuids]
    if joins.metadata:
        _instance_rows.fill_metadata(connection, shells)
    _joins.fill(connection, shells, joins)
    faults = {}
    if 'fault' in manual_joins and uuids:
        faults = _latest_faults(connection, uuids)
    result = []
    for instance, shell in zip(instances, shells):
        filled = dict(instance)
        filled['metadata'] = shell.get('metadata', {})
        filled['system_metadata'] = shell.get('system_metadata', {})
        if 'pci_devices' in joins.names:
            filled['pci_devices'] = shell['pci_devices']
        filled['fault'] = faults.get(instance['uuid'])
        result.append(filled)
    return result


def _latest_faults(connection, uuids):
    faults = models.InstanceFault.__table__
    latest = {}
    for row in _values.rows(connection, sa.select(faults).where(
            faults.c.instance_uuid.in_(uuids), faults.c.deleted == 0).order_by(
            faults.c.created_at.desc(), faults.c.id.desc())):
        latest.setdefault(row['instance_uuid'], row)
    return latest


@db_session.core_writer
def instance_metadata_delete(context, instance_uuid, key, *,
                             scope_host=None):
    """Delete one metadata item of a live instance; nothing to delete is
    no error, as in nova. The instance's ``updated_at`` is set in the same
    transaction, in an UPDATE that carries ``scope_host``'s scope: every
    write of an instance's metadata writes its row (see
    ``_dialect.SNAPSHOT_GUARDED``).

    :raises: InvalidUUID, HostScopeViolation
    """
    _values.validate_uuid(instance_uuid)
    if not isinstance(key, str):
        raise exception.Invalid(reason='key must be a string')
    connection = context.connection
    touched = connection.execute(sa.update(_INSTANCES).where(
        _INSTANCES.c.uuid == instance_uuid, _INSTANCES.c.deleted == 0,
        *_reads.scoped(scope_host)).values(updated_at=db_session.utcnow()),
        _reads.params(scope_host))
    if touched.rowcount != 1:
        if scope_host is not None:
            try:
                _scope.scoped_instance(connection, instance_uuid, scope_host)
            except exception.InstanceNotFound:
                pass
        return
    table = models.InstanceMetadata.__table__
    connection.execute(sa.delete(table).where(
        table.c.instance_uuid == instance_uuid, table.c.key == key))
