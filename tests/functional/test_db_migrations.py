"""The alembic tree on each supported database: the walk from an empty
database to head, and the models-vs-migrations sync test."""

import datetime

from alembic import autogenerate
from alembic import migration as alembic_migration
import pytest
import sqlalchemy as sa

from nova_proxy.db import migration
from nova_proxy.db import models
from tests import databases


@pytest.fixture(params=databases.BACKENDS)
def empty_engine(request, tmp_path):
    url = databases.create_database(request.param, tmp_path)
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()
    databases.drop_database(url)


def test_walk_to_head(empty_engine):
    assert migration.db_version(engine=empty_engine) is None
    migration.db_sync(engine=empty_engine)
    head = migration.head_revision()
    assert head is not None
    assert migration.db_version(engine=empty_engine) == head
    # Running it again is a no-op, as operators do on every upgrade.
    migration.db_sync(engine=empty_engine)
    assert migration.db_version(engine=empty_engine) == head
    tables = set(sa.inspect(empty_engine).get_table_names())
    assert set(models.Base.metadata.tables) <= tables


def test_models_match_migrations(empty_engine):
    migration.db_sync(engine=empty_engine)
    with empty_engine.connect() as conn:
        context = alembic_migration.MigrationContext.configure(
            conn, opts={'compare_type': True,
                        'compare_server_default': False})
        diff = autogenerate.compare_metadata(context, models.Base.metadata)
    assert diff == []


def test_walk_down_to_the_first_revision_and_up(empty_engine):
    """Every revision's downgrade works and the upgrade after it too, with
    the foreign keys (0002 drops and makes again those on MariaDB)."""
    from alembic import command
    migration.db_sync(engine=empty_engine)
    keys = _foreign_keys(empty_engine)
    with empty_engine.begin() as connection:
        command.downgrade(migration._config(connection), '0001')
    assert migration.db_version(engine=empty_engine) == '0001'
    migration.db_sync(engine=empty_engine)
    assert migration.db_version(engine=empty_engine) == \
        migration.head_revision()
    assert _foreign_keys(empty_engine) == keys != []


def _foreign_keys(engine):
    inspector = sa.inspect(engine)
    return sorted((table, tuple(key['constrained_columns']),
                   key['referred_table'])
                  for table in inspector.get_table_names()
                  for key in inspector.get_foreign_keys(table))


@pytest.fixture(params=databases.BACKENDS)
def enforcing_engine(request, tmp_path):
    """An empty database whose connections enforce foreign keys, as the
    proxy's own do (SQLite's are off unless asked for)."""
    url = databases.create_database(request.param, tmp_path)
    engine = sa.create_engine(url)
    if request.param == 'sqlite':
        @sa.event.listens_for(engine, 'connect')
        def _foreign_keys_on(dbapi_connection, record):
            dbapi_connection.execute('PRAGMA foreign_keys = ON')
    yield engine
    engine.dispose()
    databases.drop_database(url)


_NOW = datetime.datetime(2026, 12, 1, 10, 0)
_UUID = '11111111-2222-3333-4444-555555555555'


def _tables(connection):
    """The tables as the database has them (quoting every name as the
    backend needs: ``key`` and ``binary`` are reserved words)."""
    metadata = sa.MetaData()
    metadata.reflect(connection)
    return metadata.tables


def _insert(connection, table, **values):
    connection.execute(_tables(connection)[table].insert(), values)


def _all(connection, table, *columns):
    table = _tables(connection)[table]
    return connection.execute(
        sa.select(*[table.c[name] for name in columns])).all()


def _one(connection, table):
    return connection.execute(
        sa.select(_tables(connection)[table])).mappings().one()


