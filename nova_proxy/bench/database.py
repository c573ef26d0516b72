"""The run's own database: created fresh, migrated, seeded, dropped.

PostgreSQL by default (``postgresql+psycopg2://postgres@127.0.0.1:5432``,
trust auth, as on the development machines), MariaDB
(``mysql+pymysql://root@127.0.0.1:3306``) or SQLite on request. The CPU of
PostgreSQL is that of the backends serving the run's database, found in
``pg_stat_activity``; MariaDB serves every connection from threads of one
server process, so its figure is that whole process (``mariadbd``, or
``mysqld``), whatever else it serves at the time.
"""

import os
import uuid

import sqlalchemy as sa

from nova_proxy.bench import cpu
from nova_proxy.db import migration

__all__ = ['BenchDatabase', 'BACKENDS', 'DEFAULT_PG_SERVER',
           'DEFAULT_MYSQL_SERVER']

BACKENDS = ('postgresql', 'mariadb', 'sqlite')
DEFAULT_PG_SERVER = os.environ.get(
    'NOVA_PROXY_BENCH_PG_URL', 'postgresql+psycopg2://postgres@127.0.0.1:5432')
DEFAULT_MYSQL_SERVER = os.environ.get(
    'NOVA_PROXY_BENCH_MYSQL_URL', 'mysql+pymysql://root@127.0.0.1:3306')

# The database that is always there, to create and drop the run's from.
_ADMIN_DATABASE = {'postgresql': 'postgres', 'mariadb': 'mysql'}


class BenchDatabase:

    def __init__(self, backend, directory, pg_server=DEFAULT_PG_SERVER,
                 mysql_server=DEFAULT_MYSQL_SERVER):
        if backend not in BACKENDS:
            raise ValueError('backend must be one of %s, not %r'
                             % (', '.join(BACKENDS), backend))
        self.backend = backend
        self.name = 'np_bench_%s' % uuid.uuid4().hex[:10]
        self._server = {'postgresql': pg_server,
                        'mariadb': mysql_server}.get(backend)
        self._admin = None
        if backend == 'sqlite':
            self.url = 'sqlite:///%s' % os.path.join(directory,
                                                     self.name + '.sqlite')
        elif backend == 'mariadb':
            self.url = '%s/%s?charset=utf8mb4' % (self._server, self.name)
        else:
            self.url = '%s/%s' % (self._server, self.name)

    def create(self):
        if self.backend == 'postgresql':
            with self._admin_engine().connect() as conn:
                conn.exec_driver_sql('CREATE DATABASE %s' % self.name)
        elif self.backend == 'mariadb':
            with self._admin_engine().connect() as conn:
                conn.exec_driver_sql('CREATE DATABASE %s CHARACTER SET '
                                     'utf8mb4' % self.name)
        engine = sa.create_engine(self.url)
        try:
            migration.db_sync(engine=engine)
        finally:
            engine.dispose()

    def _admin_engine(self):
        if self._admin is None:
            self._admin = sa.create_engine(
                '%s/%s' % (self._server, _ADMIN_DATABASE[self.backend]),
                isolation_level='AUTOCOMMIT', pool_size=1)
        return self._admin

    def backend_pids(self):
        """Pids of the processes serving this database: PostgreSQL's
        backends connected to it, MariaDB's server; none for SQLite (its
        work is in the caller's process)."""
        if self.backend == 'mariadb':
            return cpu.find_pids('mariadbd') or cpu.find_pids('mysqld')
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
            if self.backend == 'postgresql':
                conn.exec_driver_sql('DROP DATABASE IF EXISTS %s WITH '
                                     '(FORCE)' % self.name)
            else:
                conn.exec_driver_sql('DROP DATABASE IF EXISTS %s'
                                     % self.name)
        self._admin.dispose()
        self._admin = None
