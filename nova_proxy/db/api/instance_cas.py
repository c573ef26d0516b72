"""The compare-and-swap update of an instance, and its friends.

``instance_update`` is one conditional UPDATE: the expected task and vm
states and the host scope are part of its WHERE clause, so two racing
callers cannot both win. ``instance_update_and_get_original`` reads the
original under the row lock first; ``instance_update_and_record`` adds an
action event and a fault in the same transaction.
"""

import copy
import datetime
import functools

import sqlalchemy as sa

from nova_proxy.common import states
from nova_proxy import exception
from nova_proxy.db import _driver
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _instance_joins as _joins
from nova_proxy.db.api import _instance_rows
from nova_proxy.db.api import _scope
from nova_proxy.db.api import _values
from nova_proxy.db.api import actions
from nova_proxy.db import models
from nova_proxy.db import session as db_session


def _expected_list(expected):
    if isinstance(expected, (list, tuple, set, frozenset)):
        return list(expected)
    return [expected]


def _check_expected_value(field, expected):
    for value in _expected_list(expected):
        if value is not None and not isinstance(value, str):
            raise exception.InvalidUpdate(
                field=field, reason='expected states are strings or None')
        try:
            _values.text(value)
        except ValueError as e:
            raise exception.InvalidUpdate(field=field, reason=str(e))


@functools.lru_cache(maxsize=1024)
def _cas_statement(fields, checks, scoped, returning, metadata_from=None,
                   guarded=False):
    """The compare-and-swap UPDATE for one shape of call, built once.

    A shape is what changes the SQL: the fields set, the expected values
    checked (``checks``: ``(column, values, has_null)`` for each column
    with an expectation: how many values and whether NULL its list holds),
    the host scope, and whether the dialect returns the row from the UPDATE
    (``metadata_from``: the dialect's name when the row's metadata comes
    back with it, see ``_dialect.returned_metadata``), and whether the
    UPDATE requires ``_dialect.unchanged_since_snapshot`` (``guarded``).
    Every value is a bound parameter: ``v_<field>`` for the new values,
    ``w_uuid``, ``expected_<column>_<n>`` and ``scope_host``; none is an
    "expanding" list, which SQLAlchemy renders into the SQL at every
    execution. Building the statement for every call cost more CPU than
    running it (measured, see docs/benchmark.rst).
    """
    table = models.Instance.__table__
    conditions = [table.c.uuid == sa.bindparam('w_uuid'),
                  table.c.deleted == 0]
    for name, count, has_null in checks:
        column = table.c[name]
        clauses = []
        if count:
            clauses.append(column.in_([
                sa.bindparam('expected_%s_%d' % (name, i), type_=column.type)
                for i in range(count)]))
        if has_null:
            clauses.append(column.is_(None))
        conditions.append(sa.or_(*clauses) if clauses else sa.false())
    if scoped:
        conditions.append(_scope.SCOPE_CONDITION)
    if guarded:
        conditions.append(_dialect.unchanged_since_snapshot(table))
    statement = sa.update(table).where(*conditions).values(
        _dialect.bound_values(table, fields))
    if returning:
        statement = statement.returning(
            *[table.c[name] for name in _instance_rows.INSTANCE_COLUMNS],
            *_dialect.returned_metadata(metadata_from, table))
    return statement


def _state_check(params, name, expected):
    """The shape of the check of ``name`` against the list ``expected``,
    with its values put in ``params``."""
    values = [v for v in expected if v is not None]
    for i, value in enumerate(values):
        params['expected_%s_%d' % (name, i)] = value
    return name, len(values), len(values) != len(expected)


# Never written by a 2.x update: the row's identity and soft deletion.
_NOVA_PROTECTED = frozenset(['id', 'uuid', 'deleted', 'deleted_at',
                             'internal_id'])


def _nova_expected(expected):
    """nova's ``expected``: column -> a value or a list of values (None
    is NULL), as lists, each value checked against its column."""
    if expected is None:
        return {}
    if not isinstance(expected, dict):
        raise exception.InvalidUpdate(field='expected', reason='not a dict')
    table = models.Instance.__table__
    converters = _values.column_converters(table, _NOVA_PROTECTED)
    result = {}
    for name, value in expected.items():
        convert = converters.get(name)
        if convert is None:
            raise exception.InvalidUpdate(
                field='expected', reason='unknown column %r' % (name,))
        try:
            result[name] = [None if v is None else convert(v)
                            for v in _expected_list(value)]
        except (TypeError, ValueError) as e:
            raise exception.InvalidUpdate(field='expected',
                                          reason='%s: %s' % (name, e))
    return result


