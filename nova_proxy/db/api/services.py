"""Services: nova's service calls (wire 2.x, also serving the 1.x ones of
the same names) and the proxy's heartbeat."""

import functools

from oslo_db import exception as db_exc
from oslo_utils import uuidutils
import sqlalchemy as sa

from nova_proxy import conf
from nova_proxy import exception
from nova_proxy.db import _driver
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _host_rows
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session

CONF = conf.CONF

_SERVICES = models.Service.__table__


def _services(context, *conditions, read_deleted=None):
    return _values.table_rows(context, _SERVICES, *conditions,
                              read_deleted=read_deleted)


def _one_service(context, not_found, *conditions, read_deleted=None):
    return _values.table_row(context, _SERVICES, not_found, *conditions,
                             read_deleted=read_deleted)


@db_session.core_reader
def service_get(context, service_id):
    """:raises: ServiceNotFound"""
    return _one_service(
        context, exception.ServiceNotFound(service_id=service_id),
        _SERVICES.c.id == service_id)


@db_session.core_reader
def service_get_by_uuid(context, service_uuid):
    """:raises: ServiceNotFound"""
    return _one_service(
        context, exception.ServiceNotFound(service_id=service_uuid),
        _SERVICES.c.uuid == service_uuid)


@db_session.core_reader
def service_get_minimum_version(context, binaries):
    """:returns: ``{binary: lowest version}`` of the live services of
    ``binaries`` that are not forced down (binaries with none are left
    out).

    :raises: Invalid when ``binaries`` is not a list of strings
    """
    if not all(isinstance(b, str) for b in binaries):
        raise exception.Invalid(reason='binaries must be strings')
    statement = sa.select(
        _SERVICES.c.binary, sa.func.min(_SERVICES.c.version)).where(
        _SERVICES.c.binary.in_(list(binaries)), _SERVICES.c.deleted == 0,
        _SERVICES.c.forced_down.is_(False)).group_by(_SERVICES.c.binary)
    return {binary: version for binary, version in
            context.connection.execute(statement)}


@db_session.core_reader
def service_get_all(context, disabled=None):
    conditions = []
    if disabled is not None:
        conditions.append(_SERVICES.c.disabled.is_(bool(disabled)))
    return _services(context, *conditions)


@db_session.core_reader
def service_get_all_by_topic(context, topic):
    return _services(context, _SERVICES.c.disabled.is_(False),
                     _SERVICES.c.topic == topic, read_deleted='no')


@db_session.core_reader
def service_get_by_host_and_topic(context, host, topic):
    """:returns: the service, or None (as nova)."""
    rows = _services(context, _SERVICES.c.disabled.is_(False),
                     _SERVICES.c.host == host, _SERVICES.c.topic == topic,
                     read_deleted='no')
    return rows[0] if rows else None


@db_session.core_reader
def service_get_all_by_binary(context, binary, include_disabled=False):
    conditions = [_SERVICES.c.binary == binary]
    if not include_disabled:
        conditions.append(_SERVICES.c.disabled.is_(False))
    return _services(context, *conditions)


@db_session.core_reader
def service_get_all_computes_by_hv_type(context, hv_type,
                                        include_disabled=False):
    nodes = models.ComputeNode.__table__
    conditions = [_SERVICES.c.binary == 'nova-compute',
                  _SERVICES.c.host.in_(sa.select(nodes.c.host).where(
                      nodes.c.hypervisor_type == hv_type,
                      nodes.c.deleted == 0))]
    if not include_disabled:
        conditions.append(_SERVICES.c.disabled.is_(False))
    return _services(context, *conditions, read_deleted='no')


@db_session.core_reader
def service_get_by_host_and_binary(context, host, binary):
    """:raises: HostBinaryNotFound"""
    return _one_service(
        context, exception.HostBinaryNotFound(host=host, binary=binary),
        _SERVICES.c.host == host, _SERVICES.c.binary == binary,
        read_deleted='no')


@db_session.core_reader
def service_get_all_by_host(context, host):
    return _services(context, _SERVICES.c.host == host, read_deleted='no')


@db_session.core_reader
def service_get_by_compute_host(context, host):
    """:raises: ComputeHostNotFound"""
    return _one_service(
        context, exception.ComputeHostNotFound(host=host, node=None),
        _SERVICES.c.host == host, _SERVICES.c.binary == 'nova-compute',
        read_deleted='no')


@db_session.core_writer
def service_create(context, values):
    """Create a service. A new ``nova-compute`` service starts disabled
    when ``[proxy] enable_new_services`` is False, as in nova.

    :raises: InvalidUpdate, ServiceBinaryExists, ServiceTopicExists
    """
    values = _values.check_nova_values(_SERVICES, values)
    for field in ('host', 'binary'):
        # Our schema keeps both NOT NULL (nova's does not): a named error,
        # not the database's IntegrityError (the fuzzer found that).
        if values.get(field) is None:
            raise exception.InvalidUpdate(field=field, reason='required')
    if not CONF.proxy.enable_new_services and \
            values.get('binary') == 'nova-compute':
        values['disabled'] = True
        values['disabled_reason'] = ('New compute service disabled due to '
                                     'config option.')
    now = db_session.utcnow()
    values.setdefault('uuid', uuidutils.generate_uuid())
    values.setdefault('created_at', now)
    values.setdefault('report_count', 0)
    values.setdefault('disabled', False)
    values.setdefault('forced_down', False)
    values.setdefault('version', 0)
    connection = context.connection
    try:
        # A savepoint, so that a duplicate can be told apart below: when
        # both keys are taken, databases differ in which they report.
        with connection.begin_nested():
            result = connection.execute(
                sa.insert(_SERVICES).values(deleted=0, **values))
    except db_exc.DBDuplicateEntry:
        if connection.execute(sa.select(_SERVICES.c.id).where(
                _SERVICES.c.host == values.get('host'),
                _SERVICES.c.binary == values.get('binary'),
                _SERVICES.c.deleted == 0)).first() is not None:
            raise exception.ServiceBinaryExists(
                host=values.get('host'), binary=values.get('binary'))
        raise exception.ServiceTopicExists(host=values.get('host'),
                                           topic=values.get('topic'))
    return _dialect.written_row(connection, _SERVICES,
                                result.inserted_primary_key[0], None)


