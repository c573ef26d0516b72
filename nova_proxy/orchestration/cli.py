"""``nova-compute-proxy-manage operation list|show``: see the journal.

    nova-compute-proxy-manage operation list [--instance UUID]
        [--status STATUS] [--limit N] [-f table|json|yaml|value|csv]
        [-c COLUMN ...]
    nova-compute-proxy-manage operation show ID [-f table|json|yaml|value]

Reads the ``operations`` table directly (the manage command runs where the
database is reachable), so it works while every proxy is down. In the
table, an error longer than 60 characters is cut; the other formats carry
it whole.
"""

from nova_proxy.common import context as np_context
from nova_proxy.common import output
from nova_proxy.common import states
from nova_proxy import conf
from nova_proxy.orchestration import journal

CONF = conf.CONF

__all__ = ['add_parsers', 'LIST_COLUMNS', 'RECORD_FIELDS']

LIST_COLUMNS = ('id', 'kind', 'instance_uuid', 'status', 'step',
                'progress', 'owner', 'epoch', 'attempts', 'updated_at',
                'error')
RECORD_FIELDS = ('id', 'kind', 'instance_uuid', 'status', 'step',
                 'progress', 'owner', 'epoch', 'attempts', 'migration_id',
                 'created_at', 'updated_at', 'step_started_at',
                 'finished_at', 'error', 'params', 'state')

_ERROR_WIDTH = 60


def _short(text):
    if text and len(text) > _ERROR_WIDTH:
        return text[:_ERROR_WIDTH - 3] + '...'
    return text


def _list():
    records = journal.get_all(np_context.get_admin_context(),
                              instance_uuid=CONF.command.instance,
                              status=CONF.command.status,
                              limit=CONF.command.limit)
    output.emit_list(LIST_COLUMNS,
                     [[r[c] for c in LIST_COLUMNS] for r in records],
                     table_cells={'error': _short})


def _show():
    output.emit_one(journal.get(np_context.get_admin_context(),
                                CONF.command.id), RECORD_FIELDS)


def add_parsers(subparsers):
    """Register the ``operation`` command group (``manage.COMMAND_GROUPS``).
    """
    parser = subparsers.add_parser(
        'operation', help='Orchestration operations (the journal).')
    actions = parser.add_subparsers(dest='action')
    actions.required = True
    listing = actions.add_parser('list', help='List operations, newest '
                                              'first.')
    listing.add_argument('--instance', help='Only this instance\'s.')
    listing.add_argument('--status', choices=states.OP_STATUSES,
                         help='Only operations in this status.')
    listing.add_argument('--limit', type=int, default=100,
                         help='At most this many (default 100).')
    output.add_list_options(listing)
    listing.set_defaults(func=_list)
    show = actions.add_parser('show', help='Show one operation.')
    show.add_argument('id', help='The operation id.')
    output.add_show_options(show)
    show.set_defaults(func=_show)
