"""The compare-and-swap update of an instance, and its friends.

``instance_update`` is one conditional UPDATE: the expected task and vm
states and the host scope are part of its WHERE clause, so two racing
callers cannot both win. ``instance_update_and_get_original`` reads the
original under the row lock first; ``instance_update_and_record`` adds an
action event and a fault in the same transaction.
"""

import functools

import sqlalchemy as sa

from nova_proxy.common import states
from nova_proxy import exception
from nova_proxy.db.api import _dialect
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
def _cas_statement(fields, task_check, vm_check, scoped, returning,
                   metadata_from=None, guarded=False):
    """The compare-and-swap UPDATE for one shape of call, built once.

    A shape is what changes the SQL: the fields set, whether each expected
    state is checked and how many values and whether NULL its list holds
    (``task_check``/``vm_check``: None, or ``(values, has_null)``), the
    host scope, and whether the dialect returns the row from the UPDATE
    (``metadata_from``: the dialect's name when the row's metadata comes
    back with it, see ``_dialect.returned_metadata``), and whether the
    UPDATE requires ``_dialect.unchanged_since_snapshot`` (``guarded``).
    Every value is a bound parameter: ``v_<field>`` for the new values,
    ``w_uuid``, ``expected_task_state_<n>``/``expected_vm_state_<n>`` and
    ``scope_host``; none is an "expanding" list, which SQLAlchemy renders
    into the SQL at every execution. Building the statement for every
    call cost more CPU than running it (measured, see
    docs/benchmark.rst).
    """
    table = models.Instance.__table__
    conditions = [table.c.uuid == sa.bindparam('w_uuid'),
                  table.c.deleted == 0]
    for column, check, name in ((table.c.task_state, task_check,
                                 'expected_task_state'),
                                (table.c.vm_state, vm_check,
                                 'expected_vm_state')):
        if check is None:
            continue
        count, has_null = check
        clauses = []
        if count:
            clauses.append(column.in_([sa.bindparam('%s_%d' % (name, i))
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
    """The shape of an expected-state check, with its values put in
    ``params``."""
    expected = _expected_list(expected)
    values = [v for v in expected if v is not None]
    for i, value in enumerate(values):
        params['%s_%d' % (name, i)] = value
    return len(values), len(values) != len(expected)


def _instance_cas(connection, instance_uuid, values, scope_host,
                  locked_original=None):
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
    has_task = 'expected_task_state' in values
    has_vm = 'expected_vm_state' in values
    expected_task = values.pop('expected_task_state', None)
    expected_vm = values.pop('expected_vm_state', None)
    if has_task:
        _check_expected_value('expected_task_state', expected_task)
    if has_vm:
        _check_expected_value('expected_vm_state', expected_vm)
    for key in ('metadata', 'system_metadata'):
        # As in nova's DB API: None leaves the dict as it is (an empty
        # dict empties it).
        if key in values and values[key] is None:
            del values[key]
    values = _values.check_values(
        values, _instance_rows.INSTANCE_FIELDS,
        protected=_instance_rows.INSTANCE_PROTECTED_FIELDS,
        table=models.Instance.__table__)
    metadata = values.pop('metadata', None)
    system_metadata = values.pop('system_metadata', None)
    if scope_host is not None and values.get('host', scope_host) not in (
            scope_host, None):
        _scope.check_host_move(connection, instance_uuid, scope_host,
                               values['host'])
    now = db_session.utcnow()
    values['updated_at'] = now

    params = dict(_dialect.value_params(values), w_uuid=instance_uuid)
    task_check = vm_check = None
    if has_task:
        task_check = _state_check(params, 'expected_task_state',
                                  expected_task)
    if has_vm:
        vm_check = _state_check(params, 'expected_vm_state', expected_vm)
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
    shape = (tuple(sorted(values)), task_check, vm_check,
             scope_host is not None, returning)
    # Guarded where a statement that waited for the row's lock would read
    # its subqueries from before the wait: the metadata it returns, and
    # the migrations of the host scope (one ended by the writer it waited
    # for would still open the instance to the caller).
    guarded = dialect.name in _dialect.SNAPSHOT_GUARDED and (
        metadata_from is not None or scope_host is not None)
    matched, row = _dialect.update_outcome(
        connection.execute(_cas_statement(*shape, metadata_from, guarded),
                           params), returning)
    if not matched and guarded:
        # A miss, or the row changed while the UPDATE waited for its
        # lock: again without the guard (and so without the metadata).
        metadata_from = None
        if scope_host is not None:
            # Under the row's lock first: the UPDATE then waits for
            # nothing, and its snapshot, taken after the lock, holds what
            # every writer of the row committed, the migrations included.
            connection.execute(_instance_rows.LOCK_INSTANCE,
                               {'uuid': instance_uuid})
        matched, row = _dialect.update_outcome(
            connection.execute(_cas_statement(*shape), params), returning)
    if not matched:
        _raise_cas_miss(connection, instance_uuid, has_task, expected_task,
                        has_vm, expected_vm, scope_host)
    if metadata is not None:
        _instance_rows.replace_metadata(connection, models.InstanceMetadata,
                                        instance_uuid, metadata, now)
    if system_metadata is not None:
        _instance_rows.replace_metadata(connection,
                                        models.InstanceSystemMetadata,
                                        instance_uuid, system_metadata, now)
    if row is None:
        row = connection.execute(_instance_rows.INSTANCE_ROW,
                                 {'uuid': instance_uuid}).one()
    if metadata_from is not None:
        return _instance_rows.with_returned_metadata(row)
    if locked_original is not None and metadata is None and \
            system_metadata is None:
        return _instance_rows.with_metadata(
            row, dict(locked_original['metadata']),
            dict(locked_original['system_metadata']))
    return _instance_rows.instance_dicts(connection, [row])[0]


def _raise_cas_miss(connection, instance_uuid, has_task, expected_task,
                    has_vm, expected_vm, scope_host):
    """Nothing was written; say why. The row may have changed since the
    UPDATE, so this explains the miss, it never retries the write."""
    row = connection.execute(
        sa.select(models.Instance.task_state, models.Instance.vm_state,
                  models.Instance.host)
        .where(models.Instance.uuid == instance_uuid,
               models.Instance.deleted == 0)).one_or_none()
    if row is None:
        raise exception.InstanceNotFound(instance_id=instance_uuid)
    task_state, vm_state, host = row
    if has_task and task_state not in _expected_list(expected_task):
        cls = (exception.UnexpectedDeletingTaskStateError
               if task_state == states.TASK_DELETING else
               exception.UnexpectedTaskStateError)
        raise cls(instance_uuid=instance_uuid, expected=expected_task,
                  actual=task_state)
    if has_vm and vm_state not in _expected_list(expected_vm):
        raise exception.UnexpectedVMStateError(
            instance_uuid=instance_uuid, expected=expected_vm,
            actual=vm_state)
    if scope_host is not None:
        raise exception.HostScopeViolation(
            caller=scope_host, resource='instance %s' % instance_uuid,
            owner=host)
    # The row matched nothing we can name: it changed between the UPDATE
    # and this read. Report it as the task_state race it almost surely is.
    raise exception.UnexpectedTaskStateError(
        instance_uuid=instance_uuid, expected=expected_task,
        actual=task_state)


@db_session.core_writer
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


@db_session.core_writer
def instance_update_and_get_original(context, instance_uuid, values,
                                     scope_host=None):
    """As ``instance_update``; returns ``[original, updated]``.

    The original is read under a row lock (``SELECT ... FOR UPDATE``; on
    SQLite the transaction holds the write lock), so it is exactly the row
    the compare-and-swap replaced.
    """
    _values.validate_uuid(instance_uuid)
    connection = context.connection
    original = _instance_rows.read_instance(connection, instance_uuid,
                                            locked=True)
    if original is None:
        raise exception.InstanceNotFound(instance_id=instance_uuid)
    updated = _instance_cas(connection, instance_uuid, values, scope_host,
                            locked_original=original)
    return [original, updated]


def _check_part(name, values):
    if values is not None and not isinstance(values, dict):
        raise exception.InvalidUpdate(field=name, reason='not a dict')


@db_session.core_writer
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
