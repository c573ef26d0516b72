"""An instance's extra, info cache and tags: nova's calls (wire 2.x).

The same children joined to instance reads (nova's ``columns_to_join``)
are read by ``_instance_joins``.

Each takes a keyword-only ``scope_host``: a confined caller reaches only
the children of an instance in its scope (``_child_scope``). Writes and
the tag calls need the live instance (nova's tag calls check it exists;
a write for an unknown instance is nova's ``InstanceNotFound``, what
nova's objects make of the foreign key error nova's database gives).
"""

import datetime

from oslo_db import exception as db_exc
import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db.api import _child_scope
from nova_proxy.db.api import _instance_joins
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session

_EXTRA = models.InstanceExtra.__table__
_INFO_CACHES = models.InstanceInfoCache.__table__
_TAGS = models.Tag.__table__

_CHILD_PROTECTED = _values.NOVA_PROTECTED | {'instance_uuid'}
# The columns of an extra row always read; nova defers the others and
# loads those ``columns`` names (as the instance reads' ``extra.<column>``).
_EXTRA_BASE = _instance_joins.EXTRA_HEAD
_EXTRA_DEFERRED = frozenset(_instance_joins.EXTRA_COLUMNS)
# nova's default ``columns``.
_EXTRA_DEFAULT = ('numa_topology', 'pci_requests', 'flavor', 'vcpu_model',
                  'trusted_certs', 'resources', 'migration_context')
_TAG_LENGTH = _TAGS.c.tag.type.length
# What a confined caller is refused, by the child it would touch.
_EXTRA_OF = 'the extra of instance %(instance)s'
_INFO_CACHE_OF = 'the info cache of instance %(instance)s'
_TAGS_OF = 'the tags of instance %(instance)s'


# -- instance_extra -------------------------------------------------------

@db_session.core_reader
def instance_extra_get_by_instance_uuid(context, instance_uuid, columns=None,
                                        *, scope_host=None):
    """The instance's extra row with its base columns and ``columns``
    (nova's default list when None), or None.

    :raises: Invalid for a column the row does not have,
        HostScopeViolation
    """
    connection = context.connection
    _child_scope.check_readable(
        connection, [_child_scope.checked_uuid(instance_uuid)], scope_host,
        _EXTRA_OF)
    if columns is None:
        columns = _EXTRA_DEFAULT
    if not isinstance(columns, (list, tuple)) or \
            not set(columns) <= _EXTRA_DEFERRED:
        raise exception.Invalid(
            reason='columns must be a list of %s'
                   % ', '.join(sorted(_EXTRA_DEFERRED)))
    names = list(_EXTRA_BASE) + [c for c in _EXTRA_DEFERRED if c in columns]
    rows = _values.rows(connection, sa.select(
        *[_EXTRA.c[name] for name in names]).where(
        _EXTRA.c.instance_uuid == instance_uuid,
        *_values.read_deleted_filter(context, _EXTRA)).order_by(
        _EXTRA.c.id).limit(1))
    return rows[0] if rows else None


@db_session.core_writer
def instance_extra_update_by_uuid(context, instance_uuid, updates, *,
                                  scope_host=None):
    """Set ``updates`` on the instance's extra row, creating it when it has
    none, as nova; returns the number of rows written (at least 1).

    :raises: InvalidUpdate, InstanceNotFound, HostScopeViolation
    """
    updates = _values.check_nova_values(_EXTRA, updates,
                                        protected=_CHILD_PROTECTED)
    connection = context.connection
    _child_scope.lock_live(connection, instance_uuid, scope_host, _EXTRA_OF)
    now = db_session.utcnow()
    conditions = [_EXTRA.c.instance_uuid == instance_uuid,
                  *_values.read_deleted_filter(context, _EXTRA)]
    # Counted first rather than trusting the UPDATE's row count, which
    # MariaDB gives as rows changed, not matched, unless told otherwise.
    found = connection.execute(sa.select(sa.func.count()).select_from(
        _EXTRA).where(*conditions)).scalar()
    if found:
        _child_scope.scoped_write(
            connection, sa.update(_EXTRA).where(*conditions).values(
                dict({'updated_at': now}, **updates)),
            _EXTRA.c.instance_uuid, instance_uuid, scope_host, _EXTRA_OF)
        return found
    connection.execute(sa.insert(_EXTRA).values(
        dict({'created_at': now, 'deleted': 0}, **updates,
             instance_uuid=instance_uuid)))
    return 1