def _checked_values(values, nova):
    """``values`` checked (the 2.x calls: against the instance's columns;
    1.x: its field table), and the (system) metadata given, or None."""
    if nova:
        metadata = {}
        for key in ('metadata', 'system_metadata'):
            if key in values:
                try:
                    metadata[key] = _values.METADATA_CONVERTERS[key](
                        values.pop(key))
                except ValueError as e:
                    raise exception.InvalidUpdate(field=key, reason=str(e))
        values = _values.check_nova_values(models.Instance.__table__, values,
                                           protected=_NOVA_PROTECTED)
        return values, metadata.get('metadata'), metadata.get(
            'system_metadata')
    values = _values.check_values(
        values, _instance_rows.INSTANCE_FIELDS,
        protected=_instance_rows.INSTANCE_PROTECTED_FIELDS,
        table=models.Instance.__table__)
    return values, values.pop('metadata', None), values.pop(
        'system_metadata', None)


def _instance_cas(connection, instance_uuid, values, scope_host,
                  locked_original=None, expected=None, nova=False):
    """The compare-and-swap: one conditional UPDATE. Returns the updated
    instance's dict; raises the error that explains a miss.

    ``locked_original``: the instance as read under its row lock in this
    transaction. Metadata is only ever written here, after this UPDATE
    (which takes the same lock), so when the call does not change it the
    original's metadata is the updated instance's, and is not read again.

    It runs as Core statements on the transaction's connection: on PostgreSQL
    and SQLite the UPDATE returns the new row (``RETURNING``) and, unless
    the call writes metadata, the row's metadata too, as JSON arrays, so a
    call is one statement there (on PostgreSQL two when the UPDATE waited
    for a change of the row: ``_dialect.SNAPSHOT_GUARDED``). MariaDB has
    no ``UPDATE ... RETURNING`` and reads the row back.
    """
    _values.validate_uuid(instance_uuid)
    if values is not None and not isinstance(values, dict):
        raise exception.InvalidUpdate(field='values', reason='not a dict')
    # Our own copy: the caller's dict is never changed.
    values = dict(values or {})
    expected = _nova_expected(expected) if nova else {}
    # The expectations as the 1.x calls name them in their errors.
    as_sent = {}
    for field in ('task_state', 'vm_state'):
        key = 'expected_' + field
        if key in values:
            as_sent[field] = values.pop(key)
            _check_expected_value(key, as_sent[field])
            expected[field] = _expected_list(as_sent[field])
    for key in ('metadata', 'system_metadata'):
        # As in nova's DB API: None leaves the dict as it is (an empty
        # dict empties it).
        if key in values and values[key] is None:
            del values[key]
    values, metadata, system_metadata = _checked_values(values, nova)
    if scope_host is not None and values.get('host', scope_host) not in (
            scope_host, None):
        _scope.check_host_move(connection, instance_uuid, scope_host,
                               values['host'])
    now = db_session.utcnow()
    values['updated_at'] = now

    params = dict(_dialect.value_params(values), w_uuid=instance_uuid)
    checks = tuple(_state_check(params, name, expected[name])
                   for name in sorted(expected))
    if scope_host is not None:
        params['scope_host'] = scope_host
    dialect = connection.dialect
    returning = dialect.update_returning
    # The metadata comes back with the row unless this call writes it
    # (after the UPDATE) or the caller has it already.
    metadata_from = None
    if returning and metadata is None and system_metadata is None and \
            locked_original is None:
        metadata_from = _dialect.aggregating_dialect(dialect.name)
    shape = (tuple(sorted(values)), checks, scope_host is not None,
             returning)
    # Guarded where a statement that waited for the row's lock would read
    # its subqueries from before the wait: the metadata it returns, and
    # the migrations of the host scope (one ended by the writer it waited
    # for would still open the instance to the caller).
    guarded = dialect.name in _dialect.SNAPSHOT_GUARDED and (
        metadata_from is not None or scope_host is not None)
    matched, row = _dialect.update_outcome(
        _driver.execute(connection,
                        _cas_statement(*shape, metadata_from, guarded),
                        params), returning)
    if not matched and guarded:
        # A miss, or the row changed while the UPDATE waited for its
        # lock: again without the guard (and so without the metadata).
        metadata_from = None
        if scope_host is not None:
            # Under the row's lock first: the UPDATE then waits for
            # nothing, and its snapshot, taken after the lock, holds what
            # every writer of the row committed, the migrations included.
            _driver.execute(connection, _instance_rows.LOCK_INSTANCE,
                            {'uuid': instance_uuid})
        matched, row = _dialect.update_outcome(
            _driver.execute(connection, _cas_statement(*shape), params),
            returning)
    if not matched:
        _raise_cas_miss(connection, instance_uuid, expected, as_sent,
                        scope_host, nova)
    if metadata is not None:
        _instance_rows.replace_metadata(connection, models.InstanceMetadata,
                                        instance_uuid, metadata, now)
    if system_metadata is not None:
        _instance_rows.replace_metadata(connection,
                                        models.InstanceSystemMetadata,
                                        instance_uuid, system_metadata, now)
    if row is None:
        row = _driver.execute(connection, _instance_rows.INSTANCE_ROW,
                              {'uuid': instance_uuid}).one()
    if metadata_from is not None:
        return _instance_rows.with_returned_metadata(row)
    if locked_original is not None and metadata is None and \
            system_metadata is None:
        return _instance_rows.with_metadata(
            row, dict(locked_original['metadata']),
            dict(locked_original['system_metadata']))
    return _instance_rows.instance_dicts(connection, [row])[0]


