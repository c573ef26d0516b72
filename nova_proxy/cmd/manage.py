"""``nova-compute-proxy-manage``: operator commands.

    nova-compute-proxy-manage status
    nova-compute-proxy-manage db sync [--version REV]
    nova-compute-proxy-manage db version
    nova-compute-proxy-manage periodic list|tasks
    nova-compute-proxy-manage operation list|show
    nova-compute-proxy-manage server list|build|resize|migrate|watch
    nova-compute-proxy-manage server confirm-resize|revert-resize
    nova-compute-proxy-manage key create --host HOST|--proxy [--rotate|--force]
    nova-compute-proxy-manage key list
    nova-compute-proxy-manage broker permissions --host HOST|--proxy|--control
    nova-compute-proxy-manage service list [--binary BINARY]
    nova-compute-proxy-manage service set-topic --host HOST [--topic TOPIC]
"""

import os
import sys
import traceback

from nova_proxy import cmd  # noqa: F401  (selects the threading backend)
from oslo_config import cfg
import oslo_messaging as messaging

from nova_proxy.common import broker_cli
from nova_proxy.common import db_errors
from nova_proxy.common import key_cli
from nova_proxy.common import service
from nova_proxy import conf
from nova_proxy.orchestration import cli as orchestration_cli
from nova_proxy.orchestration import server_cli
from nova_proxy.periodic import cli as periodic_cli
from nova_proxy.proxy import service_cli
from nova_proxy.proxy import status

CONF = conf.CONF


class DBCommands:

    def sync(self):
        from nova_proxy.db import migration
        migration.db_sync(CONF.command.version or 'head')
        print('Database at revision %s' % migration.db_version())

    def version(self):
        """Print the revision; an empty database is an error, so that a
        unit's ``ExecStartPre`` stops there."""
        from nova_proxy.db import migration
        revision = migration.db_version()
        if revision is None:
            raise SystemExit('Error: %s' % _run_db_sync(
                'the database has no tables'))
        print(revision)


def _add_db_parsers(subparsers):
    parser = subparsers.add_parser('db', help='Database schema.')
    actions = parser.add_subparsers(dest='action')
    actions.required = True
    sync = actions.add_parser('sync', help='Upgrade the schema.')
    sync.add_argument('--version', help='Revision to upgrade to '
                                        '(default: the newest).')
    sync.set_defaults(func=lambda: DBCommands().sync())
    version = actions.add_parser('version', help='Show the revision.')
    version.set_defaults(func=lambda: DBCommands().version())


# Other command groups register themselves here: (name, add_parsers).
COMMAND_GROUPS = [_add_db_parsers]


COMMAND_GROUPS.append(periodic_cli.add_parsers)
COMMAND_GROUPS.append(orchestration_cli.add_parsers)
COMMAND_GROUPS.append(server_cli.add_parsers)
COMMAND_GROUPS.append(key_cli.add_parsers)
COMMAND_GROUPS.append(broker_cli.add_parsers)
COMMAND_GROUPS.append(status.add_parsers)
COMMAND_GROUPS.append(service_cli.add_parsers)


def _add_subcommands(subparsers):
    subparsers.required = True
    for add_parsers in COMMAND_GROUPS:
        add_parsers(subparsers)


command_opt = cfg.SubCommandOpt('command', title='Commands',
                                handler=_add_subcommands)


def _unknown_revision(error):
    """The revision ``db sync --version`` named that alembic cannot find,
    or None."""
    from alembic.script import revision
    from alembic import util as alembic_util
    if isinstance(error, alembic_util.CommandError) and isinstance(
            error.__cause__, revision.ResolutionError):
        return error.__cause__.argument
    return None


def explain(error):
    """One line saying what failed and what to check, or None for an
    error we do not expect (its traceback is then shown)."""
    from alembic import util as alembic_util
    from nova_proxy import exception
    if isinstance(error, exception.NovaProxyException):
        # Not str(): an error a proxy raised is rebuilt here with the
        # proxy's traceback in it.
        return error.format_message()
    if db_errors.is_database_unavailable(error):
        return ('Cannot reach the database: %s; check [database] connection'
                % db_errors.describe(error))
    if isinstance(error, messaging.MessagingTimeout):
        return ('No proxy answered within %s s: check that nova-compute-proxy '
                'runs and that transport_url, control_exchange and [proxy] '
                'topic match its configuration'
                % getattr(CONF, 'rpc_response_timeout', '?'))
    revision = _unknown_revision(error)
    if revision is not None:
        from nova_proxy.db import migration
        return ('Unknown revision %r; the newest is %s'
                % (revision, migration.head_revision()))
    if isinstance(error, alembic_util.CommandError):
        return str(error).strip().splitlines()[0]
    if _driver_missing(error):
        return ('Cannot load the database driver (%s): install it, or name '
                'an installed one in [database] connection (for example '
                'postgresql+psycopg2://, mysql+pymysql://)' % error)
    return _schema_mismatch(error)


def _driver_missing(error):
    """Whether ``error`` is SQLAlchemy failing to import the driver that
    ``[database] connection`` names."""
    return isinstance(error, ImportError) and any(
        '/sqlalchemy/dialects/' in frame.filename
        for frame in traceback.extract_tb(error.__traceback__))


def _schema_mismatch(error):
    """For a database error: whether the schema is not this release's
    (the command then met a missing table or column), said in one line;
    otherwise None."""
    from oslo_db import exception as db_exc
    import sqlalchemy as sa
    if not isinstance(error, (sa.exc.DBAPIError, db_exc.DBError)):
        return None
    from nova_proxy.db import migration
    try:
        problem = migration.schema_problem()
    except Exception:
        return None
    if problem is None:
        return None
    return _run_db_sync(problem)


def _run_db_sync(problem):
    return '%s%s: run "nova-compute-proxy-manage db sync"' % (
        problem[0].upper(), problem[1:])


# Libraries whose log lines about a failure that ends in our one-line
# ``Error:`` are shown only with --debug: oslo.db logs the failed statement
# with its traceback, oslo.messaging each reconnection to a broker it
# cannot reach.
QUIET_LOGGERS = ('oslo_db', 'oslo.messaging', 'oslo_messaging')


def main(argv=None):
    CONF.register_cli_opt(command_opt)
    service.prepare_service(sys.argv if argv is None else argv,
                            quiet_loggers=QUIET_LOGGERS,
                            program='nova-compute-proxy-manage')
    try:
        CONF.command.func()
        # Here, not at the interpreter's exit: a reader that went away
        # shows up in the except below.
        sys.stdout.flush()
    except BrokenPipeError:
        # Whoever read the output stopped (``| head``): stop too, as
        # other command-line tools do, without a traceback; what is still
        # buffered goes nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as e:
        problem = explain(e)
        if problem is None:
            raise
        if CONF.debug:
            traceback.print_exc()
        print('Error: %s' % problem, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
