"""``[database]``: oslo.db's options, with our embedded default, two of
ours that bound how long a lost database connection goes unnoticed, and
one that keeps the frequent reads in transactions.

Without a configured connection the proxy uses SQLite in WAL mode under
``[DEFAULT] state_path``; see ``nova_proxy.db.api``.
"""

from oslo_config import cfg
from oslo_db import options as db_options

DEFAULT_CONNECTION = 'sqlite:///$state_path/nova_proxy.sqlite'

database_opts = [
    cfg.IntOpt('connect_timeout',
               default=5, min=0,
               help='Seconds a new connection to a PostgreSQL, MariaDB or '
                    'MySQL server may take before the attempt fails '
                    '(libpq\'s and PyMySQL\'s connect_timeout; libpq '
                    'counts at least 2). Without it libpq waits for the '
                    'kernel: up to about two minutes when the server is '
                    'cut off silently, with the call or heartbeat that '
                    'needed the connection held as long. 0 leaves the '
                    'driver\'s default. A connect_timeout in the '
                    'connection URL or in connection_parameters wins. '
                    'Related options: dead_connection_timeout.'),
    cfg.IntOpt('dead_connection_timeout',
               default=10, min=0,
               help='Seconds after which an open PostgreSQL connection '
                    'whose server stopped answering (cut off silently, '
                    'its host gone) is given up: TCP keepalives while it '
                    'is idle (libpq\'s keepalives_idle, keepalives_interval '
                    'and keepalives_count) and libpq\'s tcp_user_timeout '
                    'while data waits for an acknowledgement. Without it '
                    'the kernel takes about two hours (idle) or fifteen '
                    'minutes (sending). A long query is not affected: '
                    'only a server that stopped acknowledging packets. '
                    'PyMySQL has no such setting (it turns keepalives on '
                    'with the kernel\'s timings), so on MariaDB and MySQL '
                    'this does nothing. 0 leaves the kernel\'s timings. '
                    'A parameter of the same name in the connection URL or '
                    'in connection_parameters wins. Related options: '
                    'connect_timeout, [proxy] heartbeat_interval.'),
    cfg.BoolOpt('autocommit_reads',
                default=True,
                help='Run the frequent reads of nova-compute (its '
                     'instances, compute nodes, migrations, block device '
                     'mappings) on PostgreSQL with psycopg2 outside a '
                     'transaction, on connections of their own made read '
                     'only for the session: no BEGIN and no ROLLBACK '
                     'round trip around each read, which reads what a '
                     'READ COMMITTED transaction would. Turn it off '
                     'behind a connection pooler that hands a server '
                     'connection to another client after each '
                     'transaction (PgBouncer\'s pool_mode = transaction): '
                     'it could pass the read-only setting on to that '
                     'client. Other databases and drivers keep their read '
                     'transactions either way.'),
]


def register_opts(conf):
    db_options.set_defaults(conf, connection=DEFAULT_CONNECTION)
    conf.register_opts(database_opts, group='database')


def list_opts():
    return {'database': db_options.database_opts + database_opts}
