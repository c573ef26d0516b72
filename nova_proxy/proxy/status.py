"""The state of the fleet as the database shows it, for people and checks.

``gather()`` reads the proxies' liveness rows, the active operations and
the periodic tasks' latest runs; ``nova-compute-proxy-manage status``
prints it in one screen and ``nova-compute-proxy-status upgrade check``
(``nova_proxy.cmd.status``) judges it.

    nova-compute-proxy-manage status [-f table|json|yaml]

An active operation is **stuck** when its journal row has not been
written for longer than ``stuck_after()`` seconds: its owner writes the
row before every call to a compute (at least every ``[orchestration]
poll_interval`` while it waits for the host, up to
``compute_wait_deadline``), and no call lasts longer than ``[compute]
rpc_timeout`` without a progress write; an owner that died is replaced
within ``[proxy] liveness_deadline``. Past the sum of the three, nothing
is driving the operation.
"""

from nova_proxy.common import context as np_context
from nova_proxy.common import output
from nova_proxy import conf
from nova_proxy.db import status as db_status
from nova_proxy.periodic import clock
from nova_proxy.periodic import tasks as np_tasks

CONF = conf.CONF

__all__ = ['gather', 'stuck_after', 'add_parsers', 'LIVE', 'DEAD',
           'STOPPED']

LIVE = 'live'
DEAD = 'dead'
STOPPED = 'stopped'


def stuck_after():
    """Seconds without a journal write after which an active operation
    counts as stuck (see the module's docstring)."""
    return (CONF.orchestration.compute_wait_deadline +
            CONF.compute.rpc_timeout + CONF.proxy.liveness_deadline)


def _proxy_state(row):
    if row['stopped']:
        return STOPPED
    if row['heartbeat_age'] <= CONF.proxy.liveness_deadline:
        return LIVE
    return DEAD


def _lag(run, interval, started):
    """Seconds between when the run was due (the start of its period, or
    of its proxy when that came later) and when it began."""
    due = clock.period_start(run['period'], interval)
    if started is not None and started > due:
        due = started
    return round(clock.to_unix(run['started_at']) - clock.to_unix(due), 1)


def gather(context=None):
    """``{'proxies': [...], 'operations': [...], 'periodic': [...]}``:
    every proxy row with its ``state``; the active operations with
    ``stuck``; each periodic task with its latest run and ``lag``."""
    context = context or np_context.get_admin_context()
    proxies = db_status.proxies(context)
    for row in proxies:
        row['state'] = _proxy_state(row)
    bound = stuck_after()
    operations = db_status.active_operations(context)
    for op in operations:
        op['stuck'] = op['idle'] > bound
    runs = db_status.latest_runs(context)
    started = {p['member']: p['started_at'] for p in proxies}
    periodic = []
    for task in np_tasks.all_tasks():
        run = runs.get(task.name)
        periodic.append({
            'task': task.name,
            'kind': 'global' if task.is_global else 'per-item',
            'interval': task.interval, 'enabled': task.enabled,
            'last_run_age': run['age'] if run else None,
            'owner': run['owner'] if run else None,
            'result': run['result'] if run else None,
            'lag': _lag(run, task.interval, started.get(run['owner']))
            if run else None})
    return {'proxies': proxies, 'operations': operations,
            'periodic': periodic}


_PROXY_COLUMNS = ('member', 'host', 'release', 'pid', 'state',
                  'heartbeat_age')
_OPERATION_COLUMNS = ('id', 'kind', 'instance_uuid', 'status', 'step',
                      'progress', 'owner', 'attempts', 'age', 'idle',
                      'stuck')
_PERIODIC_COLUMNS = ('task', 'kind', 'interval', 'enabled', 'last_run_age',
                     'owner', 'result', 'lag')


def _rows(records, columns):
    return [[r[c] for c in columns] for r in records]


def _count(records, key, value):
    return sum(1 for r in records if r[key] == value)


def sections(state):
    """The three sections of the screen (``output.emit_sections``)."""
    proxies, operations = state['proxies'], state['operations']
    proxy_heading = ('Proxies: %d live, %d stopped, %d dead (a proxy is '
                     'dead %ss after its last heartbeat)' % (
                         _count(proxies, 'state', LIVE),
                         _count(proxies, 'state', STOPPED),
                         _count(proxies, 'state', DEAD),
                         CONF.proxy.liveness_deadline))
    releases = sorted({p['release'] or 'unknown' for p in proxies
                       if p['state'] == LIVE})
    if len(releases) > 1:
        proxy_heading += '; releases differ: %s' % ', '.join(releases)
    stuck = _count(operations, 'stuck', True)
    operation_heading = (
        'Operations: %d active (%d pending, %d running), %d stuck (no '
        'journal write for %ss)' % (
            len(operations), _count(operations, 'status', 'pending'),
            _count(operations, 'status', 'running'), stuck, stuck_after()))
    periodic_heading = ('Periodic tasks (ages and lag in seconds, by the '
                        'database\'s clock)')
    return [('proxies', proxy_heading, _PROXY_COLUMNS,
             _rows(proxies, _PROXY_COLUMNS)),
            ('operations', operation_heading, _OPERATION_COLUMNS,
             _rows(operations, _OPERATION_COLUMNS)),
            ('periodic', periodic_heading, _PERIODIC_COLUMNS,
             _rows(state['periodic'], _PERIODIC_COLUMNS))]


def _status():
    output.emit_sections(sections(gather()))


def add_parsers(subparsers):
    """Register ``status`` (``manage.COMMAND_GROUPS``)."""
    parser = subparsers.add_parser(
        'status', help='Live proxies and their heartbeats, active and '
                       'stuck operations, periodic tasks and their lag, '
                       'in one screen.')
    group = parser.add_argument_group('output formatters')
    group.add_argument('-f', '--format', dest='output_format',
                       choices=('table', 'json', 'yaml'), default='table',
                       help='The output format (default table).')
    parser.set_defaults(func=_status)