def _raise_cas_miss(connection, instance_uuid, expected, as_sent,
                    scope_host, nova):
    """Nothing was written; say why. The row may have changed since the
    UPDATE, so this explains the miss, it never retries the write.

    The class is nova's choice: a task_state in conflict is
    UnexpectedDeletingTaskStateError when it is ``deleting``, else
    UnexpectedTaskStateError; a vm_state in conflict (without the task
    state) UnexpectedVMStateError, ours, a subclass of nova's
    InstanceUpdateConflict, which nova raises for any other column.
    ``nova``: nova's kwargs, ``expected`` and ``actual`` as dicts of the
    columns in conflict; else the 1.x ones: the expectation as sent and the
    actual value of the field the class names.
    """
    table = models.Instance.__table__
    row = connection.execute(
        sa.select(table.c.host, *[table.c[name] for name in expected])
        .where(table.c.uuid == instance_uuid,
               table.c.deleted == 0)).one_or_none()
    if row is None:
        raise exception.InstanceNotFound(instance_id=instance_uuid)
    row = row._mapping
    conflicts = {name: row[name] for name, values in expected.items()
                 if row[name] not in values}
    if not conflicts and scope_host is not None:
        raise exception.HostScopeViolation(
            caller=scope_host, resource='instance %s' % instance_uuid,
            owner=row['host'])
    if 'task_state' in conflicts:
        field = 'task_state'
        cls = (exception.UnexpectedDeletingTaskStateError
               if conflicts['task_state'] == states.TASK_DELETING else
               exception.UnexpectedTaskStateError)
    elif 'vm_state' in conflicts:
        field, cls = 'vm_state', exception.UnexpectedVMStateError
    elif conflicts:
        field, cls = None, exception.InstanceUpdateConflict
    elif nova:
        # The row matched nothing we can name: it changed between the
        # UPDATE and this read.
        field, cls = None, exception.UnknownInstanceUpdateConflict
    else:
        # The 1.x calls report it as the task_state race it almost surely
        # is.
        raise exception.UnexpectedTaskStateError(
            instance_uuid=instance_uuid, expected=as_sent.get('task_state'),
            actual=row.get('task_state'))
    if nova or field is None:
        raise cls(instance_uuid=instance_uuid,
                  expected={name: _values_json(expected[name])
                            for name in conflicts},
                  actual={name: _values.to_iso(value)
                          if isinstance(value, datetime.datetime) else value
                          for name, value in conflicts.items()})
    raise cls(instance_uuid=instance_uuid, expected=as_sent.get(field),
              actual=conflicts[field])


def _values_json(values):
    return [_values.to_iso(v) if isinstance(v, datetime.datetime) else v
            for v in values]


@db_session.hot_writer
def instance_update(context, instance_uuid, values, scope_host=None):
    """Update an instance with a compare-and-swap; returns the new instance.

    ``values`` may carry ``expected_task_state`` and ``expected_vm_state``: a
    value or a list, where None means NULL. The update is one conditional
    UPDATE statement; on a mismatch nothing is written.
    ``metadata`` and ``system_metadata`` replace the whole dict.
    ``scope_host``, set by the proxy for a compute caller, adds "the
    instance is on this host or migrating to or from it" to the condition.

    :raises: InstanceNotFound, InvalidUUID, InvalidUpdate,
        UnexpectedTaskStateError, UnexpectedDeletingTaskStateError,
        UnexpectedVMStateError, HostScopeViolation
    """
    return _instance_cas(context.connection, instance_uuid, values,
                         scope_host)


