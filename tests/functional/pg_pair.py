"""A PostgreSQL primary and its synchronous streaming standby, of the
test's own.

The shared server on 127.0.0.1:5432 is never touched: both nodes are new
clusters (``initdb``) in a directory of their own, owned by the ``postgres``
user (PostgreSQL refuses to run as root), listening on 127.0.0.1 on free
ports and on a socket in that directory. The standby is made with
``pg_basebackup -R`` and named in the primary's
``synchronous_standby_names``: a commit the primary acknowledges is on
the standby's disk too (``synchronous_commit = on``), which is what lets
a failover lose nothing acknowledged.

``Pair.url(database)`` is the libpq multi-host URL the proxies use
(``host=A&host=B&target_session_attrs=read-write``): libpq tries the
hosts in turn and keeps the one that accepts writes, so after
``promote()`` a new connection finds the new primary by itself.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

from tests import databases

PG_BIN = '/usr/lib/postgresql/%s/bin'
USER = 'postgres'
STANDBY_NAME = 'np_standby'


def _bin_dir():
    base = '/usr/lib/postgresql'
    if not os.path.isdir(base):
        return None
    for version in sorted(os.listdir(base), reverse=True):
        path = PG_BIN % version
        if os.path.exists(os.path.join(path, 'initdb')):
            return path
    return None


def available():
    """Whether this machine can start PostgreSQL nodes of a test's own:
    the server binaries and a ``postgres`` user to run them as."""
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return False
    return _bin_dir() is not None and os.geteuid() == 0


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Node:
    """One PostgreSQL server of the pair."""

    def __init__(self, directory, name, port):
        self.name = name
        self.port = port
        self.data = os.path.join(directory, name)
        self.socket_dir = directory
        self.log_path = os.path.join(directory, name + '.log')

    def _run(self, *args, timeout=120, check=True):
        return subprocess.run(
            ('runuser', '-u', USER, '--') + args, check=check,
            timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)

    def ctl(self, *args, timeout=120, check=True):
        return self._run(os.path.join(_bin_dir(), 'pg_ctl'), '-D', self.data,
                         *args, timeout=timeout, check=check)

    def start(self):
        self.ctl('-l', self.log_path, '-w', '-t', '60', 'start')

    def stop(self, mode='fast'):
        self.ctl('-m', mode, '-w', '-t', '60', 'stop', check=False)

    def kill(self):
        """kill -9 the postmaster: a crash, not a shutdown."""
        pid_file = os.path.join(self.data, 'postmaster.pid')
        try:
            with open(pid_file) as f:
                pid = int(f.readline())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass

    def promote(self):
        self.ctl('-w', '-t', '60', 'promote')

    def running(self):
        return self.ctl('status', check=False).returncode == 0

    def sql(self, statement, database='postgres'):
        """Run one statement as the superuser; returns the rows."""
        return databases.run_sql(
            'postgresql+psycopg2://%s@127.0.0.1:%d/%s'
            % (USER, self.port, database), statement)

    def log(self):
        return databases.read_log(self.log_path)


class Pair:
    """``primary`` and ``standby``; ``start()`` builds both."""

    def __init__(self):
        # Not under pytest's temporary directory: that one is root's alone
        # (0700), and the servers run as ``postgres``.
        self.directory = tempfile.mkdtemp(prefix='np-pg-')
        self.primary = Node(self.directory, 'node1', _free_port())
        self.standby = Node(self.directory, 'node2', _free_port())

    def start(self):
        shutil.chown(self.directory, USER, USER)
        os.chmod(self.directory, 0o700)
        primary, standby = self.primary, self.standby
        primary._run(os.path.join(_bin_dir(), 'initdb'), '-D', primary.data,
                     '-U', USER, '--auth=trust', '-E', 'UTF8',
                     '--locale=C.UTF-8')
        with open(os.path.join(primary.data, 'postgresql.conf'), 'a') as f:
            f.write(self._settings(primary) +
                    "synchronous_standby_names = '%s'\n" % STANDBY_NAME)
        with open(os.path.join(primary.data, 'pg_hba.conf'), 'a') as f:
            f.write('host replication %s 127.0.0.1/32 trust\n' % USER)
        primary.start()
        standby._run(os.path.join(_bin_dir(), 'pg_basebackup'), '-h',
                     '127.0.0.1', '-p', str(primary.port), '-U', USER,
                     '-D', standby.data, '-R', '-X', 'stream')
        with open(os.path.join(standby.data, 'postgresql.conf'), 'a') as f:
            # A new port, and the name the primary waits for; once
            # promoted it waits for no one (there is no other standby).
            f.write(self._settings(standby) +
                    "synchronous_standby_names = ''\n")
        with open(os.path.join(standby.data, 'postgresql.auto.conf'),
                  'a') as f:
            f.write("primary_conninfo = 'host=127.0.0.1 port=%d user=%s "
                    "application_name=%s'\n"
                    % (primary.port, USER, STANDBY_NAME))
        standby.start()
        self.wait_synchronous()
        return self

    def _settings(self, node):
        return ('\n# nova-compute-proxy test node\n'
                "listen_addresses = '127.0.0.1'\n"
                'port = %d\n'
                "unix_socket_directories = '%s'\n"
                'wal_level = replica\n'
                'max_wal_senders = 5\n'
                'hot_standby = on\n'
                'max_connections = 200\n'
                'fsync = off\n'
                'full_page_writes = off\n'
                % (node.port, node.socket_dir))

    def wait_synchronous(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.primary.sql(
                "SELECT sync_state FROM pg_stat_replication "
                "WHERE application_name = '%s'" % STANDBY_NAME)
            if rows and rows[0][0] == 'sync':
                return
            time.sleep(0.2)
        raise AssertionError('the standby never became synchronous:\n%s'
                             % self.standby.log()[-3000:])

    def url(self, database):
        """The multi-host URL: whichever node takes writes."""
        return ('postgresql+psycopg2://%s@/%s?host=127.0.0.1:%d'
                '&host=127.0.0.1:%d&target_session_attrs=read-write'
                % (USER, database, self.primary.port, self.standby.port))

    def create_database(self, name):
        self.primary.sql('CREATE DATABASE %s' % name)
        return self.url(name)

    def stop(self):
        for node in (self.standby, self.primary):
            if os.path.exists(node.data):
                node.stop(mode='immediate')
        shutil.rmtree(self.directory, ignore_errors=True)
