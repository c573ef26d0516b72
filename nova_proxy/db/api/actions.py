"""Instance actions, their events, and instance faults."""

from oslo_db import exception as db_exc
import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _scope
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session


_string, _time = _values.string, _values.parse_time
_FAULT_FIELDS = {'instance_uuid': _string, 'code': _values.integer,
                 'message': _values.truncated, 'details': _values.text,
                 'host': _string}
_FAULTS = models.InstanceFault.__table__
_FAULT_COLUMNS = _values.columns(models.InstanceFault)
_ACTION_FIELDS = {'instance_uuid': _string, 'action': _string,
                  'request_id': _string, 'user_id': _string,
                  'project_id': _string, 'start_time': _time,
                  'finish_time': _time, 'message': _string}
_ACTIONS = models.InstanceAction.__table__
_ACTION_COLUMNS = _values.columns(models.InstanceAction)
_EVENT_FIELDS = {'instance_uuid': _string, 'request_id': _string,
                 'event': _string, 'start_time': _time, 'finish_time': _time,
                 'result': _string, 'traceback': _values.text,
                 'host': _string, 'details': _values.text}
_EVENTS = models.InstanceActionEvent.__table__
_EVENT_COLUMNS = _values.columns(models.InstanceActionEvent)


@db_session.core_writer
def instance_fault_create(context, values, scope_host=None):
    """Record a fault of an instance; returns the fault.

    :raises: InvalidUpdate, InstanceNotFound, HostScopeViolation
    """
    return create_fault(context.connection, values, scope_host)


def create_fault(connection, values, scope_host):
    values = _values.check_values(values, _FAULT_FIELDS, table=_FAULTS)
    _values.require(values, 'instance_uuid')
    _scope.scoped_instance(connection, values['instance_uuid'], scope_host)
    if values.get('code') is None:
        values['code'] = 500
    now = db_session.utcnow()
    return _dialect.insert_row(connection, _FAULTS, dict(
        values, created_at=now, updated_at=now, deleted=0))


@db_session.core_reader
def instance_fault_get_by_instance_uuids(context, instance_uuids):
    """Faults of the given instances: ``{uuid: [fault, ...]}``, newest
    first."""
    f = _FAULTS.c
    result = {u: [] for u in instance_uuids}
    for fault in context.connection.execute(
            sa.select(*f)
            .where(f.instance_uuid.in_(instance_uuids), f.deleted == 0)
            .order_by(f.created_at.desc(), f.id.desc())):
        result[fault.instance_uuid].append(
            _values.row_to_dict(fault, _FAULT_COLUMNS))
    return result


def _action_get(connection, instance_uuid, request_id):
    a = _ACTIONS.c
    action = connection.execute(
        sa.select(*a)
        .where(a.instance_uuid == instance_uuid, a.request_id == request_id,
               a.deleted == 0)
        .order_by(a.id.desc()).limit(1)).one_or_none()
    if action is None:
        raise exception.InstanceActionNotFound(
            action=None, request_id=request_id, instance_uuid=instance_uuid)
    return action


@db_session.core_writer
def instance_action_start(context, values, scope_host=None):
    """Start an action (``instance_uuid``, ``action``, ``request_id``...);
    returns it.

    :raises: InvalidUpdate, InstanceNotFound, HostScopeViolation
    """
    values = _values.check_values(values, _ACTION_FIELDS, table=_ACTIONS)
    _values.require(values, 'instance_uuid', 'action', 'request_id')
    connection = context.connection
    _scope.scoped_instance(connection, values['instance_uuid'], scope_host)
    now = db_session.utcnow()
    values.setdefault('start_time', now)
    values.setdefault('user_id', context.user_id)
    values.setdefault('project_id', context.project_id)
    return _dialect.insert_row(connection, _ACTIONS, dict(
        values, created_at=now, updated_at=now, deleted=0))


@db_session.core_writer
def instance_action_finish(context, values, scope_host=None):
    """Finish the newest action of (``instance_uuid``, ``request_id``).

    :raises: InvalidUpdate, InstanceActionNotFound, HostScopeViolation
    """
    values = _values.check_values(values, _ACTION_FIELDS, table=_ACTIONS)
    _values.require(values, 'instance_uuid', 'request_id')
    connection = context.connection
    _scope.scoped_instance(connection, values['instance_uuid'], scope_host)
    action = _action_get(connection, values['instance_uuid'],
                         values['request_id'])
    changes = {'finish_time': values.get('finish_time') or
               db_session.utcnow()}
    if 'message' in values:
        changes['message'] = values['message']
    changes['updated_at'] = db_session.utcnow()
    return _dialect.update_row(connection, _ACTIONS, action.id, changes)


