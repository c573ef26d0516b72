"""Lists of instances: nova's calls that list them, by host, node,
time window and nova's filters, sorted and paginated (wire 2.x, also
serving the 1.x calls of the same names).

Where a caller is confined to a host (``scope_host``), a list is limited
to the instances in its scope in the statement itself.
"""

import datetime
import functools
import re

from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import utils as sqlalchemyutils
import sqlalchemy as sa

from nova_proxy.common import states
from nova_proxy import exception
from nova_proxy.db import _driver
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _instance_joins as _joins
from nova_proxy.db.api import _instance_reads as _reads
from nova_proxy.db.api import _instance_rows
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session

__all__ = ['instance_get_active_by_window_joined', 'instance_get_all',
           'instance_get_all_by_filters', 'instance_get_all_by_filters_sort',
           'instance_get_all_by_host', 'instance_get_all_by_host_and_node',
           'instance_get_all_by_host_and_not_type',
           'instance_get_all_hung_in_rebooting',
           'instance_get_all_uuids_by_hosts']

_INSTANCES = _reads.INSTANCES
# Exact-match filters of nova's instance_get_all_by_filters_sort.
_EXACT_FILTERS = ('project_id', 'user_id', 'image_ref', 'vm_state',
                  'instance_type_id', 'uuid', 'metadata', 'host',
                  'task_state', 'system_metadata', 'locked', 'hidden')


def _list(context, conditions, columns_to_join, scope_host,
          default=_joins.LIST_DEFAULT, read_deleted=None):
    joins = _joins.parse(columns_to_join, default)
    statement = _reads.select(
        *conditions, *_reads.scoped(scope_host), read_deleted=read_deleted,
        context=context).order_by(_INSTANCES.c.id)
    return _reads.dicts(context.connection, statement, joins,
                        _reads.params(scope_host))


@functools.lru_cache(maxsize=16)
def _on_host_statement(read_deleted, by_node, metadata_from):
    """The instances on the bound ``host`` (and ``node``), built once per
    shape: nova-compute lists its own at every period, and building the
    statement cost more CPU than running it (measured in-process on
    PostgreSQL). Their metadata comes with them where ``metadata_from``
    names a dialect that aggregates it (``_dialect.returned_metadata``):
    one statement less than reading it after."""
    conditions = [_INSTANCES.c.host == sa.bindparam('host')]
    if by_node:
        conditions.append(_INSTANCES.c.node == sa.bindparam('node'))
    return _reads.select(*conditions, read_deleted=read_deleted).add_columns(
        *_dialect.returned_metadata(metadata_from, _INSTANCES)).order_by(
        _INSTANCES.c.id)


def _on_host(context, host, node, columns_to_join, default, by_node):
    """``_list`` of the instances on ``host`` (and ``node`` when
    ``by_node``), with a statement built once (a None compared is
    SQL's IS NULL: ``_list``'s)."""
    if host is None or (by_node and node is None):
        conditions = [_INSTANCES.c.host == host]
        if by_node:
            conditions.append(_INSTANCES.c.node == node)
        return _list(context, conditions, columns_to_join, None,
                     default=default)
    joins = _joins.parse(columns_to_join, default)
    mode = _values.read_deleted_mode(context)
    params = {'host': host}
    if by_node:
        params['node'] = node
    connection = context.connection
    metadata_from = _dialect.aggregating_dialect(
        connection.dialect.name) if joins.metadata else None
    rows = _driver.execute(connection, _on_host_statement(
        mode, by_node, metadata_from), params).all()
    if metadata_from is None:
        return _reads.row_dicts(connection, rows, joins)
    return _joins.fill(connection, [
        _instance_rows.with_returned_metadata(row) for row in rows], joins)


@db_session.core_reader
def instance_get_all(context, columns_to_join=None, *, scope_host=None):
    """Every instance (read_deleted as the context says; a caller that is
    not admin: its project's), oldest first; only those in
    ``scope_host``'s scope when given."""
    return _list(context, _reads.project_only(context), columns_to_join,
                 scope_host)


@db_session.hot_reader
def instance_get_all_by_host(context, host, columns_to_join=None):
    """The instances on ``host``, oldest first."""
    return _on_host(context, host, None, columns_to_join,
                    _joins.LIST_DEFAULT, by_node=False)


