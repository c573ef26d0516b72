"""``nova-compute-proxy-manage server ...``: start and watch operations.

These commands go through the proxies' ``compute_task`` API over RPC, as
any client would, so they need ``transport_url``; ``server list`` reads the
database.

    server list [--host HOST] [-f FORMAT] [-c COLUMN]
    server build NAME [--flavor F] [--host HOST] [--wait] [-f FORMAT]
    server resize UUID --flavor F [--host HOST] [--wait] [-f FORMAT]
    server migrate UUID [--host HOST] [--wait] [-f FORMAT]
    server confirm-resize UUID [--wait] [-f FORMAT]
    server revert-resize UUID [--wait] [-f FORMAT]
    server watch OPERATION_ID [-f FORMAT]

A command that starts an operation prints one line saying what was
accepted; with ``-f json|yaml|value|table`` it prints the operation's
record instead (``-f value -c id`` is the id alone, for scripts).
``--wait`` and ``server watch`` follow the operation on one progress line
(rewritten in place on a terminal, a line per change when piped) until it
ends, then print how it ended; with ``-f``, the progress goes to stderr
and the final record to stdout. The exit status is 1 when the operation
failed or rolled back.
"""

import sys
import time

from nova_proxy.common import context as np_context
from nova_proxy.common import output
from nova_proxy.common import states
from nova_proxy.common import utils
from nova_proxy import conf
from nova_proxy.orchestration import cli as operation_cli
from nova_proxy.orchestration import flavors
from nova_proxy.orchestration import rpcapi

CONF = conf.CONF

__all__ = ['add_parsers', 'FLAVORS', 'watch', 'list_instances', 'build',
           'resize', 'migrate', 'confirm_resize', 'revert_resize',
           'accepted_line', 'progress_text']

# The flavors these commands know by name. The API takes any flavor dict;
# this table is only the command line's shorthand.
FLAVORS = {
    'm1.tiny': {'name': 'm1.tiny', 'id': 1, 'memory_mb': 512,
                'vcpus': 1, 'root_gb': 1},
    'm1.small': {'name': 'm1.small', 'id': 2, 'memory_mb': 2048,
                 'vcpus': 1, 'root_gb': 20},
    'm1.medium': {'name': 'm1.medium', 'id': 3, 'memory_mb': 4096,
                  'vcpus': 2, 'root_gb': 40},
    'm1.large': {'name': 'm1.large', 'id': 4, 'memory_mb': 8192,
                 'vcpus': 4, 'root_gb': 80},
}


def _context():
    return np_context.get_admin_context()


# Seconds past rpc_response_timeout a call may take to publish before it
# counts as stuck connecting to the broker.
_PUBLISH_GRACE = 2


class _BoundedAPI:
    """``rpcapi.ComputeTaskAPI`` whose calls end within
    ``rpc_response_timeout`` (plus a grace to publish) even when the
    broker cannot be reached: the rabbit driver would reconnect forever
    (``utils.call_within``). The command then ends with one line."""

    def __init__(self, api):
        self._api = api

    def __getattr__(self, name):
        method = getattr(self._api, name)
        # Making the client registers rpc_response_timeout.
        self._api.client  # noqa: B018
        limit = CONF.rpc_response_timeout + _PUBLISH_GRACE

        def call(*args, **kwargs):
            try:
                return utils.call_within(
                    lambda: method(*args, **kwargs), limit, name)
            except TimeoutError:
                raise SystemExit(
                    'Error: Cannot reach the message broker within %s s: '
                    'check transport_url and that the broker runs'
                    % CONF.rpc_response_timeout)
        return call


def _api():
    return _BoundedAPI(rpcapi.ComputeTaskAPI())


def progress_text(record, elapsed=None):
    """The progress line of an operation."""
    text = '%s %s of %s: %s' % (record['id'], record['kind'],
                                record['instance_uuid'], record['status'])
    if record['status'] not in states.OP_FINAL_STATUSES:
        text += ', step %s, %s%%, on %s' % (record['step'] or '-',
                                            record['progress'],
                                            record['owner'])
    if elapsed is not None:
        text += ' (%.0f s)' % elapsed
    return text