# -- instance_info_caches -------------------------------------------------

def _info_cache(context, instance_uuid):
    rows = _values.rows(context.connection, sa.select(_INFO_CACHES).where(
        _INFO_CACHES.c.instance_uuid == instance_uuid,
        *_values.read_deleted_filter(context, _INFO_CACHES)).limit(1))
    return rows[0] if rows else None


@db_session.core_reader
def instance_info_cache_get(context, instance_uuid, *, scope_host=None):
    """The instance's info cache row, or None (as nova).

    :raises: HostScopeViolation
    """
    _child_scope.check_readable(
        context.connection, [_child_scope.checked_uuid(instance_uuid)],
        scope_host, _INFO_CACHE_OF)
    return _info_cache(context, instance_uuid)


@db_session.core_writer
def instance_info_cache_update(context, instance_uuid, values, *,
                               scope_host=None):
    """Set ``values`` on the instance's info cache, creating it when it has
    none, as nova. As nova: a soft-deleted cache the context reads is
    InstanceInfoCacheNotFound; a cache created meanwhile by another call
    wins, and this one returns its values unwritten.

    :raises: InvalidUpdate, InstanceNotFound, InstanceInfoCacheNotFound,
        HostScopeViolation
    """
    values = _values.check_nova_values(_INFO_CACHES, values,
                                       protected=_CHILD_PROTECTED)
    connection = context.connection
    _child_scope.lock_live(connection, instance_uuid, scope_host,
                           _INFO_CACHE_OF)
    now = db_session.utcnow()
    cache = _info_cache(context, instance_uuid)
    if cache is not None and cache['deleted']:
        raise exception.InstanceInfoCacheNotFound(
            instance_uuid=instance_uuid)
    if cache is not None:
        values.setdefault('updated_at', now)
        _child_scope.scoped_write(
            connection, sa.update(_INFO_CACHES).where(
                _INFO_CACHES.c.id == cache['id']).values(values),
            _INFO_CACHES.c.instance_uuid, instance_uuid, scope_host,
            _INFO_CACHE_OF)
        return _values.rows(connection, sa.select(_INFO_CACHES).where(
            _INFO_CACHES.c.id == cache['id']))[0]
    values.setdefault('created_at', now)
    values.update(instance_uuid=instance_uuid, deleted=0)
    try:
        # A savepoint: the transaction stays usable after a duplicate.
        with connection.begin_nested():
            connection.execute(sa.insert(_INFO_CACHES).values(values))
    except db_exc.DBDuplicateEntry:
        transient = dict.fromkeys(_INFO_CACHES.c.keys())
        transient.update({key: _values.to_iso(value)
                          if isinstance(value, datetime.datetime) else value
                          for key, value in values.items()})
        return transient
    return _info_cache(context, instance_uuid)


@db_session.core_writer
def instance_info_cache_delete(context, instance_uuid, *, scope_host=None):
    """Soft-delete the instance's info cache (nothing when it has none).

    :raises: InstanceNotFound, HostScopeViolation (confined callers only:
        the instance must be live and theirs)
    """
    connection = context.connection
    if scope_host is not None:
        _child_scope.lock_live(connection, instance_uuid, scope_host,
                               _INFO_CACHE_OF)
    statement = sa.update(_INFO_CACHES).where(
        _INFO_CACHES.c.instance_uuid == _child_scope.checked_uuid(
            instance_uuid),
        *_values.read_deleted_filter(context, _INFO_CACHES)).values(
        deleted=_INFO_CACHES.c.id, deleted_at=db_session.utcnow())
    _child_scope.scoped_write(connection, statement,
                              _INFO_CACHES.c.instance_uuid, instance_uuid,
                              scope_host, _INFO_CACHE_OF)


# -- tags -----------------------------------------------------------------