def _rows_of_0002(connection):
    """Rows as the proxy wrote them before nova's columns."""
    _insert(connection, 'instances', uuid=_UUID, host='h1', node='n1',
            launched_on='h1', vm_state='active',
            instance_type_name='m1.small', created_at=_NOW, deleted=0)
    _insert(connection, 'instance_metadata', instance_uuid=_UUID, key='k',
            value='v')
    _insert(connection, 'compute_nodes', uuid=_UUID, host='h1', node='n1',
            vcpus=4, memory_mb=1024, local_gb=10, vcpus_used=0,
            memory_mb_used=0, local_gb_used=0, running_vms=0, deleted=0)
    _insert(connection, 'migrations', uuid=_UUID, instance_uuid=_UUID,
            source_compute='h1', migration_type='resize',
            status='migrating', deleted=0)
    _insert(connection, 'services', uuid=_UUID, host='h1',
            binary='nova-compute', topic='compute', report_count=3,
            disabled=False, forced_down=False, version=66, deleted=0)


def test_the_rows_of_0002_survive_nova_schema_and_back(enforcing_engine):
    engine = enforcing_engine
    from alembic import command
    migration.db_sync('0002', engine=engine)
    with engine.begin() as connection:
        _rows_of_0002(connection)
    migration.db_sync(engine=engine)

    with engine.connect() as connection:
        instance = _one(connection, 'instances')
        node = _one(connection, 'compute_nodes')
        moved = _one(connection, 'migrations')
        service = _one(connection, 'services')
        metadata = _all(connection, 'instance_metadata', 'key', 'value')
    # Ours kept, nova's added with nova's defaults.
    assert (instance['uuid'], instance['host'], instance['node'],
            instance['instance_type_name']) == (_UUID, 'h1', 'n1', 'm1.small')
    assert [bool(instance[name]) for name in (
        'locked', 'auto_disk_config', 'shutdown_terminate',
        'disable_terminate', 'hidden', 'cleaned')] == [False] * 6
    assert instance['reservation_id'] is None
    assert metadata == [('k', 'v')]
    assert (node['node'], node['hypervisor_hostname'], node['stats'],
            node['cpu_info'], node['hypervisor_type'],
            node['hypervisor_version'], node['mapped']) == \
        ('n1', 'n1', '{}', '', '', 0, 0)
    assert (moved['migration_type'], bool(moved['hidden']),
            bool(moved['cross_cell_move'])) == ('resize', False, False)
    assert (service['binary'], service['report_count'],
            service['version']) == ('nova-compute', 3, 66)

    with engine.begin() as connection:
        # Children in nova's new tables; the downgrade drops them.
        for table in ('instance_extra', 'instance_info_caches'):
            _insert(connection, table, instance_uuid=_UUID, deleted=0)
        _insert(connection, 'block_device_mapping', instance_uuid=_UUID,
                uuid=_UUID, deleted=0)

    with engine.begin() as connection:
        command.downgrade(migration._config(connection), '0002')
    assert migration.db_version(engine=engine) == '0002'
    with engine.connect() as connection:
        assert _all(connection, 'instances', 'uuid', 'node') == \
            [(_UUID, 'n1')]
        assert _all(connection, 'instance_metadata', 'key', 'value') == \
            [('k', 'v')]
        assert _all(connection, 'compute_nodes', 'node',
                    'hypervisor_type') == [('n1', '')]
        assert _all(connection, 'migrations', 'migration_type') == \
            [('resize',)]
        assert _all(connection, 'services', 'host') == [('h1',)]
    migration.db_sync(engine=engine)
    assert migration.db_version(engine=engine) == migration.head_revision()


def test_nova_tables_compare_text_byte_for_byte(enforcing_engine):
    """New tables on MariaDB take 0002's binary collation: tags 'a' and
    'A' of one instance are two tags."""
    migration.db_sync(engine=enforcing_engine)
    with enforcing_engine.begin() as connection:
        for tag in ('a', 'A', 'a '):
            _insert(connection, 'tags', resource_id=_UUID, tag=tag)
        tags = _tables(connection)['tags']
        assert connection.execute(sa.select(tags.c.tag).where(
            tags.c.tag == 'a')).all() == [('a',)]
