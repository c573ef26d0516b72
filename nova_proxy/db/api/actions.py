"""Instance actions, their events, and instance faults: nova's calls
(wire 2.x, also serving the 1.x ones of the same names).

Host scope (keyword-only ``scope_host``): these records belong to their
instance, so a confined caller reaches them while the instance is in its
scope (``_scope.SCOPE_CONDITION``: on its host, or at either end of a
migration of it in progress). A soft-deleted instance stays in the scope
of the host it was on: nova-compute records the action, events and fault
of an instance it has just destroyed. Writes check it in their own
transaction, the instance's row locked until it ends: the instance cannot
move away between the check and the write.

Where nova's own rules differ, on purpose:

* ``action_event_start`` of an event the action already has restarts that
  event (new ``start_time``, no finish, result or traceback) instead of
  recording a second one of the same name: a retried step of the same
  request leaves one event, and (``action_id``, ``event``) is unique.
* ``action_finish`` finishes the newest action of (``instance_uuid``,
  ``request_id``), where nova refuses when there are several.
* a fault's ``message`` longer than its column is cut, as nova-compute
  cuts it before calling.
"""

from oslo_db import exception as db_exc
import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _child_scope
from nova_proxy.db import _driver
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _scope
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session

_FAULTS = models.InstanceFault.__table__
_ACTIONS = models.InstanceAction.__table__
_EVENTS = models.InstanceActionEvent.__table__

# An event's values name its action by (instance_uuid, request_id), as
# nova's do; ``action_id`` is found, never taken.
_EVENT_PROTECTED = _values.NOVA_PROTECTED | {'action_id'}
_EVENT_FIELDS = dict(_values.column_converters(_EVENTS, _EVENT_PROTECTED),
                     instance_uuid=_values.string,
                     request_id=_values.string)


def _not_found(instance_uuid, request_id):
    return exception.InstanceActionNotFound(request_id=request_id,
                                            instance_uuid=instance_uuid)


# -- scope ---------------------------------------------------------------

# What a confined caller is refused, by the record it would touch.
_FAULTS_OF = 'the faults of instance %(instance)s'
_ACTIONS_OF = 'the actions of instance %(instance)s'
_EVENTS_OF = 'the action events of instance %(instance)s'


def _check_writable(connection, instance_uuid, scope_host, resource):
    """The instance's row locked for the write (``_scope``'s ``lock``).

    :raises: InvalidUUID, InstanceNotFound, HostScopeViolation
    """
    _scope.scoped_instance(connection, instance_uuid, scope_host,
                           deleted_too=True, lock=True, resource=resource)


def _check_action_readable(connection, action_id, scope_host):
    if scope_host is None:
        return
    instance_uuid = connection.execute(
        sa.select(_ACTIONS.c.instance_uuid).where(
            _ACTIONS.c.id == action_id)).scalar()
    if instance_uuid is not None:
        _child_scope.check_readable(connection, [instance_uuid], scope_host,
                                    'the events of action %s' % action_id)


# -- faults --------------------------------------------------------------

@db_session.core_writer
def instance_fault_create(context, values, *, scope_host=None):
    """Record a fault of an instance; returns it (``code`` 500 unless
    given).

    :raises: InvalidUpdate, InvalidUUID, InstanceNotFound,
        HostScopeViolation
    """
    return create_fault(context.connection, values, scope_host)


def create_fault(connection, values, scope_host):
    """``instance_fault_create`` in the caller's transaction."""
    if isinstance(values, dict) and isinstance(values.get('message'), str):
        values = dict(values, message=values['message'][:255])
    values = _values.check_nova_values(_FAULTS, values)
    _values.require(values, 'instance_uuid')
    _check_writable(connection, values['instance_uuid'], scope_host,
                    _FAULTS_OF)
    if values.get('code') is None:
        values['code'] = 500
    now = db_session.utcnow()
    values.setdefault('created_at', now)
    return _dialect.insert_row(connection, _FAULTS, dict(values, deleted=0))


@db_session.core_reader
def instance_fault_get_by_instance_uuids(context, instance_uuids,
                                         latest=False, *, scope_host=None):
    """The live faults of ``instance_uuids``: ``{uuid: [fault, ...]}``,
    newest first, every uuid a key; with ``latest`` only the newest fault
    of each.

    :raises: HostScopeViolation
    """
    if not instance_uuids:
        return {}
    connection = context.connection
    _child_scope.check_readable(connection, instance_uuids, scope_host,
                                _FAULTS_OF)
    f = _FAULTS.c
    statement = sa.select(_FAULTS).where(
        f.instance_uuid.in_(list(instance_uuids)), f.deleted == 0)
    if latest:
        newest = sa.select(sa.func.max(f.id)).where(
            f.instance_uuid.in_(list(instance_uuids)),
            f.deleted == 0).group_by(f.instance_uuid)
        statement = statement.where(f.id.in_(newest))
    result = {uuid: [] for uuid in instance_uuids}
    for fault in _values.rows(connection, statement.order_by(f.id.desc())):
        result[fault['instance_uuid']].append(fault)
    return result


