"""Throw-away databases on the three backends we support.

Each backend is reached as this machine (and CI) provides it: SQLite in a
temporary file, PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth),
MariaDB at 127.0.0.1:3306 (root, no password). URLs can be overridden with
NOVA_PROXY_TEST_PG_URL / NOVA_PROXY_TEST_MYSQL_URL (server URLs without a
database name).
"""

import os
import uuid

import sqlalchemy as sa

BACKENDS = ('sqlite', 'postgresql', 'mysql')

SERVER_URLS = {
    'postgresql': os.environ.get(
        'NOVA_PROXY_TEST_PG_URL',
        'postgresql+psycopg2://postgres@127.0.0.1:5432'),
    'mysql': os.environ.get(
        'NOVA_PROXY_TEST_MYSQL_URL', 'mysql+pymysql://root@127.0.0.1:3306'),
}
_ADMIN_DB = {'postgresql': 'postgres', 'mysql': 'mysql'}


def create_database(backend, directory):
    """Create an empty database; returns its URL."""
    name = 'np_%s' % uuid.uuid4().hex[:12]
    if backend == 'sqlite':
        return 'sqlite:///%s' % os.path.join(str(directory), name + '.sqlite')
    admin = sa.create_engine('%s/%s' % (SERVER_URLS[backend],
                                        _ADMIN_DB[backend]),
                             isolation_level='AUTOCOMMIT')
    with admin.connect() as conn:
        if backend == 'mysql':
            conn.exec_driver_sql(
                'CREATE DATABASE %s CHARACTER SET utf8mb4' % name)
        else:
            conn.exec_driver_sql('CREATE DATABASE %s' % name)
    admin.dispose()
    suffix = '?charset=utf8mb4' if backend == 'mysql' else ''
    return '%s/%s%s' % (SERVER_URLS[backend], name, suffix)


def drop_database(url):
    url = sa.engine.make_url(url)
    backend = url.get_backend_name()
    if backend == 'sqlite':
        for suffix in ('', '-wal', '-shm'):
            try:
                os.unlink(url.database + suffix)
            except FileNotFoundError:
                pass
        return
    admin = sa.create_engine(
        url.set(database=_ADMIN_DB[backend], query={}),
        isolation_level='AUTOCOMMIT')
    with admin.connect() as conn:
        if backend == 'postgresql':
            conn.exec_driver_sql(
                'DROP DATABASE IF EXISTS %s WITH (FORCE)' % url.database)
        else:
            conn.exec_driver_sql('DROP DATABASE IF EXISTS %s' % url.database)
    admin.dispose()


def run_sql(url, statement):
    """One statement on a connection of its own, in autocommit (an admin
    statement on a server the test started); returns the rows."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool,
                              isolation_level='AUTOCOMMIT')
    try:
        with engine.connect() as conn:
            result = conn.exec_driver_sql(statement)
            return result.fetchall() if result.returns_rows else []
    finally:
        engine.dispose()


def read_log(path):
    """A server's log file as text ('' while there is none)."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ''


def wipe(engine, keep=()):
    """Delete every row of every table, children first, but of the
    tables named in ``keep``."""
    from nova_proxy.db import models
    with engine.begin() as conn:
        for table in reversed(models.Base.metadata.sorted_tables):
            if table.name not in keep:
                conn.execute(table.delete())