@db_session.hot_reader
def instance_get_all_by_host_and_node(context, host, node,
                                      columns_to_join=None):
    """The instances on ``host`` and ``node``; nova's default joins here
    are info_cache and security_groups, without metadata."""
    return _on_host(context, host, node, columns_to_join,
                    ('info_cache', 'security_groups'), by_node=True)


@db_session.core_reader
def instance_get_all_by_host_and_not_type(context, host, type_id=None):
    """The instances on ``host`` whose ``instance_type_id`` is not
    ``type_id``; ``type_id`` None: those that have one (nova's
    ``!= None`` is SQL's ``IS NOT NULL``)."""
    return _list(context, [_INSTANCES.c.host == host,
                           _INSTANCES.c.instance_type_id != type_id], None,
                 None)


@db_session.core_reader
def instance_get_all_hung_in_rebooting(context, reboot_window, *,
                                       scope_host=None):
    """The instances in task_state ``rebooting`` not updated for
    ``reboot_window`` seconds, without joins."""
    reboot_window = _values.integer(reboot_window)
    cutoff = db_session.utcnow() - datetime.timedelta(seconds=reboot_window)
    return _list(context, [_INSTANCES.c.updated_at <= cutoff,
                           _INSTANCES.c.task_state == states.TASK_REBOOTING],
                 [], scope_host)


@db_session.core_reader
def instance_get_all_uuids_by_hosts(context, hosts):
    """:returns: ``{host: [uuid, ...]}`` of the live instances of each of
        ``hosts`` (every host given is a key, with an empty list when it
        has none: nova's is a defaultdict, which JSON cannot carry)."""
    if not isinstance(hosts, list) or \
            not all(isinstance(h, str) for h in hosts):
        raise exception.Invalid(reason='hosts must be a list of strings')
    result = {host: [] for host in hosts}
    if hosts:
        for host, instance_uuid in context.connection.execute(
                sa.select(_INSTANCES.c.host, _INSTANCES.c.uuid).where(
                    _INSTANCES.c.deleted == 0,
                    _INSTANCES.c.host.in_(hosts)).order_by(
                    _INSTANCES.c.id)):
            result[host].append(instance_uuid)
    return result


def _marker_row(context, marker):
    if not isinstance(marker, str):
        raise exception.MarkerNotFound(marker=marker)
    row = context.connection.execute(sa.select(_INSTANCES).where(
        _INSTANCES.c.uuid == marker)).first()
    if row is None:
        raise exception.MarkerNotFound(marker=marker)
    return row


def _paginated(context, statement, joins, limit, sort_keys, sort_dirs,
               marker, scope_host):
    if limit is not None:
        try:
            limit = _values.integer(limit)
        except ValueError as e:
            raise exception.Invalid(reason='limit: %s' % e) from None
        if limit < 0:
            raise exception.Invalid(reason='limit must not be negative')
    if marker is not None:
        marker = _marker_row(context, marker)
    try:
        statement = sqlalchemyutils.paginate_query(
            statement, models.Instance, limit, sort_keys, marker=marker,
            sort_dirs=sort_dirs)
    except db_exc.InvalidSortKey:
        raise exception.InvalidSortKey()
    except ValueError as e:
        raise exception.Invalid(reason=str(e))
    return _reads.dicts(context.connection, statement, joins,
                        _reads.params(scope_host))


@db_session.core_reader
def instance_get_active_by_window_joined(context, begin, end=None,
                                         project_id=None, host=None,
                                         columns_to_join=None, limit=None,
                                         marker=None):
    """The instances, deleted ones included, not terminated before
    ``begin`` and launched before ``end``, of ``project_id`` and on
    ``host`` when given, by project and uuid.

    :raises: MarkerNotFound, Invalid
    """
    joins = _joins.parse(columns_to_join, _joins.LIST_DEFAULT)
    try:
        begin = _values.parse_time(begin)
        end = _values.parse_time(end)
    except ValueError as e:
        raise exception.Invalid(reason='begin/end: %s' % e) from None
    conditions = [sa.or_(_INSTANCES.c.terminated_at.is_(None),
                         _INSTANCES.c.terminated_at > begin)]
    if end:
        conditions.append(_INSTANCES.c.launched_at < end)
    if project_id:
        conditions.append(_INSTANCES.c.project_id == project_id)
    if host:
        conditions.append(_INSTANCES.c.host == host)
    return _paginated(context, sa.select(*_reads.COLUMNS).where(*conditions),
                      joins, limit, ['project_id', 'uuid'], None, marker,
                      None)