@db_session.core_reader
def actions_get(context, instance_uuid):
    """Actions of an instance with their events, oldest first."""
    connection = context.connection
    a, e = _ACTIONS.c, _EVENTS.c
    actions = connection.execute(
        sa.select(*a).where(a.instance_uuid == instance_uuid, a.deleted == 0)
        .order_by(a.id)).all()
    result = []
    for action in actions:
        item = _values.row_to_dict(action, _ACTION_COLUMNS)
        item['events'] = [
            _values.row_to_dict(event, _EVENT_COLUMNS)
            for event in connection.execute(
                sa.select(*e).where(e.action_id == action.id)
                .order_by(e.id))]
        result.append(item)
    return result


# The newest live action of (instance, request) and its live event of a
# name, if any, in one statement (an action has at most one live event of
# a name: the unique constraint).
_ACTION_AND_EVENT = sa.select(
    _ACTIONS.c.id.label('found_action_id'), *_EVENTS.c).select_from(
        _ACTIONS.outerjoin(_EVENTS, sa.and_(
            _EVENTS.c.action_id == _ACTIONS.c.id,
            _EVENTS.c.event == sa.bindparam('event'),
            _EVENTS.c.deleted == 0))).where(
        _ACTIONS.c.instance_uuid == sa.bindparam('uuid'),
        _ACTIONS.c.request_id == sa.bindparam('request_id'),
        _ACTIONS.c.deleted == 0).order_by(_ACTIONS.c.id.desc()).limit(1)


def _event_lookup(connection, values, scope_host):
    """Check event ``values``; returns them without the action's keys, the
    action's id and request id, and its live event of that name (a row) or
    None."""
    values = _values.check_values(values, _EVENT_FIELDS, table=_EVENTS)
    _values.require(values, 'instance_uuid', 'request_id', 'event')
    _scope.scoped_instance(connection, values['instance_uuid'], scope_host)
    instance_uuid = values.pop('instance_uuid')
    request_id = values.pop('request_id')
    row = connection.execute(_ACTION_AND_EVENT, {
        'uuid': instance_uuid, 'request_id': request_id,
        'event': values['event']}).first()
    if row is None:
        raise exception.InstanceActionNotFound(
            action=None, request_id=request_id, instance_uuid=instance_uuid)
    event = row if row.id is not None else None
    return values, row.found_action_id, request_id, event


def _write_event(connection, event, values):
    """Insert the event ``values`` (``event`` None) or update the
    ``event`` row with them; returns the event's dict."""
    if event is None:
        return _dialect.insert_row(connection, _EVENTS,
                                   dict(values, deleted=0))
    return _dialect.update_row(connection, _EVENTS, event.id, values)


@db_session.core_writer
def action_event_start(context, values, scope_host=None):
    """Start an event (``event``) of the action of (``instance_uuid``,
    ``request_id``); returns the event.

    An action has at most one event of a name. Starting it again (a retried
    step of the same request) restarts that event: new ``start_time``, no
    ``finish_time``/``result``/``traceback``; so a repeated call leaves one
    event, as one call would.

    :raises: InvalidUpdate, InstanceActionNotFound, HostScopeViolation,
        Conflict when another call starts the same event at the same moment
    """
    return start_event(context.connection, values, scope_host)


def start_event(connection, values, scope_host):
    values, action_id, request_id, event = _event_lookup(
        connection, values, scope_host)
    now = db_session.utcnow()
    values.setdefault('start_time', now)
    # Started again (a retried step): the same event, restarted.
    values = dict({'finish_time': None, 'result': None, 'traceback': None},
                  **values)
    values['updated_at'] = now
    if event is None:
        values.update(action_id=action_id, created_at=now)
    try:
        return _write_event(connection, event, values)
    except db_exc.DBDuplicateEntry:
        raise exception.Conflict(
            reason='event %s of request %s is being started concurrently'
                   % (values['event'], request_id))


@db_session.core_writer
def action_event_finish(context, values, scope_host=None):
    """Finish an event; a ``result`` of ``Error`` marks the action's
    message ``Error`` as nova does.

    :raises: InvalidUpdate, InstanceActionNotFound, HostScopeViolation
    """
    return finish_event(context.connection, values, scope_host)


def finish_event(connection, values, scope_host):
    values, action_id, _, event = _event_lookup(connection, values,
                                                scope_host)
    now = db_session.utcnow()
    if values.get('finish_time') is None:
        # Not given (or None): an event finished before keeps its time.
        given = 'finish_time' in values
        values['finish_time'] = (
            event.finish_time if event is not None and not given and
            event.finish_time is not None else now)
    values['updated_at'] = now
    if event is None:
        values.update(action_id=action_id, created_at=now)
    result = _write_event(connection, event, values)
    if (values.get('result') or '').lower() == 'error':
        connection.execute(
            sa.update(_ACTIONS).where(_ACTIONS.c.id == action_id)
            .values(message='Error', updated_at=now))
    return result
