"""``nova-compute-proxy-manage operation list|show``: see the journal.

    nova-compute-proxy-manage operation list [--instance UUID]
                                             [--status STATUS] [--limit N]
    nova-compute-proxy-manage operation show ID

Reads the ``operations`` table directly (the manage command runs where the
database is reachable), so it works while every proxy is down.
"""

import json

from nova_proxy.common import states
from nova_proxy import conf
from nova_proxy.common import context as np_context
from nova_proxy.orchestration import journal

CONF = conf.CONF

__all__ = ['add_parsers']

_LIST_COLUMNS = ('id', 'kind', 'instance_uuid', 'status', 'step',
                 'progress', 'owner', 'epoch', 'attempts', 'updated_at',
                 'error')


def _cell(value, width=None):
    text = '' if value is None else str(value)
    if width and len(text) > width:
        text = text[:width - 3] + '...'
    return text


def format_table(records):
    """The records as a plain text table, one line each."""
    rows = [[_cell(r[c], 60 if c == 'error' else None)
             for c in _LIST_COLUMNS] for r in records]
    widths = [max([len(c)] + [len(row[i]) for row in rows])
              for i, c in enumerate(_LIST_COLUMNS)]
    lines = ['  '.join(c.ljust(w) for c, w in zip(_LIST_COLUMNS, widths))]
    lines += ['  '.join(v.ljust(w) for v, w in zip(row, widths))
              for row in rows]
    return '\n'.join(line.rstrip() for line in lines)


def format_record(record):
    lines = []
    for key in ('id', 'kind', 'instance_uuid', 'status', 'step',
                'progress', 'owner', 'epoch', 'attempts', 'migration_id',
                'created_at', 'updated_at', 'step_started_at',
                'finished_at', 'error'):
        lines.append('%-16s %s' % (key, _cell(record.get(key))))
    lines.append('%-16s %s' % ('params', json.dumps(record['params'],
                                                    sort_keys=True)))
    lines.append('%-16s %s' % ('state', json.dumps(record['state'],
                                                   sort_keys=True)))
    return '\n'.join(lines)


def _list():
    records = journal.get_all(np_context.get_admin_context(),
                              instance_uuid=CONF.command.instance,
                              status=CONF.command.status,
                              limit=CONF.command.limit)
    print(format_table(records))


def _show():
    print(format_record(journal.get(np_context.get_admin_context(),
                                    CONF.command.id)))


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
    listing.set_defaults(func=_list)
    show = actions.add_parser('show', help='Show one operation.')
    show.add_argument('id', help='The operation id.')
    show.set_defaults(func=_show)
