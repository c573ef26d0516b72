"""``nova-compute-proxy-manage periodic``: what the periodic tasks did.

    nova-compute-proxy-manage periodic list [--task T] [--member M]
        [--period N] [--limit N] [--long] [-f FORMAT] [-c COLUMN ...]
    nova-compute-proxy-manage periodic tasks [-f FORMAT] [-c COLUMN ...]

``list`` prints the run records, newest first: task, period, the proxy
that ran it, when (database clock), how many items, the result, and the
items themselves (the first few in the table, all in the other formats);
``--long`` adds the details (outcomes per item, errors, clock offset).
``tasks`` prints each task with its kind, interval, whether it is enabled
here, its current period, and (under the table) the live proxies that
share it. ``-f json|yaml|value|csv`` as for every listing
(``nova_proxy.common.output``).
"""

from nova_proxy.common import context as np_context
from nova_proxy.common import output
from nova_proxy import conf
from nova_proxy.periodic import claims
from nova_proxy.periodic import clock
from nova_proxy.periodic import ring as np_ring
from nova_proxy.periodic import tasks as np_tasks

CONF = conf.CONF

__all__ = ['add_parsers']

_ITEMS_SHOWN = 6


def _short(items):
    if len(items) <= _ITEMS_SHOWN:
        return ','.join(items)
    return '%s,... (+%d)' % (','.join(items[:_ITEMS_SHOWN]),
                             len(items) - _ITEMS_SHOWN)


_RUN_COLUMNS = ('task', 'period', 'proxy', 'started_at', 'items', 'result',
                'handled')
_TASK_COLUMNS = ('task', 'kind', 'interval', 'enabled', 'period')


def list_runs():
    cmd = CONF.command
    if cmd.task is not None:
        np_tasks.get_task(cmd.task)  # KeyError -> a clear message below
    runs = claims.run_list(np_context.get_admin_context(), task=cmd.task,
                           period=cmd.period, owner=cmd.member,
                           limit=cmd.limit)
    columns = _RUN_COLUMNS + (('details',) if cmd.long else ())
    output.emit_list(
        columns,
        [[r['task'], r['period'], r['owner'], r['started_at'], r['items'],
          r['result'], r['handled']] + ([r['details']] if cmd.long else [])
         for r in runs],
        table_cells={'handled': _short})


def show_tasks():
    context = np_context.get_admin_context()
    now = clock.db_now(context)
    members = np_ring.current_members(context)
    rows = []
    for task in np_tasks.all_tasks():
        rows.append([task.name, 'global' if task.is_global else 'per-item',
                     task.interval, task.enabled,
                     clock.period_of(now, task.interval)])
    output.emit_list(_TASK_COLUMNS, rows)
    if CONF.command.output_format == 'table':
        print('live proxies (%d): %s' % (len(members),
                                         ', '.join(members) or 'none'))


def _run(func):
    def wrapper():
        try:
            func()
        except KeyError as e:
            raise SystemExit('Error: unknown periodic task %s; known: %s'
                             % (e, ', '.join(t.name for t in
                                             np_tasks.all_tasks())))
    return wrapper


def add_parsers(subparsers):
    parser = subparsers.add_parser(
        'periodic', help='Periodic tasks of the proxies.')
    actions = parser.add_subparsers(dest='action')
    actions.required = True
    runs = actions.add_parser(
        'list', help='Runs of the periodic tasks, newest first.')
    runs.add_argument('--task', help='Only this task.')
    runs.add_argument('--member', help='Only runs of this proxy member.')
    runs.add_argument('--period', type=int, help='Only this period.')
    runs.add_argument('--limit', type=int, default=50,
                      help='At most this many runs (default 50; 0: all).')
    runs.add_argument('--long', action='store_true',
                      help='Add the details of each run (outcomes per '
                           'item, errors, clock offset).')
    output.add_list_options(runs)
    runs.set_defaults(func=_run(list_runs))
    tasks = actions.add_parser(
        'tasks', help='The tasks, their intervals and the live proxies.')
    output.add_list_options(tasks)
    tasks.set_defaults(func=_run(show_tasks))