# -- actions -------------------------------------------------------------

def _newest_action(connection, instance_uuid, request_id=None):
    """The newest live action of the instance (of ``request_id`` if
    given), as a row, or None."""
    a = _ACTIONS.c
    statement = sa.select(_ACTIONS).where(a.instance_uuid == instance_uuid,
                                          a.deleted == 0)
    if request_id is not None:
        statement = statement.where(a.request_id == request_id)
    return connection.execute(statement.order_by(
        a.created_at.desc(), a.id.desc()).limit(1)).first()


@db_session.core_writer
def action_start(context, values, *, scope_host=None):
    """Start an action of an instance: a new row of ``values`` (nova's
    objects send ``instance_uuid``, ``request_id``, ``action``,
    ``user_id``, ``project_id``, ``start_time``, ``updated_at``).

    :raises: InvalidUpdate, InvalidUUID, InstanceNotFound,
        HostScopeViolation
    """
    return _start_action(context.connection, values, scope_host)


def _start_action(connection, values, scope_host, defaults=None):
    values = _values.check_nova_values(_ACTIONS, values)
    _values.require(values, 'instance_uuid')
    _check_writable(connection, values['instance_uuid'], scope_host,
                    _ACTIONS_OF)
    values = dict(defaults or {}, **values)
    values.setdefault('created_at', db_session.utcnow())
    return _dialect.insert_row(connection, _ACTIONS,
                               dict(values, deleted=0))


@db_session.core_writer
def instance_action_start(context, values, scope_host=None):
    """The 1.x ``instance_action_start``: ``action_start`` that requires
    ``action`` and ``request_id`` and fills ``user_id``, ``project_id``
    (the context's) and ``start_time`` (now) when not given.

    :raises: InvalidUpdate, InvalidUUID, InstanceNotFound,
        HostScopeViolation
    """
    if isinstance(values, dict):
        _values.require(values, 'instance_uuid', 'action', 'request_id')
    now = db_session.utcnow()
    return _start_action(context.connection, values, scope_host, defaults={
        'user_id': context.user_id, 'project_id': context.project_id,
        'start_time': now, 'updated_at': now})


@db_session.core_writer
def action_finish(context, values, *, scope_host=None):
    """Set ``values`` (nova's objects send ``finish_time`` and
    ``updated_at``) on the newest live action of (``instance_uuid``,
    ``request_id``); returns it.

    :raises: InvalidUpdate, InvalidUUID, InstanceNotFound,
        InstanceActionNotFound, HostScopeViolation
    """
    return _finish_action(context.connection, values, scope_host)


def _finish_action(connection, values, scope_host, defaults=None):
    values = _values.check_nova_values(_ACTIONS, values)
    _values.require(values, 'instance_uuid', 'request_id')
    instance_uuid, request_id = values['instance_uuid'], values['request_id']
    _check_writable(connection, instance_uuid, scope_host, _ACTIONS_OF)
    action = _newest_action(connection, instance_uuid, request_id)
    if action is None:
        raise _not_found(instance_uuid, request_id)
    values = dict(defaults or {}, **values)
    return _dialect.update_row(connection, _ACTIONS, action.id, values)


@db_session.core_writer
def instance_action_finish(context, values, scope_host=None):
    """The 1.x ``instance_action_finish``: ``action_finish`` with
    ``finish_time`` and ``updated_at`` now when not given.

    :raises: as ``action_finish``
    """
    now = db_session.utcnow()
    return _finish_action(context.connection, values, scope_host,
                          defaults={'finish_time': now, 'updated_at': now})


@db_session.core_reader
def action_get_by_request_id(context, instance_uuid, request_id, *,
                             scope_host=None):
    """The newest live action of the instance for ``request_id``, or None
    (as nova).

    :raises: HostScopeViolation
    """
    connection = context.connection
    _child_scope.check_readable(connection, [instance_uuid], scope_host,
                                _ACTIONS_OF)
    action = _newest_action(connection, instance_uuid, request_id)
    return None if action is None else _values.row_to_dict(
        action, _ACTIONS.c.keys())