@db_session.hot_writer
def instance_update_and_get_original(context, instance_uuid, values,
                                     columns_to_join=None, expected=None, *,
                                     scope_host=None):
    """nova's: the compare-and-swap of ``instance_update`` with every
    column writable (but the row's identity and soft deletion), the
    expectations of ``expected`` (column -> value or list) beside
    ``expected_task_state``/``expected_vm_state`` in ``values``, and
    nova's errors (``expected``/``actual`` dicts of the columns in
    conflict; ``UnknownInstanceUpdateConflict`` when the row changed
    between the UPDATE and the explanation).

    The original is read under a row lock (``SELECT ... FOR UPDATE``; on
    SQLite the transaction holds the write lock), so it is exactly the row
    the compare-and-swap replaced; the compare-and-swap is still one
    UPDATE, with the expectations and ``scope_host``'s scope in its WHERE
    clause.

    :returns: ``[original, updated]``, each with ``columns_to_join``
        (nova's default: metadata, system_metadata, info_cache,
        security_groups); what the update does not write (all but the
        metadata) is the original's.
    :raises: InstanceNotFound, InvalidUUID, InvalidUpdate, Invalid,
        UnexpectedTaskStateError, UnexpectedDeletingTaskStateError,
        UnexpectedVMStateError, InstanceUpdateConflict,
        UnknownInstanceUpdateConflict, HostScopeViolation, Forbidden (a
        move to a host that is not the other end of a migration)
    """
    _values.validate_uuid(instance_uuid)
    joins = _joins.parse(columns_to_join, _joins.GET_DEFAULT)
    connection = context.connection
    original = _instance_rows.read_instance(connection, instance_uuid,
                                            locked=True)
    if original is None:
        raise exception.InstanceNotFound(instance_id=instance_uuid)
    if isinstance(values, dict):
        # nova's ORM takes the row's own id and uuid as a no-op (an object
        # built by hand sends them as changes); any other is refused.
        values = {k: v for k, v in values.items()
                  if k not in ('id', 'uuid') or v != original[k]}
    updated = _instance_cas(connection, instance_uuid, values, scope_host,
                            locked_original=original, expected=expected,
                            nova=True)
    _joins.fill(connection, [original], joins)
    for name in joins.names - {'metadata', 'system_metadata', 'fault'}:
        updated[name] = _copied(original[name])
    _joins.fill(connection, [updated],
                _joins.Joins(joins.metadata, joins.extra_columns))
    return [original, updated]


_SCALARS = frozenset([str, int, float, bool, type(None)])


def _copied(value):
    """``copy.deepcopy(value)`` of a join: a row dict of scalars (the
    columns as the wire gives them) copied as a dict, a list of them item
    by item, anything else deep; a tenth of deepcopy's CPU for
    Instance.save's joins."""
    if type(value) is dict and \
            all(type(item) in _SCALARS for item in value.values()):
        return dict(value)
    if type(value) is list:
        return [_copied(item) for item in value]
    return copy.deepcopy(value)


def _check_part(name, values):
    if values is not None and not isinstance(values, dict):
        raise exception.InvalidUpdate(field=name, reason='not a dict')


@db_session.hot_writer
def instance_update_and_record(context, instance_uuid, values,
                               event_start=None, event_finish=None,
                               fault=None, scope_host=None):
    """A compare-and-swap ``instance_update`` with its action event and
    fault, in one transaction; returns the updated instance.

    The parts run in the order nova-compute makes the separate calls:
    ``action_event_start(event_start)``, ``instance_fault_create(fault)``,
    ``instance_update(instance_uuid, values)``,
    ``action_event_finish(event_finish)``; each part given as None is
    skipped. Each dict is exactly what its separate function takes, and
    each part applies ``scope_host`` as that function does. All or
    nothing: when any part raises, the error is the one the separate call
    raises (a compare-and-swap miss raises what ``instance_update`` raises)
    and nothing of any part is written.

    :raises: InvalidUpdate (also for a part that is not a dict),
        InstanceNotFound, InvalidUUID, UnexpectedTaskStateError,
        UnexpectedDeletingTaskStateError, UnexpectedVMStateError,
        HostScopeViolation, InstanceActionNotFound,
        InstanceActionEventNotFound, Conflict
    """
    for name, part in (('event_start', event_start), ('fault', fault),
                       ('event_finish', event_finish)):
        _check_part(name, part)
    connection = context.connection
    if event_start is not None:
        actions.start_event(connection, event_start, scope_host)
    if fault is not None:
        actions.create_fault(connection, fault, scope_host)
    instance = _instance_cas(connection, instance_uuid, values, scope_host)
    if event_finish is not None:
        actions.finish_event(connection, event_finish, scope_host)
    return instance
