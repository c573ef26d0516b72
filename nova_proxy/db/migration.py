"""Schema migrations: ``db sync`` and ``db version`` of the manage command.

The alembic tree is ``migrations/`` at the top of the repository, installed
as the package ``nova_proxy.db.migrations``.
"""

import os

from alembic import command as alembic_command
from alembic import config as alembic_config
from alembic import migration as alembic_migration
from alembic import script as alembic_script

from nova_proxy.db import session as db_session

__all__ = ['db_sync', 'db_version', 'head_revision', 'schema_problem']


def _config(connection=None):
    from nova_proxy.db import migrations
    path = os.path.dirname(os.path.abspath(migrations.__file__))
    cfg = alembic_config.Config(os.path.join(path, 'alembic.ini'))
    cfg.set_main_option('script_location', path)
    if connection is not None:
        cfg.attributes['connection'] = connection
    return cfg


def db_sync(version='head', engine=None):
    """Upgrade the schema to ``version`` (default: the newest)."""
    engine = engine or db_session.get_engine()
    with engine.begin() as connection:
        alembic_command.upgrade(_config(connection), version)


def db_version(engine=None):
    """The schema's current revision, or None for an empty database."""
    engine = engine or db_session.get_engine()
    with engine.connect() as connection:
        return alembic_migration.MigrationContext.configure(
            connection).get_current_revision()


def head_revision():
    return alembic_script.ScriptDirectory.from_config(
        _config()).get_current_head()


def schema_problem(engine=None):
    """What keeps the schema from being this release's, in words (for a
    message that goes on to say what to do), or None when it is."""
    current = db_version(engine=engine)
    head = head_revision()
    if current == head:
        return None
    if current is None:
        return 'the database has no tables'
    return ('the database schema is at revision %s, this release needs %s'
            % (current, head))