@db_session.core_reader
def actions_get(context, instance_uuid, limit=None, marker=None,
                filters=None, *, scope_host=None):
    """The instance's actions, newest first (``created_at``, then ``id``),
    at most ``limit``, those after the action of request id ``marker``;
    ``filters`` may hold nova's ``changes-since`` and ``changes-before``
    (times, on ``updated_at``).

    :raises: MarkerNotFound, InvalidUpdate (a filter that is not a time),
        HostScopeViolation
    """
    if limit == 0:
        return []
    connection = context.connection
    _child_scope.check_readable(connection, [instance_uuid], scope_host,
                                _ACTIONS_OF)
    a = _ACTIONS.c
    statement = sa.select(_ACTIONS).where(
        a.instance_uuid == instance_uuid,
        *_values.read_deleted_filter(context, _ACTIONS))
    for key, compare in (('changes-since', a.updated_at.__ge__),
                         ('changes-before', a.updated_at.__le__)):
        if (filters or {}).get(key) is not None:
            try:
                since = _values.parse_time(filters[key])
            except ValueError as e:
                raise exception.InvalidUpdate(field=key, reason=str(e))
            statement = statement.where(compare(since))
    if marker is not None:
        found = _newest_action(connection, instance_uuid, marker)
        if found is None:
            raise exception.MarkerNotFound(marker=marker)
        statement = statement.where(sa.or_(
            a.created_at < found.created_at,
            sa.and_(a.created_at == found.created_at, a.id < found.id)))
    statement = statement.order_by(a.created_at.desc(), a.id.desc())
    if limit is not None:
        statement = statement.limit(limit)
    return _values.rows(connection, statement)


@db_session.core_reader
def actions_get_with_events(context, instance_uuid):
    """The instance's live actions, oldest first, each with its
    ``events`` (oldest first): the proxy's own view (tests, tools)."""
    connection = context.connection
    a, e = _ACTIONS.c, _EVENTS.c
    result = _values.rows(connection, sa.select(_ACTIONS).where(
        a.instance_uuid == instance_uuid, a.deleted == 0).order_by(a.id))
    for action in result:
        action['events'] = _values.rows(connection, sa.select(_EVENTS).where(
            e.action_id == action['id']).order_by(e.id))
    return result


# -- events --------------------------------------------------------------

# The newest live action of (instance, request), or of the instance, and
# its live event of a name, if any, in one statement (an action has at
# most one live event of a name: the unique constraint).
def _action_and_event(by_request):
    a, e = _ACTIONS.c, _EVENTS.c
    statement = sa.select(a.id.label('found_action_id'), *e).select_from(
        _ACTIONS.outerjoin(_EVENTS, sa.and_(
            e.action_id == a.id, e.event == sa.bindparam('event'),
            e.deleted == 0))).where(
        a.instance_uuid == sa.bindparam('uuid'), a.deleted == 0)
    if by_request:
        statement = statement.where(
            a.request_id == sa.bindparam('request_id'))
    return statement.order_by(a.created_at.desc(), a.id.desc()).limit(1)


_BY_REQUEST = _action_and_event(True)
_LAST_OF_INSTANCE = _action_and_event(False)


def _event_lookup(connection, fallback, values, scope_host):
    """Check event ``values``; returns them without the action's keys, the
    action's id, whether it is the action of the request, and the action's
    live event of that name (a row) or None.

    With ``fallback`` (nova's rule, for a context without a project:
    nova-compute's own, restarting), a request that has no action gets the
    instance's newest action, which then keeps its ``updated_at``.
    """
    values = _values.check_values(values, _EVENT_FIELDS,
                                  protected=_EVENT_PROTECTED, table=_EVENTS)
    _values.require(values, 'instance_uuid', 'request_id', 'event')
    _check_writable(connection, values['instance_uuid'], scope_host,
                    _EVENTS_OF)
    instance_uuid = values.pop('instance_uuid')
    request_id = values.pop('request_id')
    params = {'uuid': instance_uuid, 'request_id': request_id,
              'event': values['event']}
    row = _driver.execute(connection, _BY_REQUEST, params).first()
    of_request = row is not None
    if row is None and fallback:
        row = _driver.execute(connection, _LAST_OF_INSTANCE,
                              params).first()
    if row is None:
        raise _not_found(instance_uuid, request_id)
    event = row if row.id is not None else None
    return values, row.found_action_id, of_request, event


def _touch_action(connection, action_id, changes):
    _dialect.update_by_id(connection, _ACTIONS, action_id, changes)


def _fallback(context, last_action_fallback):
    return last_action_fallback and not context.project_id


