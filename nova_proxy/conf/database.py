"""``[database]``: oslo.db's options, with our embedded default.

Without a configured connection the proxy uses SQLite in WAL mode under
``[DEFAULT] state_path``; see ``nova_proxy.db.api``.
"""

from oslo_db import options as db_options

DEFAULT_CONNECTION = 'sqlite:///$state_path/nova_proxy.sqlite'


def register_opts(conf):
    db_options.set_defaults(conf, connection=DEFAULT_CONNECTION)


def list_opts():
    return {'database': db_options.database_opts}
