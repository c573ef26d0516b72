"""Instances: create, read, list, soft-delete.

The compare-and-swap update is in ``instance_cas``.
"""

from oslo_db import exception as db_exc
from oslo_utils import uuidutils
import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _instance_rows
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session


_INSTANCES = models.Instance.__table__


def _instance_get(connection, instance_uuid, read_deleted=False):
    """The instance's row (``INSTANCE_COLUMNS``).

    :raises: InstanceNotFound
    """
    query = sa.select(*[_INSTANCES.c[name]
                        for name in _instance_rows.INSTANCE_COLUMNS]).where(
        _INSTANCES.c.uuid == instance_uuid)
    if not read_deleted:
        query = query.where(_INSTANCES.c.deleted == 0)
    instance = connection.execute(query).one_or_none()
    if instance is None:
        raise exception.InstanceNotFound(instance_id=instance_uuid)
    return instance


@db_session.core_writer
def instance_create(context, values):
    """Create an instance from ``values``; returns the instance dict.

    :raises: InvalidUpdate for an unknown field, InvalidUUID for a malformed
        ``uuid``, InstanceExists for a uuid in use.
    """
    if isinstance(values, dict) and 'uuid' in values and \
            values['uuid'] is None:
        values = {k: v for k, v in values.items() if k != 'uuid'}
    values = _values.check_values(
        values, _instance_rows.INSTANCE_CREATE_FIELDS,
        protected=_instance_rows.INSTANCE_PROTECTED_FIELDS - {
            'uuid', 'user_id', 'project_id'},
        table=_INSTANCES)
    instance_uuid = values.pop('uuid', None) or uuidutils.generate_uuid()
    _values.validate_uuid(instance_uuid)
    metadata = values.pop('metadata', {})
    system_metadata = values.pop('system_metadata', {})
    now = db_session.utcnow()
    if values.get('user_id') is None:
        values['user_id'] = context.user_id
    if values.get('project_id') is None:
        values['project_id'] = context.project_id
    connection = context.connection
    try:
        connection.execute(sa.insert(_INSTANCES).values(
            uuid=instance_uuid, created_at=now, updated_at=now, deleted=0,
            **values))
    except db_exc.DBDuplicateEntry:
        raise exception.InstanceExists(instance_uuid=instance_uuid)
    _instance_rows.replace_metadata(connection, models.InstanceMetadata,
                                    instance_uuid, metadata, now)
    _instance_rows.replace_metadata(connection,
                                    models.InstanceSystemMetadata,
                                    instance_uuid, system_metadata, now)
    return _instance_rows.read_instance(connection, instance_uuid)


@db_session.core_reader
def instance_get_by_uuid(context, instance_uuid):
    """:raises: InstanceNotFound, InvalidUUID"""
    _values.validate_uuid(instance_uuid)
    instance = _instance_rows.read_instance(context.connection, instance_uuid)
    if instance is None:
        raise exception.InstanceNotFound(instance_id=instance_uuid)
    return instance


@db_session.core_reader
def instance_get_all_by_host(context, host, node=None):
    """Live instances on ``host`` (and ``node`` if given), oldest first."""
    conditions = [models.Instance.host == host]
    if node is not None:
        conditions.append(models.Instance.node == node)
    return _instance_rows.instances_where(context.connection, *conditions)


@db_session.core_reader
def instance_get_all_by_filters(context, task_states=None, vm_states=None,
                                hosts=None, updated_before=None, limit=None):
    """Live instances matching every filter given; for the proxy's periodic
    tasks, not on the compute wire."""
    conditions = []
    if task_states is not None:
        conditions.append(models.Instance.task_state.in_(task_states))
    if vm_states is not None:
        conditions.append(models.Instance.vm_state.in_(vm_states))
    if hosts is not None:
        conditions.append(models.Instance.host.in_(hosts))
    if updated_before is not None:
        conditions.append(models.Instance.updated_at <
                          _values.parse_time(updated_before))
    return _instance_rows.instances_where(context.connection, *conditions,
                                          limit=limit)


@db_session.core_writer
def instance_destroy(context, instance_uuid, scope_host=None):
    """Soft-delete an instance; returns it as deleted (``deleted`` set to
    its id, ``deleted_at`` set). Its metadata rows stay with it until
    ``purge_deleted_instances`` removes both.

    :raises: InstanceNotFound, InvalidUUID, HostScopeViolation
    """
    _values.validate_uuid(instance_uuid)
    connection = context.connection
    instance = _instance_get(connection, instance_uuid)
    if scope_host is not None and instance.host != scope_host:
        raise exception.HostScopeViolation(
            caller=scope_host, resource='instance %s' % instance_uuid,
            owner=instance.host)
    now = db_session.utcnow()
    conditions = [_INSTANCES.c.id == instance.id, _INSTANCES.c.deleted == 0]
    if scope_host is not None:
        # In the statement too: the instance may have moved since the
        # check above.
        conditions.append(_INSTANCES.c.host == scope_host)
    result = connection.execute(
        sa.update(_INSTANCES).where(*conditions)
        .values(deleted=_INSTANCES.c.id, deleted_at=now, updated_at=now))
    if result.rowcount != 1:
        # Deleted meanwhile (NotFound), or moved away from the caller.
        moved = _instance_get(connection, instance_uuid)
        raise exception.HostScopeViolation(
            caller=scope_host, resource='instance %s' % instance_uuid,
            owner=moved.host)
    return _instance_rows.instance_dicts(
        connection, [_instance_get(connection, instance_uuid,
                                   read_deleted=True)])[0]
