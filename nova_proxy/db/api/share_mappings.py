"""nova's share mappings: manila shares attached to instances."""

from oslo_db import exception as db_exc
import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _scope
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session

_SHARES = models.ShareMapping.__table__


def _mappings(context, *conditions, scope_host=None):
    return _values.rows(context.connection, sa.select(_SHARES).where(
        *conditions,
        _scope.instance_in_scope(_SHARES.c.instance_uuid, scope_host))
        .order_by(_SHARES.c.id))


# What a confined caller is refused.
_MAPPINGS_OF = 'the share mappings of instance %(instance)s'


def _check_instance(context, instance_uuid, scope_host, lock=False):
    if scope_host is not None:
        _scope.scoped_instance(context.connection, instance_uuid,
                               scope_host, deleted_too=True, lock=lock,
                               resource=_MAPPINGS_OF)


@db_session.core_reader
def share_mapping_get_by_share_id(context, share_id, *, scope_host=None):
    """:returns: the mappings of ``share_id``; for a confined caller,
    those of the instances in its scope only."""
    return _mappings(context, _SHARES.c.share_id == share_id,
                     scope_host=scope_host)


@db_session.core_reader
def share_mapping_get_by_instance_uuid(context, instance_uuid, *,
                                       scope_host=None):
    """:raises: HostScopeViolation, InstanceNotFound (confined caller)"""
    _check_instance(context, instance_uuid, scope_host)
    return _mappings(context, _SHARES.c.instance_uuid == instance_uuid)


@db_session.core_reader
def share_mapping_get_by_instance_uuids(context, instance_uuids, *,
                                        scope_host=None):
    """:returns: the mappings of the instances; for a confined caller,
    those of the instances in its scope only."""
    return _mappings(context,
                     _SHARES.c.instance_uuid.in_(list(instance_uuids)),
                     scope_host=scope_host)


@db_session.core_reader
def share_mapping_get_by_instance_uuid_and_share_id(
        context, instance_uuid, share_id, *, scope_host=None):
    """:returns: the mapping, or None.
    :raises: HostScopeViolation, InstanceNotFound (confined caller)"""
    _check_instance(context, instance_uuid, scope_host)
    found = _mappings(context, _SHARES.c.instance_uuid == instance_uuid,
                      _SHARES.c.share_id == share_id)
    return found[0] if found else None


@db_session.core_writer
def share_mapping_delete_by_instance_uuid_and_share_id(
        context, instance_uuid, share_id, *, scope_host=None):
    """Delete the mapping (none is not an error).

    :raises: HostScopeViolation, InstanceNotFound (confined caller)"""
    _check_instance(context, instance_uuid, scope_host, lock=True)
    context.connection.execute(sa.delete(_SHARES).where(
        _SHARES.c.instance_uuid == instance_uuid,
        _SHARES.c.share_id == share_id))


@db_session.core_writer
def share_mapping_update(context, uuid, instance_uuid, share_id, status,
                         tag, export_location, share_proto, *,
                         scope_host=None):
    """Set the mapping of ``share_id`` on the instance, creating it (with
    ``uuid``) when there is none, as nova does.

    :returns: the mapping.
    :raises: InstanceNotFound, InvalidUUID, HostScopeViolation,
        InvalidUpdate, ShareMappingAlreadyExists (the instance has the
        ``tag`` on another share)
    """
    connection = context.connection
    # The instance's row locked: it stays in the caller's scope until
    # the mapping is written.
    _scope.scoped_instance(connection, instance_uuid, scope_host, lock=True,
                           resource=_MAPPINGS_OF)
    values = _values.check_nova_values(_SHARES, {
        'uuid': uuid, 'instance_uuid': instance_uuid, 'share_id': share_id,
        'status': status, 'tag': tag, 'export_location': export_location,
        'share_proto': share_proto})
    now = db_session.utcnow()
    current = connection.execute(sa.select(_SHARES.c.id).where(
        _SHARES.c.instance_uuid == instance_uuid,
        _SHARES.c.share_id == share_id).with_for_update()).first()
    try:
        if current is None:
            return _dialect.insert_row(connection, _SHARES,
                                       dict(values, created_at=now))
        changed = {k: values[k] for k in ('status', 'tag', 'export_location',
                                          'share_proto')}
        return _dialect.update_row(connection, _SHARES, current.id,
                                   dict(changed, updated_at=now))
    except db_exc.DBDuplicateEntry:
        raise exception.ShareMappingAlreadyExists(share_id=share_id,
                                                  tag=tag)
