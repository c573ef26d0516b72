"""The run's own database: created fresh, migrated, seeded, dropped.

PostgreSQL by default (``postgresql+psycopg2://postgres@127.0.0.1:5432``,
trust auth, as on the development machines), SQLite on request. The CPU of
PostgreSQL is that of the backends serving the run's database, found in
``pg_stat_activity``.
"""

import os
import uuid

import sqlalchemy as sa

from nova_proxy.db import migration

__all__ = ['BenchDatabase', 'DEFAULT_PG_SERVER']

DEFAULT_PG_SERVER = os.environ.get(
    'NOVA_PROXY_BENCH_PG_URL', 'postgresql+psycopg2://postgres@127.0.0.1:5432')


class BenchDatabase:

    def __init__(self, backend, directory, pg_server=DEFAULT_PG_SERVER):
        if backend not in ('postgresql', 'sqlite'):
            raise ValueError('backend must be postgresql or sqlite, not %r'
                             % backend)
        self.backend = backend
        self.name = 'np_bench_%s' % uuid.uuid4().hex[:10]
        self._pg_server = pg_server
        self._admin = None
        if backend == 'sqlite':
            self.url = 'sqlite:///%s' % os.path.join(directory,
                                                     self.name + '.sqlite')
        else:
            self.url = '%s/%s' % (pg_server, self.name)

    def create(self):
        if self.backend == 'postgresql':
            with self._admin_engine().connect() as conn:
                conn.exec_driver_sql('CREATE DATABASE %s' % self.name)
        engine = sa.create_engine(self.url)
        try:
            migration.db_sync(engine=engine)
        finally:
            engine.dispose()

    def _admin_engine(self):
        if self._admin is None:
            self._admin = sa.create_engine(
                '%s/postgres' % self._pg_server, isolation_level='AUTOCOMMIT',
                pool_size=1)
        return self._admin

    def backend_pids(self):
        """Pids of the PostgreSQL backends connected to this database
        (none for SQLite: its work is in the caller's process)."""
        if self.backend != 'postgresql':
            return []
        with self._admin_engine().connect() as conn:
            return [row[0] for row in conn.execute(
                sa.text('SELECT pid FROM pg_stat_activity '
                        'WHERE datname = :name'), {'name': self.name})]

    def drop(self):
        if self.backend == 'sqlite':
            path = self.url[len('sqlite:///'):]
            for suffix in ('', '-wal', '-shm'):
                try:
                    os.unlink(path + suffix)
                except FileNotFoundError:
                    pass
            return
        with self._admin_engine().connect() as conn:
            conn.exec_driver_sql('DROP DATABASE IF EXISTS %s WITH (FORCE)'
                                 % self.name)
        self._admin.dispose()
        self._admin = None
