"""Services: create, read, update, and the heartbeat."""

import functools

import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _host_rows
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session


_SERVICE_FIELDS = {
    'host': _values.string, 'binary': _values.string,
    'topic': _values.string, 'report_count': _values.integer,
    'disabled': _values.boolean, 'disabled_reason': _values.string,
    'forced_down': _values.boolean, 'last_seen_up': _values.parse_time,
    'version': _values.integer,
}
_SERVICE_CREATE_FIELDS = dict(_SERVICE_FIELDS, uuid=_values.string)
_SERVICES = models.Service.__table__
_SERVICE_COLUMNS = _values.columns(models.Service)


def _service_dict(service):
    return _values.row_to_dict(service, _SERVICE_COLUMNS)


@db_session.core_reader
def service_get_by_host_and_binary(context, host, binary):
    """:raises: ServiceNotFound"""
    s = _SERVICES.c
    service = context.connection.execute(sa.select(*s).where(
        s.host == host, s.binary == binary, s.deleted == 0)).one_or_none()
    if service is None:
        raise exception.ServiceNotFound(service_id='%s/%s' % (host, binary))
    return _service_dict(service)


@db_session.core_reader
def service_get_all(context, binary=None, include_disabled=True):
    s = _SERVICES.c
    query = sa.select(*s).where(s.deleted == 0)
    if binary is not None:
        query = query.where(s.binary == binary)
    if not include_disabled:
        query = query.where(s.disabled.is_(False))
    return [_service_dict(row) for row in
            context.connection.execute(query.order_by(s.id))]


@db_session.core_writer
def service_create(context, values):
    """:raises: InvalidUpdate, ServiceExists"""
    return _host_rows.create_host_row(
        context.connection, _SERVICES, values, _SERVICE_CREATE_FIELDS,
        ('host', 'binary'), exception.ServiceExists)


@db_session.core_writer
def service_update(context, service_id, values, scope_host=None):
    """:raises: ServiceNotFound, InvalidUpdate, HostScopeViolation,
        Conflict"""
    values = _values.check_values(values, _SERVICE_FIELDS,
                                  protected=_host_rows.UPDATE_PROTECTED,
                                  table=models.Service.__table__)
    return _host_rows.update_host_row(
        context.connection, models.Service, service_id, values, scope_host,
        'service %s' % service_id,
        lambda: exception.ServiceNotFound(service_id=service_id))


@db_session.core_writer
def service_heartbeat(context, service_id, scope_host=None):
    """Record that a service is up: one UPDATE that increments
    ``report_count`` and sets ``last_seen_up`` to the database's clock.

    :raises: ServiceNotFound, HostScopeViolation
    """
    if isinstance(service_id, bool) or not isinstance(service_id, int):
        raise exception.ServiceNotFound(service_id=service_id)
    table = models.Service.__table__
    connection = context.connection
    returning = connection.dialect.update_returning
    result = connection.execute(
        _heartbeat_statement(scope_host is not None, returning),
        {'w_id': service_id, 'scope_host': scope_host,
         'now': db_session.utcnow()})
    return _host_rows.host_row_result(
        connection, table, service_id, result, returning, scope_host,
        'service %s' % service_id,
        lambda: exception.ServiceNotFound(service_id=service_id))


@functools.lru_cache(maxsize=4)
def _heartbeat_statement(scoped, returning):
    table = models.Service.__table__
    statement = sa.update(table).where(
        *_host_rows.host_row_where(table, scoped)).values(
        report_count=table.c.report_count + 1,
        last_seen_up=db_session.db_utcnow(),
        updated_at=sa.bindparam('now', type_=table.c.updated_at.type))
    if returning:
        statement = statement.returning(*table.c)
    return statement