def _sort_params(sort_keys, sort_dirs):
    """nova's ``process_sort_params`` with ``default_dir='desc'``:
    ``created_at`` and ``id`` end every order."""
    for name, value in (('sort_keys', sort_keys), ('sort_dirs', sort_dirs)):
        if value is not None and (not isinstance(value, list) or not all(
                isinstance(v, str) for v in value)):
            raise exception.Invalid(reason='%s must be a list of strings'
                                    % name)
    default_dir = sort_dirs[0] if sort_dirs else 'desc'
    keys = list(sort_keys or [])
    dirs = list(sort_dirs or [default_dir for _ in keys])
    if any(d not in ('asc', 'desc') for d in dirs):
        raise exception.Invalid(
            reason="Unknown sort direction, must be 'desc' or 'asc'")
    dirs.extend([default_dir] * (len(keys) - len(dirs)))
    if len(dirs) > len(keys):
        raise exception.Invalid(
            reason='Sort direction size exceeds sort key size')
    for key in ('created_at', 'id'):
        if key not in keys:
            keys.append(key)
            dirs.append(default_dir)
    return keys, dirs


def _has_tag(tag):
    tags = models.Tag.__table__
    return sa.exists().where(tags.c.resource_id == _INSTANCES.c.uuid,
                             tags.c.tag == tag)


def _tag_conditions(filters):
    conditions = []
    for name in ('tags', 'tags-any', 'not-tags', 'not-tags-any'):
        if name not in filters:
            continue
        tags = filters.pop(name)
        if not isinstance(tags, list) or not tags or \
                not all(isinstance(t, str) for t in tags):
            raise exception.Invalid(
                reason='filter %s must be a list of tags' % name)
        each = [_has_tag(tag) for tag in tags]
        condition = sa.and_(*each) if name in ('tags', 'not-tags') \
            else sa.or_(*each)
        conditions.append(sa.not_(condition) if name.startswith('not-')
                          else condition)
    # nova's tags join the instance's tags, which a deleted instance has
    # none of.
    if conditions:
        conditions.append(_INSTANCES.c.deleted == 0)
    return conditions


def _metadata_condition(name, value):
    model = models.InstanceMetadata if name == 'metadata' \
        else models.InstanceSystemMetadata
    items = value if isinstance(value, list) else [value]
    conditions = []
    for item in items:
        if not isinstance(item, dict):
            raise exception.Invalid(
                reason='filter %s must be a dict or a list of dicts' % name)
        for key, wanted in item.items():
            # As nova: some row has the key, and some row has the value.
            for column, match in ((model.key, key), (model.value, wanted)):
                conditions.append(sa.exists().where(
                    model.instance_uuid == _INSTANCES.c.uuid,
                    column == match))
    return conditions


def _exact_conditions(filters):
    """nova's exact filters (popped from ``filters``), or None when one
    is an empty list (nothing can match)."""
    conditions = []
    for name in _EXACT_FILTERS:
        if name not in filters:
            continue
        value = filters.pop(name)
        if name in ('metadata', 'system_metadata'):
            conditions.extend(_metadata_condition(name, value))
        elif isinstance(value, list):
            if not value:
                return None
            conditions.append(_INSTANCES.c[name].in_(value))
        else:
            conditions.append(_INSTANCES.c[name] == value)
    return conditions


def _regex_conditions(connection, filters):
    """nova's regular-expression filters: every other filter naming a
    column (unknown names are ignored, as nova ignores them)."""
    conditions = []
    for name, value in filters.items():
        column = _INSTANCES.c.get(name) if isinstance(name, str) else None
        if column is None or name == 'internal_id':
            continue
        pattern = value if isinstance(value, str) else str(value)
        try:
            re.compile(pattern)
        except re.error as e:
            raise exception.Invalid(
                reason='filter %s is not a regular expression: %s'
                       % (name, e)) from None
        if connection.dialect.name in ('mysql', 'mariadb'):
            # As nova: a bare | is an error to MySQL's REGEXP.
            pattern = pattern.replace('|', '\\|')
        conditions.append(sa.cast(column, sa.String).regexp_match(pattern))
    return conditions