def _checked_tag(tag):
    if not isinstance(tag, str) or not tag or len(tag) > _TAG_LENGTH:
        raise exception.Invalid(
            reason='a tag is a string of 1 to %d characters' % _TAG_LENGTH)
    return _values.text(tag)


def _tags(connection, instance_uuid):
    return _values.rows(connection, sa.select(_TAGS).where(
        _TAGS.c.resource_id == instance_uuid).order_by(_TAGS.c.tag))


@db_session.core_writer
def instance_tag_add(context, instance_uuid, tag, *, scope_host=None):
    """Tag the instance; a tag it has already is no error (as nova).

    :raises: Invalid, InstanceNotFound, HostScopeViolation
    """
    tag = _checked_tag(tag)
    connection = context.connection
    _child_scope.lock_live(connection, instance_uuid, scope_host, _TAGS_OF)
    try:
        with connection.begin_nested():
            connection.execute(sa.insert(_TAGS).values(
                resource_id=instance_uuid, tag=tag))
    except db_exc.DBDuplicateEntry:
        pass
    return {'resource_id': instance_uuid, 'tag': tag}


@db_session.core_writer
def instance_tag_set(context, instance_uuid, tags, *, scope_host=None):
    """Make ``tags`` the instance's tags; returns them as rows.

    :raises: Invalid, InstanceNotFound, HostScopeViolation
    """
    if not isinstance(tags, (list, tuple)):
        raise exception.Invalid(reason='tags must be a list')
    wanted = {_checked_tag(tag) for tag in tags}
    connection = context.connection
    _child_scope.lock_live(connection, instance_uuid, scope_host, _TAGS_OF)
    existing = {row['tag'] for row in _tags(connection, instance_uuid)}
    if existing - wanted:
        _child_scope.scoped_write(connection, sa.delete(_TAGS).where(
            _TAGS.c.resource_id == instance_uuid,
            _TAGS.c.tag.in_(sorted(existing - wanted))),
            _TAGS.c.resource_id, instance_uuid, scope_host, _TAGS_OF)
    if wanted - existing:
        connection.execute(sa.insert(_TAGS), [
            {'resource_id': instance_uuid, 'tag': tag}
            for tag in sorted(wanted - existing)])
    return _tags(connection, instance_uuid)


@db_session.core_reader
def instance_tag_get_by_instance_uuid(context, instance_uuid, *,
                                      scope_host=None):
    """:raises: InstanceNotFound, HostScopeViolation"""
    connection = context.connection
    _child_scope.check_live(connection, instance_uuid, scope_host, _TAGS_OF)
    return _tags(connection, instance_uuid)


@db_session.core_writer
def instance_tag_delete(context, instance_uuid, tag, *, scope_host=None):
    """:raises: InstanceNotFound, InstanceTagNotFound, HostScopeViolation"""
    connection = context.connection
    _child_scope.lock_live(connection, instance_uuid, scope_host, _TAGS_OF)
    result = _child_scope.scoped_write(connection, sa.delete(_TAGS).where(
        _TAGS.c.resource_id == instance_uuid, _TAGS.c.tag == tag),
        _TAGS.c.resource_id, instance_uuid, scope_host, _TAGS_OF)
    if not result.rowcount:
        raise exception.InstanceTagNotFound(instance_id=instance_uuid,
                                            tag=tag)


@db_session.core_writer
def instance_tag_delete_all(context, instance_uuid, *, scope_host=None):
    """:raises: InstanceNotFound, HostScopeViolation"""
    connection = context.connection
    _child_scope.lock_live(connection, instance_uuid, scope_host, _TAGS_OF)
    _child_scope.scoped_write(connection, sa.delete(_TAGS).where(
        _TAGS.c.resource_id == instance_uuid), _TAGS.c.resource_id,
        instance_uuid, scope_host, _TAGS_OF)


@db_session.core_reader
def instance_tag_exists(context, instance_uuid, tag, *, scope_host=None):
    """:raises: InstanceNotFound, HostScopeViolation"""
    connection = context.connection
    _child_scope.check_live(connection, instance_uuid, scope_host, _TAGS_OF)
    return bool(connection.execute(sa.select(sa.exists().where(
        _TAGS.c.resource_id == instance_uuid,
        _TAGS.c.tag == tag))).scalar())
