"""A MariaDB Galera cluster of the test's own: three nodes on loopback.

The shared server on 127.0.0.1:3306 is never touched: each node is a
``mariadbd`` with its own data directory (``mariadb-install-db``), SQL
port, Galera group port, IST port and SST port, all on 127.0.0.1, run as
the ``mysql`` user in a directory of its own. The first node bootstraps
the cluster (``--wsrep-new-cluster``); the others join it by state
transfer (rsync). ``url(port, database)`` is a URL through one node, as
OpenStack deployments write through one node at a time (a load balancer
in front, in active/backup mode).
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import sqlalchemy as sa

from tests import databases

PROVIDER = '/usr/lib/galera/libgalera_smm.so'
USER = 'mysql'
DATABASE_USER = 'np'


def available():
    """Whether this machine can start Galera nodes: mariadbd, the Galera
    provider, rsync for state transfers, and root (to run the nodes as
    ``mysql``)."""
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return False
    return (os.path.exists(PROVIDER) and shutil.which('mariadbd') and
            shutil.which('mariadb-install-db') and shutil.which('rsync')
            and os.geteuid() == 0) and True


def _free_ports(count):
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(('127.0.0.1', 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def url(port, database):
    """The URL of ``database`` through 127.0.0.1:``port`` (a node, or a
    relay in front of one)."""
    return ('mysql+pymysql://%s@127.0.0.1:%d/%s?charset=utf8mb4'
            % (DATABASE_USER, port, database))


class Node:

    def __init__(self, directory, index, ports):
        self.name = 'node%d' % index
        self.index = index
        self.port, self.group_port, self.ist_port, self.sst_port = ports
        self.data = os.path.join(directory, self.name)
        self.socket = os.path.join(directory, self.name + '.sock')
        self.config = os.path.join(directory, self.name + '.cnf')
        self.log_path = os.path.join(directory, self.name + '.err')
        self.popen = None

    def write_config(self, addresses):
        with open(self.config, 'w') as f:
            f.write('\n'.join([
                '[mysqld]',
                'datadir = %s' % self.data,
                'socket = %s' % self.socket,
                'port = %d' % self.port,
                'bind-address = 127.0.0.1',
                'pid-file = %s.pid' % self.data,
                'log-error = %s' % self.log_path,
                'skip-name-resolve',
                'binlog_format = ROW',
                'default_storage_engine = InnoDB',
                'innodb_autoinc_lock_mode = 2',
                'innodb_flush_log_at_trx_commit = 0',
                'innodb_buffer_pool_size = 64M',
                'max_connections = 300',
                'wsrep_on = ON',
                'wsrep_provider = %s' % PROVIDER,
                'wsrep_cluster_name = np_test',
                'wsrep_cluster_address = gcomm://%s' % addresses,
                'wsrep_node_name = %s' % self.name,
                'wsrep_node_address = 127.0.0.1:%d' % self.group_port,
                'wsrep_provider_options = "gmcast.listen_addr='
                'tcp://127.0.0.1:%d;ist.recv_addr=127.0.0.1:%d;'
                'gcache.size=64M"' % (self.group_port, self.ist_port),
                'wsrep_sst_method = rsync',
                'wsrep_sst_receive_address = 127.0.0.1:%d' % self.sst_port,
                '']))

    def install(self):
        subprocess.run(
            ['mariadb-install-db', '--no-defaults', '--user=%s' % USER,
             '--datadir=%s' % self.data,
             '--auth-root-authentication-method=socket'],
            check=True, timeout=180, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)

    def start(self, bootstrap=False):
        argv = ['mariadbd', '--defaults-file=%s' % self.config,
                '--user=%s' % USER]
        if bootstrap:
            argv.append('--wsrep-new-cluster')
        self.popen = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL,
                                      start_new_session=True)
        self.wait_synced()

    def status(self, name):
        rows = self.sql("SHOW STATUS LIKE '%s'" % name)
        return rows[0][1] if rows else None

    def wait_synced(self, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise AssertionError('%s exited:\n%s'
                                     % (self.name, self.log()[-3000:]))
            try:
                if self.status('wsrep_local_state_comment') == 'Synced':
                    return
            except sa.exc.OperationalError:
                pass
            time.sleep(0.3)
        raise AssertionError('%s never synced:\n%s'
                             % (self.name, self.log()[-3000:]))

    def kill(self):
        """kill -9 this node: a crash."""
        if self.popen and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=30)

    def stop(self):
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

    def sql(self, statement, database=None):
        """One statement as root, over the node's socket."""
        return databases.run_sql(
            'mysql+pymysql://root@localhost/%s?unix_socket=%s'
            % (database or '', self.socket), statement)

    def log(self):
        return databases.read_log(self.log_path)


class Cluster:
    """Three Galera nodes; ``start()`` bootstraps the first and joins the
    others."""

    def __init__(self, size=3):
        # Not under pytest's directory: that one is root's alone (0700),
        # and the nodes run as ``mysql``.
        self.directory = tempfile.mkdtemp(prefix='np-galera-')
        shutil.chown(self.directory, USER, USER)
        ports = _free_ports(4 * size)
        self.nodes = [Node(self.directory, i + 1, ports[4 * i:4 * i + 4])
                      for i in range(size)]

    def start(self):
        addresses = ','.join('127.0.0.1:%d' % n.group_port
                             for n in self.nodes)
        for node in self.nodes:
            node.write_config(addresses)
            node.install()
        first = self.nodes[0]
        first.start(bootstrap=True)
        # A user for the proxies, reachable over TCP from loopback
        # (replicated to the joiners by the state transfer).
        first.sql("CREATE USER '%s'@'127.0.0.1'" % DATABASE_USER)
        first.sql("GRANT ALL ON *.* TO '%s'@'127.0.0.1'" % DATABASE_USER)
        for node in self.nodes[1:]:
            node.start()
        return self

    def live(self):
        """The nodes whose process runs."""
        return [n for n in self.nodes if n.popen and n.popen.poll() is None]

    def size(self, node=None):
        """The cluster's size as ``node`` (a live one) sees it."""
        return int((node or self.live()[0]).status('wsrep_cluster_size'))

    def create_database(self, name):
        self.live()[0].sql('CREATE DATABASE %s CHARACTER SET utf8mb4'
                           % name)
        return name

    def stop(self):
        for node in reversed(self.nodes):
            node.kill()
        shutil.rmtree(self.directory, ignore_errors=True)
