"""The alembic tree on each supported database: the walk from an empty
database to head, and the models-vs-migrations sync test."""

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
