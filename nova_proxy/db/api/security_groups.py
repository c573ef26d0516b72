"""nova's security groups as nova-compute reads them (the groups of an
instance). nova 34 keeps no rules in its database for nova-compute to
read: neutron has them; ``columns_to_join`` of ``instances`` is served,
``rules`` is an empty list."""

from oslo_db import exception as db_exc
import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _scope
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session

_GROUPS = models.SecurityGroup.__table__
_MEMBERS = models.SecurityGroupInstanceAssociation.__table__


def _project_only(context):
    """nova's ``project_only``: a non-admin context sees its project's."""
    if getattr(context, 'is_admin', False):
        return []
    return [_GROUPS.c.project_id == getattr(context, 'project_id', None)]


def _groups(context, *conditions, read_deleted=None):
    return _values.rows(context.connection, sa.select(_GROUPS).where(
        *_values.read_deleted_filter(context, _GROUPS, read_deleted),
        *conditions).order_by(_GROUPS.c.id))


def _with_joins(context, group, columns_to_join):
    joins = set(columns_to_join or ())
    if 'rules' in joins:
        group['rules'] = []
    if 'instances' in joins:
        instances = models.Instance.__table__
        group['instances'] = _values.rows(
            context.connection, sa.select(instances).where(
                instances.c.deleted == 0,
                instances.c.uuid.in_(sa.select(_MEMBERS.c.instance_uuid)
                                     .where(_MEMBERS.c.deleted == 0,
                                            _MEMBERS.c.security_group_id ==
                                            group['id']))))
    return group


@db_session.core_reader
def security_group_get_all(context):
    return _groups(context)


@db_session.core_reader
def security_group_get(context, security_group_id, columns_to_join=None):
    """:raises: SecurityGroupNotFound"""
    found = _groups(context, _GROUPS.c.id == security_group_id,
                    *_project_only(context))
    if not found:
        raise exception.SecurityGroupNotFound(
            security_group_id=security_group_id)
    return _with_joins(context, found[0], columns_to_join)


@db_session.core_reader
def security_group_get_by_name(context, project_id, group_name):
    """:raises: SecurityGroupNotFoundForProject"""
    found = _groups(context, _GROUPS.c.project_id == project_id,
                    _GROUPS.c.name == group_name, read_deleted='no')
    if not found:
        raise exception.SecurityGroupNotFoundForProject(
            project_id=project_id, security_group_id=group_name)
    return _with_joins(context, found[0], ('instances', 'rules'))


@db_session.core_reader
def security_group_get_by_project(context, project_id):
    return _groups(context, _GROUPS.c.project_id == project_id,
                   read_deleted='no')


@db_session.core_reader
def security_group_get_by_instance(context, instance_uuid, *,
                                   scope_host=None):
    """:raises: HostScopeViolation, InstanceNotFound (confined caller)"""
    if scope_host is not None:
        _scope.scoped_instance(context.connection, instance_uuid,
                               scope_host, deleted_too=True)
    return _groups(context, _GROUPS.c.id.in_(
        sa.select(_MEMBERS.c.security_group_id).where(
            _MEMBERS.c.deleted == 0,
            _MEMBERS.c.instance_uuid == instance_uuid)), read_deleted='no')


@db_session.core_reader
def security_group_in_use(context, group_id):
    """Whether a live instance is a member of the group."""
    instances = models.Instance.__table__
    return context.connection.execute(sa.select(_MEMBERS.c.id).where(
        _MEMBERS.c.deleted == 0, _MEMBERS.c.security_group_id == group_id,
        _MEMBERS.c.instance_uuid.in_(sa.select(instances.c.uuid).where(
            instances.c.deleted == 0))).limit(1)).first() is not None


@db_session.core_writer
def security_group_update(context, security_group_id, values):
    """:raises: SecurityGroupNotFound, SecurityGroupExists, InvalidUpdate"""
    values = _values.check_nova_values(_GROUPS, values)
    connection = context.connection
    current = _groups(context, _GROUPS.c.id == security_group_id)
    if not current:
        raise exception.SecurityGroupNotFound(
            security_group_id=security_group_id)
    values.setdefault('updated_at', db_session.utcnow())
    try:
        with connection.begin_nested():
            return _dialect.update_row(connection, _GROUPS,
                                       security_group_id, values)
    except db_exc.DBDuplicateEntry:
        raise exception.SecurityGroupExists(
            project_id=values.get('project_id', current[0]['project_id']),
            security_group_name=values.get('name', current[0]['name']))
