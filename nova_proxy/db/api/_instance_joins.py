"""nova's ``columns_to_join`` of instance reads: what they name, and the
reads that add them to instance dicts.

A joined key is in an instance dict exactly when asked for, in the shape
nova's ``Instance._from_db_object`` reads:

* ``metadata``, ``system_metadata``: dicts of key to value;
* ``info_cache``: the ``instance_info_caches`` row, or None;
* ``security_groups``: the live groups of the instance, a list of rows;
* ``extra``: the ``instance_extra`` row (its ids and times, and the
  columns named by ``extra.<column>``, every one when none is named), or
  None;
* ``tags``: ``[{'resource_id': uuid, 'tag': tag}]`` of a live instance;
* ``pci_devices``: the live PCI devices of the instance, a list of rows;
* ``services``: the ``nova-compute`` services of a live instance's host.

``fault`` is accepted and adds nothing: nova's objects read an instance's
latest fault by a call of their own (``InstanceFault``), and the lists'
``fault`` key is never read.
"""

import collections
import functools

import sqlalchemy as sa

from nova_proxy import exception
from nova_proxy.db import _driver
from nova_proxy.db.api import _instance_rows
from nova_proxy.db.api import _values
from nova_proxy.db import models

__all__ = ['Joins', 'parse', 'fill', 'GET_DEFAULT', 'LIST_DEFAULT',
           'EXTRA_HEAD', 'EXTRA_COLUMNS']

_EXTRA = models.InstanceExtra.__table__
# The columns of an extra row always read; the others (nova defers them)
# only when named.
EXTRA_HEAD = ('id', 'instance_uuid', 'created_at', 'updated_at',
              'deleted_at', 'deleted')
EXTRA_COLUMNS = tuple(c for c in _EXTRA.c.keys() if c not in EXTRA_HEAD)
_JOINS = frozenset(['metadata', 'system_metadata', 'info_cache',
                    'security_groups', 'extra', 'tags', 'pci_devices',
                    'services', 'fault'])

# nova's defaults when ``columns_to_join`` is None: a single instance
# (``_build_instance_get``) and the lists (``_instance_get_all_query`` and
# the manual joins) bring the same four.
GET_DEFAULT = ('metadata', 'system_metadata', 'info_cache',
               'security_groups')
LIST_DEFAULT = GET_DEFAULT


class Joins(collections.namedtuple('Joins', 'names extra_columns')):
    """What to add: ``names`` (a frozenset of joins, ``extra`` included
    when any ``extra.<column>`` is asked for) and ``extra_columns``."""

    @property
    def metadata(self):
        return self.names & {'metadata', 'system_metadata'}


def parse(columns_to_join, default):
    """``columns_to_join`` (or ``default`` when None) as ``Joins``.

    :raises: Invalid for a name nova cannot join.
    """
    if columns_to_join is None:
        columns_to_join = default
    if not isinstance(columns_to_join, (list, tuple)):
        raise exception.Invalid(reason='columns_to_join must be a list')
    names, extra = set(), []
    for name in columns_to_join:
        if not isinstance(name, str):
            raise exception.Invalid(
                reason='columns_to_join holds a %s' % type(name).__name__)
        if name.startswith('extra.'):
            column = name[len('extra.'):]
            if column not in EXTRA_COLUMNS:
                raise exception.Invalid(
                    reason='instance_extra has no column %r' % column)
            names.add('extra')
            if column not in extra:
                extra.append(column)
        elif name in _JOINS:
            names.add(name)
        else:
            raise exception.Invalid(
                reason='an instance cannot join %r' % name)
    return Joins(frozenset(names), tuple(extra or EXTRA_COLUMNS))


def _chunks(values):
    values = list(values)
    for start in range(0, len(values), _instance_rows.CHUNK):
        yield values[start:start + _instance_rows.CHUNK]


def _keys(column, one):
    """``column`` equal to the bound ``keys``: one value (``one``), else an
    expanding list."""
    if one:
        return column == sa.bindparam('keys')
    return column.in_(sa.bindparam('keys', expanding=True))