def _one_update(service_id, values, *, scope_host=None):
    """Whether ``service_update`` writes in its UPDATE alone: all but a
    compute host's change of its version, which reads the stored one
    first, locked (``_check_confined_update``)."""
    return scope_host is None or not isinstance(values, dict) or \
        values.get('version') is None


@db_session.autocommit_writer_when(_one_update)
def service_update(context, service_id, values, *, scope_host=None):
    """Set ``values`` on a live service, in one UPDATE confined to
    ``scope_host``. As in nova, a ``report_count`` above the stored one
    sets ``last_seen_up`` (the database's clock) in the same statement.

    That UPDATE is nova-compute's heartbeat, the most frequent call of
    all: on PostgreSQL it commits as it runs, with no BEGIN and COMMIT
    round trips (``autocommit_writer``). Run again after its connection
    was lost, it sets the same values, and a ``report_count`` no longer
    above the stored one leaves ``last_seen_up`` as its first run set it.

    :raises: ServiceNotFound, InvalidUpdate, HostScopeViolation, Conflict
    """
    values = _values.check_nova_values(
        _SERVICES, values, protected=_values.NOVA_PROTECTED | {'uuid'})
    if scope_host is not None:
        _check_confined_update(context.connection, service_id, values,
                               scope_host)
    build = None
    if values.get('report_count') is not None:
        values.pop('last_seen_up', None)
        build = _counted_update
    return _host_rows.update_host_row(
        context.connection, _SERVICES, service_id, values, scope_host,
        'service %s' % service_id,
        lambda: exception.ServiceNotFound(service_id=service_id),
        build=build)


@functools.lru_cache(maxsize=256)
def _counted_update(fields, scoped, returning):
    """``service_update``'s UPDATE of ``fields`` (``report_count`` among
    them), built once per shape: ``last_seen_up`` becomes the database's
    clock when the new count is above the stored one. Building it for
    each call cost more CPU than running it (a heartbeat of nova's)."""
    table = _SERVICES
    count = sa.bindparam('v_report_count', type_=table.c.report_count.type)
    # The CASE first: MySQL and MariaDB evaluate SET left to right with
    # the values already assigned, so it must read the old count before
    # report_count is set.
    ordered = [(table.c.last_seen_up, sa.case(
        (table.c.report_count < count, db_session.db_utcnow()),
        else_=table.c.last_seen_up))]
    ordered += [(table.c[field], sa.bindparam('v_' + field,
                                              type_=table.c[field].type))
                for field in fields]
    statement = sa.update(table).where(
        *_host_rows.host_row_where(table, scoped)).ordered_values(*ordered)
    if returning:
        statement = statement.returning(*table.c)
    return statement


def _check_confined_update(connection, service_id, values, scope_host):
    """A compute host's service keeps its binary and topic, and its
    version does not go down: the lowest version of a binary pins the
    RPC versions of the whole fleet (``service_get_minimum_version``),
    which is no one host's to lower. An operator (unconfined) may."""
    for field in ('binary', 'topic'):
        if field in values:
            raise exception.Forbidden(
                reason='compute host %s may not change the %s of its '
                       'service' % (scope_host, field))
    if values.get('version') is None:
        return
    stored = connection.execute(sa.select(_SERVICES.c.version).where(
        _SERVICES.c.id == service_id, _SERVICES.c.deleted == 0,
        _SERVICES.c.host == scope_host).with_for_update()).scalar()
    if stored is not None and values['version'] < stored:
        raise exception.Forbidden(
            reason='compute host %s may not lower the version of its '
                   'service from %s to %s' % (scope_host, stored,
                                              values['version']))


@db_session.core_writer
def service_destroy(context, service_id, *, scope_host=None):
    """Soft-delete a service; a ``nova-compute`` one takes its compute
    nodes (by service id or host) with it, unmapped, as in nova.

    :raises: ServiceNotFound, HostScopeViolation
    """
    connection = context.connection
    service = _one_service(
        context, exception.ServiceNotFound(service_id=service_id),
        _SERVICES.c.id == service_id, read_deleted='no')
    if scope_host is not None and service['host'] != scope_host:
        raise exception.HostScopeViolation(
            caller=scope_host, resource='service %s' % service_id,
            owner=service['host'])
    now = db_session.utcnow()
    connection.execute(sa.update(_SERVICES).where(
        _SERVICES.c.id == service_id, _SERVICES.c.deleted == 0).values(
        deleted=_SERVICES.c.id, deleted_at=now))
    if service['binary'] == 'nova-compute':
        nodes = models.ComputeNode.__table__
        connection.execute(sa.update(nodes).where(
            nodes.c.deleted == 0,
            sa.or_(nodes.c.host == service['host'],
                   nodes.c.service_id == service_id)).values(
            deleted=nodes.c.id, deleted_at=now, mapped=0))


@db_session.hot_writer
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
    result = _driver.execute(
        connection, _heartbeat_statement(scope_host is not None, returning),
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