def _ended_text(record, elapsed):
    text = 'Operation %s %s after %.1f s' % (
        record['id'], record['status'].replace('_', ' '), elapsed)
    if record.get('error'):
        text += ': %s' % record['error']
    return text


def watch(operation_id, interval=0.5, out=None, api=None, clock=None):
    """Follow the operation on one progress line until it ends; returns
    the final record."""
    progress = output.Progress(out)
    api = api or _api()
    clock = clock or time.monotonic
    started = clock()
    last = None
    while True:
        record = api.operation_get(_context(), operation_id)
        seen = (record['status'], record['step'], record['progress'],
                record['owner'])
        # On a terminal the seconds tick on; in a log, a line per change.
        if progress.tty or seen != last:
            progress.update(progress_text(
                record, clock() - started if progress.tty else None))
            last = seen
        if record['status'] in states.OP_FINAL_STATUSES:
            progress.finish(_ended_text(record, clock() - started))
            return record
        time.sleep(interval)


def accepted_line(record):
    """The one line a command that starts an operation prints."""
    return ('Accepted %s of instance %s as operation %s (%s on %s); follow '
            'it with: nova-compute-proxy-manage server watch %s'
            % (record['kind'].replace('_', ' '), record['instance_uuid'],
               record['id'], record['status'], record['owner'],
               record['id']))


def _formatted():
    """The -f of the command line, or None (the one line)."""
    if 'command' not in CONF:
        return None
    return getattr(CONF.command, 'output_format', None)


def _start(record, wait, out):
    out = out or sys.stdout
    fmt = _formatted()
    if wait:
        # Progress on stderr when stdout carries a format for a script.
        record = watch(record['id'], out=sys.stderr if fmt else out)
    elif fmt is None:
        out.write(accepted_line(record) + '\n')
    if fmt is not None:
        output.emit_one(record, operation_cli.RECORD_FIELDS, out=out)
    return record


def flavor_named(name):
    try:
        return FLAVORS[name]
    except KeyError:
        raise SystemExit('Error: Unknown flavor %s; known: %s'
                         % (name, ', '.join(sorted(FLAVORS))))


_INSTANCE_COLUMNS = ('uuid', 'name', 'host', 'flavor', 'vm_state',
                     'task_state', 'power_state')


def list_instances(host=None, out=None):
    """Print the live instances (of ``host``); returns them."""
    from nova_proxy.db import api as db
    ctx = _context()
    # The flavor as nova keeps it, so instances nova's services made
    # show theirs too.
    joins = ['extra.flavor']
    if host:
        instances = db.instance_get_all_by_host(ctx, host,
                                                columns_to_join=joins)
    else:
        instances = db.instance_get_all_by_filters_sort(
            ctx, {'deleted': False, 'soft_deleted': True},
            columns_to_join=joins, sort_keys=['id'], sort_dirs=['asc'])
    output.emit_list(_INSTANCE_COLUMNS, [
        (i['uuid'], i['display_name'], i['host'], flavors.name_of(i),
         i['vm_state'], i['task_state'], i['power_state'])
        for i in instances], out=out)
    return instances


def build(name, flavor='m1.tiny', image='cirros', host=None, wait=False,
          out=None):
    """Start a build; with ``wait``, watch it. Returns the record."""
    flavor = flavor_named(flavor)
    values = {'display_name': name, 'hostname': name,
              'memory_mb': flavor['memory_mb'], 'vcpus': flavor['vcpus'],
              'root_gb': flavor['root_gb'],
              'instance_type_name': flavor['name'],
              'instance_type_id': flavor['id'], 'image_ref': image}
    return _start(_api().build_instance(_context(), values, host=host),
                  wait, out)


def resize(uuid, flavor, host=None, wait=False, out=None):
    return _start(_api().migrate_server(_context(), uuid, dest_host=host,
                                        flavor=flavor_named(flavor)),
                  wait, out)


def migrate(uuid, host=None, wait=False, out=None):
    return _start(_api().migrate_server(_context(), uuid, dest_host=host),
                  wait, out)