# The statements of the joins, built once for each shape (which join, one
# key or a list, extra's columns): building them at every call cost more
# CPU than running them (measured in-process on PostgreSQL: nova's
# Instance.save joins). One key is an equality, which ``_driver`` runs
# with its SQL compiled once; a list's expanding IN is SQLAlchemy's.
@functools.lru_cache(maxsize=64)
def _statement(name, one, extra_columns=()):
    if name == 'info_cache':
        table = models.InstanceInfoCache.__table__
        return sa.select(table).where(_keys(table.c.instance_uuid, one))
    if name == 'extra':
        columns = [_EXTRA.c[c] for c in EXTRA_HEAD + extra_columns]
        return sa.select(*columns).where(
            _keys(_EXTRA.c.instance_uuid, one)).order_by(_EXTRA.c.id)
    if name == 'security_groups':
        groups = models.SecurityGroup.__table__
        links = models.SecurityGroupInstanceAssociation.__table__
        return sa.select(
            links.c.instance_uuid.label('_instance_uuid'), groups).join_from(
            links, groups, links.c.security_group_id == groups.c.id).where(
            _keys(links.c.instance_uuid, one), links.c.deleted == 0,
            groups.c.deleted == 0).order_by(groups.c.id)
    if name == 'tags':
        tags = models.Tag.__table__
        return sa.select(tags).where(
            _keys(tags.c.resource_id, one)).order_by(tags.c.tag)
    if name == 'pci_devices':
        devices = models.PciDevice.__table__
        return sa.select(devices).where(
            _keys(devices.c.instance_uuid, one),
            devices.c.deleted == 0).order_by(devices.c.id)
    if name == 'services':
        services = models.Service.__table__
        return sa.select(services).where(
            _keys(services.c.host, one),
            services.c.binary == 'nova-compute').order_by(services.c.id)
    raise ValueError(name)


def _rows_by(connection, name, key, values, extra_columns=()):
    """Rows of the join ``name`` for the keys ``values`` as dicts,
    grouped by their ``key``."""
    result = collections.defaultdict(list)
    values = list(values)
    if len(values) == 1:
        chunks = [values[0]]
        statement = _statement(name, True, extra_columns)
    else:
        chunks = _chunks(values)
        statement = _statement(name, False, extra_columns)
    for chunk in chunks:
        for row in _values.rows(connection, statement, {'keys': chunk},
                                run=_driver.execute):
            result[row[key]].append(row)
    return result


def fill(connection, instances, joins):
    """Add ``joins`` to ``instances`` (dicts that carry their metadata,
    as ``_instance_rows`` reads them), in place; drop the metadata keys
    not asked for. A few statements for the whole list, whatever its
    length. Returns ``instances``."""
    for item in instances:
        for name in ('metadata', 'system_metadata'):
            if name not in joins.names:
                item.pop(name, None)
    names = joins.names - {'metadata', 'system_metadata', 'fault'}
    if not instances or not names:
        return instances
    uuids = [item['uuid'] for item in instances]
    live = [item['uuid'] for item in instances if not item['deleted']]
    if 'info_cache' in names:
        found = _rows_by(connection, 'info_cache', 'instance_uuid', uuids)
        for item in instances:
            rows = found.get(item['uuid'])
            item['info_cache'] = rows[0] if rows else None
    if 'extra' in names:
        found = _rows_by(connection, 'extra', 'instance_uuid', uuids,
                         joins.extra_columns)
        for item in instances:
            rows = found.get(item['uuid'])
            item['extra'] = rows[0] if rows else None
    if 'security_groups' in names:
        found = _rows_by(connection, 'security_groups', '_instance_uuid',
                         uuids)
        for item in instances:
            item['security_groups'] = [
                {k: v for k, v in row.items() if k != '_instance_uuid'}
                for row in found.get(item['uuid'], ())]
    if 'tags' in names:
        found = _rows_by(connection, 'tags', 'resource_id', live)
        for item in instances:
            item['tags'] = found.get(item['uuid'], []) \
                if not item['deleted'] else []
    if 'pci_devices' in names:
        found = _rows_by(connection, 'pci_devices', 'instance_uuid', uuids)
        for item in instances:
            item['pci_devices'] = found.get(item['uuid'], [])
    if 'services' in names:
        hosts = {item['host'] for item in instances
                 if not item['deleted'] and item['host'] is not None}
        found = _rows_by(connection, 'services', 'host', sorted(hosts))
        for item in instances:
            item['services'] = [] if item['deleted'] else \
                found.get(item['host'], [])
    return instances