@db_session.hot_writer
def action_event_start(context, values, *, scope_host=None,
                       last_action_fallback=True):
    """Start an event (``event``, ``host``, ``start_time``...) of the
    action of (``instance_uuid``, ``request_id``); returns the event. The
    action's ``updated_at`` becomes the event's ``start_time``.

    Starting an event the action has restarts it (the module's
    docstring).

    :param last_action_fallback: nova's rule, that a context without a
        project whose request has no action gets the instance's newest
        action; False for the 1.x calls, whose caller starts the action
        it does not find.
    :raises: InvalidUpdate, InvalidUUID, InstanceNotFound,
        InstanceActionNotFound, HostScopeViolation, Conflict when another
        call starts the same event at the same moment
    """
    return start_event(context.connection, values, scope_host,
                       _fallback(context, last_action_fallback))


def start_event(connection, values, scope_host, fallback=False):
    """``action_event_start`` in the caller's transaction."""
    values, action_id, of_request, event = _event_lookup(
        connection, fallback, values, scope_host)
    now = db_session.utcnow()
    if values.get('start_time') is None:
        values['start_time'] = now
    # Started again (a retried step): the same event, restarted.
    values = dict({'finish_time': None, 'result': None, 'traceback': None},
                  **values)
    values['updated_at'] = now
    try:
        # A savepoint: a duplicate leaves the transaction usable.
        with connection.begin_nested():
            if event is None:
                written = _dialect.insert_row(connection, _EVENTS, dict(
                    values, action_id=action_id, created_at=now, deleted=0))
            else:
                written = _dialect.update_row(connection, _EVENTS, event.id,
                                              values)
    except db_exc.DBDuplicateEntry:
        raise exception.Conflict(
            reason='event %s of action %s is being started concurrently'
                   % (values['event'], action_id))
    if of_request:
        _touch_action(connection, action_id,
                      {'updated_at': values['start_time']})
    return written


@db_session.hot_writer
def action_event_finish(context, values, *, scope_host=None,
                        last_action_fallback=True):
    """Finish an event of the action of (``instance_uuid``,
    ``request_id``) with ``values`` (``finish_time``, ``result``,
    ``traceback``, ``details``...); returns it. A ``result`` of ``Error``
    sets the action's ``message`` to ``Error``; the action's
    ``updated_at`` becomes the event's ``finish_time``, as nova. A finish
    without ``finish_time`` keeps the event's first one.

    :param last_action_fallback: as ``action_event_start``'s.
    :raises: InvalidUpdate, InvalidUUID, InstanceNotFound,
        InstanceActionNotFound, InstanceActionEventNotFound,
        HostScopeViolation
    """
    return finish_event(context.connection, values, scope_host,
                        _fallback(context, last_action_fallback))


def finish_event(connection, values, scope_host, fallback=False):
    """``action_event_finish`` in the caller's transaction."""
    values, action_id, of_request, event = _event_lookup(
        connection, fallback, values, scope_host)
    if event is None:
        raise exception.InstanceActionEventNotFound(action_id=action_id,
                                                    event=values['event'])
    now = db_session.utcnow()
    if values.get('finish_time') is None:
        values['finish_time'] = event.finish_time or now
    values['updated_at'] = now
    written = _dialect.update_row(connection, _EVENTS, event.id, values)
    changes = {}
    if (values.get('result') or '').lower() == 'error':
        changes['message'] = 'Error'
    if of_request:
        changes['updated_at'] = values['finish_time']
    if changes:
        _touch_action(connection, action_id, changes)
    return written


@db_session.core_reader
def action_events_get(context, action_id, *, scope_host=None):
    """The live events of an action, newest first (``created_at``, then
    ``id``).

    :raises: HostScopeViolation
    """
    connection = context.connection
    _check_action_readable(connection, action_id, scope_host)
    e = _EVENTS.c
    return _values.rows(connection, sa.select(_EVENTS).where(
        e.action_id == action_id,
        *_values.read_deleted_filter(context, _EVENTS)).order_by(
        e.created_at.desc(), e.id.desc()))


@db_session.core_reader
def action_event_get_by_id(context, action_id, event_id, *,
                           scope_host=None):
    """The event ``event_id`` of the action, or None (as nova).

    :raises: HostScopeViolation
    """
    connection = context.connection
    _check_action_readable(connection, action_id, scope_host)
    e = _EVENTS.c
    rows = _values.rows(connection, sa.select(_EVENTS).where(
        e.action_id == action_id, e.id == event_id,
        *_values.read_deleted_filter(context, _EVENTS)))
    return rows[0] if rows else None
