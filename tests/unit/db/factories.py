"""Rows for the DB API tests, made through the DB API itself (and read
behind its back, where a test checks what is stored).

Each factory fills in what a test does not care about and returns what
the DB API returned; a test passes what it does care about.
"""

import datetime

import sqlalchemy as sa

from nova_proxy.db import api
from nova_proxy.db import models
from nova_proxy.db import session as db_session

# A uuid no row has.
MISSING = '2c7c3c5e-0000-4000-8000-000000000000'


def iso(value):
    """The datetime of a time as the DB API returns it, an ISO 8601 string
    in UTC (checked)."""
    parsed = datetime.datetime.fromisoformat(value)
    assert parsed.utcoffset() == datetime.timedelta(0), value
    return parsed


def instance(ctx, host='host1', node=None, **values):
    """A live instance on ``host`` and ``node`` (``<host>-n`` unless
    given)."""
    values.update(host=host, node=node if node is not None else host + '-n')
    return api.instance_create(ctx, values)


# The joins of an instance as the 1.x calls give it.
V1_JOINS = ['metadata', 'system_metadata']


def v1_instance(instance):
    """An instance of nova's calls in the 1.x shape: its columns,
    metadata and system metadata."""
    return {k: v for k, v in instance.items()
            if k not in ('info_cache', 'security_groups', 'extra')}


def v1_get(ctx, instance_uuid):
    """The instance as the 1.x ``instance_get_by_uuid`` gives it."""
    return api.instance_get_by_uuid(ctx, instance_uuid,
                                    columns_to_join=V1_JOINS)


def stored_instance(instance_uuid):
    """The instance's row as stored, read bypassing the DB API."""
    with db_session.get_engine().connect() as conn:
        return conn.execute(sa.select(models.Instance).where(
            models.Instance.uuid == instance_uuid)).one()


def migration(ctx, instance_uuid, **values):
    """A migration of ``instance_uuid``, from ``src``/``src-n`` to
    ``dst``/``dst-n`` and ``pre-migrating`` unless given."""
    values.setdefault('source_compute', 'src')
    values.setdefault('source_node', 'src-n')
    values.setdefault('dest_compute', 'dst')
    values.setdefault('dest_node', 'dst-n')
    values.setdefault('status', 'pre-migrating')
    values['instance_uuid'] = instance_uuid
    return api.migration_create(ctx, values)


def service(ctx, host='h1', binary='nova-compute', **values):
    """A service of ``binary`` on ``host``; its topic is ``compute`` for
    ``nova-compute``, else the binary, unless given (nova has one service
    per host and topic)."""
    values.update(host=host, binary=binary)
    values.setdefault('topic', 'compute' if binary == 'nova-compute'
                      else binary)
    return api.service_create(ctx, values)


def compute_node(ctx, host='h1', node=None, **values):
    """A compute node of ``host`` named ``node`` (``<host>-n`` unless
    given)."""
    values.update(host=host, node=node if node is not None else host + '-n')
    return api.compute_node_create(ctx, values)