def _filter_conditions(context, filters):
    """The WHERE conditions of nova's ``filters`` (see
    ``instance_get_all_by_filters_sort``), or None for none can match."""
    if not isinstance(filters, dict):
        raise exception.Invalid(reason='filters must be a dict')
    filters = dict(filters)
    conditions = []
    try:
        for name, compare in (('changes-since', sa.Column.__ge__),
                              ('changes-before', sa.Column.__le__)):
            if filters.get(name):
                conditions.append(compare(_INSTANCES.c.updated_at,
                                          _values.parse_time(filters[name])))
    except ValueError as e:
        raise exception.Invalid(reason='changes-since/before: %s' % e)
    filters.pop('changes-since', None)
    filters.pop('changes-before', None)
    if 'deleted' in filters:
        soft_deleted = _INSTANCES.c.vm_state == states.VM_SOFT_DELETED
        if filters.pop('deleted'):
            if filters.pop('soft_deleted', True):
                conditions.append(sa.or_(
                    _INSTANCES.c.deleted == _INSTANCES.c.id, soft_deleted))
            else:
                conditions.append(_INSTANCES.c.deleted == _INSTANCES.c.id)
        else:
            conditions.append(_INSTANCES.c.deleted == 0)
            if not filters.pop('soft_deleted', False):
                conditions.append(sa.or_(
                    _INSTANCES.c.vm_state != states.VM_SOFT_DELETED,
                    _INSTANCES.c.vm_state.is_(None)))
    filters.pop('soft_deleted', None)
    if 'cleaned' in filters:
        conditions.append(
            _INSTANCES.c.cleaned == (1 if filters.pop('cleaned') else 0))
    conditions.extend(_tag_conditions(filters))
    if not getattr(context, 'is_admin', True):
        if getattr(context, 'project_id', None):
            filters['project_id'] = context.project_id
        else:
            filters['user_id'] = getattr(context, 'user_id', None)
    if filters.pop('hidden', False):
        conditions.append(_INSTANCES.c.hidden.is_(True))
    else:
        conditions.append(sa.or_(_INSTANCES.c.hidden.is_(False),
                                 _INSTANCES.c.hidden.is_(None)))
    exact = _exact_conditions(filters)
    if exact is None:
        return None
    return conditions + exact + _regex_conditions(context.connection,
                                                  filters)


@db_session.hot_reader
def instance_get_all_by_filters_sort(context, filters, limit=None,
                                     marker=None, columns_to_join=None,
                                     sort_keys=None, sort_dirs=None, *,
                                     scope_host=None):
    """The instances matching every one of nova's ``filters``, deleted
    ones included unless ``deleted`` says otherwise, hidden ones only with
    ``hidden``, sorted by ``sort_keys``/``sort_dirs`` (then ``created_at``
    and ``id``, descending unless the first direction says otherwise),
    from after ``marker`` (an instance uuid), at most ``limit``.

    Filters: exact ``project_id``, ``user_id``, ``image_ref``,
    ``vm_state``, ``instance_type_id``, ``uuid``, ``host``,
    ``task_state``, ``locked`` (a list: any of), ``metadata`` and
    ``system_metadata`` (a dict or a list of dicts); ``changes-since``,
    ``changes-before``; ``deleted`` with ``soft_deleted``; ``cleaned``;
    ``tags``, ``tags-any``, ``not-tags``, ``not-tags-any``; any other
    column a regular expression (PostgreSQL ``~``, MySQL ``REGEXP``);
    other names are ignored. ``scope_host``: only instances in its scope.

    :raises: MarkerNotFound, InvalidSortKey, Invalid
    """
    if limit == 0:
        return []
    sort_keys, sort_dirs = _sort_params(sort_keys, sort_dirs)
    joins = _joins.parse(columns_to_join, _joins.LIST_DEFAULT)
    conditions = _filter_conditions(context, filters)
    if conditions is None:
        return []
    return _paginated(context, sa.select(*_reads.COLUMNS).where(
        *conditions, *_reads.scoped(scope_host)), joins, limit, sort_keys,
        sort_dirs, marker, scope_host)


@db_session.core_reader
def instance_get_all_by_filters(context, filters, sort_key='created_at',
                                sort_dir='desc', limit=None, marker=None,
                                columns_to_join=None, *, scope_host=None):
    """``instance_get_all_by_filters_sort`` with one sort key."""
    return instance_get_all_by_filters_sort(
        context, filters, limit=limit, marker=marker,
        columns_to_join=columns_to_join, sort_keys=[sort_key],
        sort_dirs=[sort_dir], scope_host=scope_host)