def confirm_resize(uuid, wait=False, out=None):
    return _start(_api().confirm_resize(_context(), uuid), wait, out)


def revert_resize(uuid, wait=False, out=None):
    return _start(_api().revert_resize(_context(), uuid), wait, out)


def _exit_unless_done(record):
    if record['status'] in states.OP_FINAL_STATUSES and \
            record['status'] != states.OP_DONE:
        raise SystemExit(1)


# Parsed under other names: ``CONF.command.host`` would collide with the
# ``[DEFAULT] host`` option and ``CONF.command.name`` is the sub-command's.
_DESTS = {'host': 'target_host', 'name': 'instance_name'}


def _command(fn, *names):
    """An argparse handler calling ``fn`` with the parsed ``names``."""
    def handler():
        args = {n: getattr(CONF.command, _DESTS.get(n, n)) for n in names}
        _exit_unless_done(fn(**args))
    return handler


def _list():
    list_instances(CONF.command.target_host)


def _watch():
    fmt = _formatted()
    record = watch(CONF.command.operation_id,
                   out=sys.stderr if fmt else None)
    if fmt is not None:
        output.emit_one(record, operation_cli.RECORD_FIELDS)
    _exit_unless_done(record)


def add_parsers(subparsers):
    """Register the ``server`` command group (``manage.COMMAND_GROUPS``)."""
    parser = subparsers.add_parser(
        'server', help='Build, resize and migrate instances through the '
                       'proxies, and watch the operations.')
    actions = parser.add_subparsers(dest='action')
    actions.required = True

    listing = actions.add_parser('list', help='List live instances.')
    listing.add_argument('--host', dest='target_host',
                         help='Only the instances of this host.')
    output.add_list_options(listing)
    listing.set_defaults(func=_list)

    def with_wait(p):
        p.add_argument('--wait', action='store_true',
                       help='Follow the operation until it ends.')
        output.add_show_options(p, default=None)
        return p

    build_parser = with_wait(actions.add_parser('build',
                                                help='Build an instance.'))
    build_parser.add_argument('instance_name', metavar='NAME')
    build_parser.add_argument('--flavor', default='m1.tiny',
                              help='One of %s.' % ', '.join(sorted(FLAVORS)))
    build_parser.add_argument('--image', default='cirros')
    build_parser.add_argument('--host', dest='target_host',
                              help='Compute host (default: the proxy picks '
                                   'one with room).')
    build_parser.set_defaults(
        func=_command(build, 'name', 'flavor', 'image', 'host', 'wait'))

    resize_parser = with_wait(actions.add_parser(
        'resize', help='Resize an instance.'))
    resize_parser.add_argument('uuid')
    resize_parser.add_argument('--flavor', required=True)
    resize_parser.add_argument(
        '--host', dest='target_host',
        help='Destination (default: the proxy picks one).')
    resize_parser.set_defaults(
        func=_command(resize, 'uuid', 'flavor', 'host', 'wait'))

    migrate_parser = with_wait(actions.add_parser(
        'migrate', help='Cold-migrate an instance.'))
    migrate_parser.add_argument('uuid')
    migrate_parser.add_argument('--host', dest='target_host',
                                help='Destination (default: the proxy '
                                     'picks one).')
    migrate_parser.set_defaults(
        func=_command(migrate, 'uuid', 'host', 'wait'))

    confirm_parser = with_wait(actions.add_parser(
        'confirm-resize', help='Confirm a finished resize or migration.'))
    confirm_parser.add_argument('uuid')
    confirm_parser.set_defaults(
        func=_command(confirm_resize, 'uuid', 'wait'))

    revert_parser = with_wait(actions.add_parser(
        'revert-resize', help='Revert a finished resize or migration.'))
    revert_parser.add_argument('uuid')
    revert_parser.set_defaults(
        func=_command(revert_resize, 'uuid', 'wait'))

    watch_p = actions.add_parser('watch', help='Follow an operation until '
                                               'it ends.')
    watch_p.add_argument('operation_id')
    output.add_show_options(watch_p, default=None)
    watch_p.set_defaults(func=_watch)
