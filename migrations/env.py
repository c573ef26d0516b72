"""Alembic environment: runs on the connection nova_proxy.db.migration
hands over in ``config.attributes['connection']``."""

from alembic import context

from nova_proxy.db import models

config = context.config
target_metadata = models.Base.metadata


def run_migrations_online():
    connection = config.attributes['connection']
    context.configure(connection=connection,
                      target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == 'sqlite',
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit('Offline migrations are not supported; run '
                     '"nova-compute-proxy-manage db sync".')
run_migrations_online()
