"""``nova-compute-proxy-manage key``: the keys that authenticate callers.

    nova-compute-proxy-manage key create --host HOST [--rotate | --force]
    nova-compute-proxy-manage key create --proxy [--rotate | --force]
    nova-compute-proxy-manage key promote --host HOST | --proxy
    nova-compute-proxy-manage key retire --host HOST | --proxy
    nova-compute-proxy-manage key list [-f FORMAT] [-c COLUMN ...]

Keys are written to ``[proxy] host_keys_dir`` (or ``--dir``): ``<host>.key``
for a compute host, ``_proxy.key`` for the proxies and operators, mode
0600. Copy a host's file to that compute node and point its ``[proxy_client]
key_file`` at it. A rotation (docs/security.rst) is ``create --rotate``
(a new, verify-only last line), ``promote`` (the new key signs) and
``retire`` (only the signing key is left), copying the file to the compute
host and the other proxies after each step. No secret is ever printed.
A new host also needs its broker user (``broker permissions --host``,
``nova_proxy.common.broker_cli``).
"""

import os

from nova_proxy.common import keys
from nova_proxy.common import output
from nova_proxy import conf
from nova_proxy import exception

CONF = conf.CONF

__all__ = ['add_parsers', 'create', 'promote', 'retire', 'list_keys']


def _directory(directory):
    directory = directory or CONF.proxy.host_keys_dir
    if not directory:
        raise exception.InvalidKeyFile(
            path='[proxy] host_keys_dir',
            reason='not set (set it, or pass --dir)')
    return directory


def _path(host, proxy, directory):
    directory = _directory(directory)
    if proxy:
        return keys.proxy_key_path(directory)
    return keys.host_key_path(host, directory)


def create(host=None, proxy=False, rotate=False, force=False,
           directory=None):
    """Write a new key for compute host ``host`` or for the proxies.

    :returns: the path written.
    :raises: InvalidKeyFile (no directory, bad host name, file exists
        without --rotate/--force).
    """
    path = _path(host, proxy, directory)
    if rotate and not os.path.exists(path):
        raise exception.InvalidKeyFile(path=path,
                                       reason='no key to rotate yet')
    keys.write_key_file(path, append=rotate, force=force)
    return path


def promote(host=None, proxy=False, directory=None):
    """The last key of the file signs from now on. :returns: the path."""
    path = _path(host, proxy, directory)
    keys.promote_key(path)
    return path


def retire(host=None, proxy=False, directory=None):
    """Drop every key but the signing one. :returns: the path."""
    path = _path(host, proxy, directory)
    keys.retire_keys(path)
    return path


def list_keys(directory=None):
    """``[(name, number of keys)]`` of the directory, proxy key first."""
    directory = _directory(directory)
    rows = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith('.key'):
            continue
        who = name[:-len('.key')]
        if name == keys.PROXY_KEY_NAME:
            who = '(proxies and operators)'
        elif not keys.valid_host(who):
            continue
        try:
            count = len(keys.read_key_file(os.path.join(directory, name)))
        except exception.InvalidKeyFile as e:
            count = 'invalid: %s' % e.kwargs.get('reason')
        rows.append((who, count))
    rows.sort(key=lambda row: row[0] != '(proxies and operators)')
    return rows


def _create():
    cmd = CONF.command
    path = create(host=cmd.key_host, proxy=cmd.key_proxy,
                  rotate=cmd.key_rotate, force=cmd.key_force,
                  directory=cmd.key_dir)
    if cmd.key_rotate:
        print('Added a verify-only key to %s; see docs/security.rst for '
              'the next steps of the rotation' % path)
    else:
        print('Wrote %s' % path)
    if not cmd.key_proxy:
        print('Copy it to compute host %s and set [proxy_client] key_file '
              'there.' % cmd.key_host)
        if not cmd.key_rotate:
            print('Its broker user: nova-compute-proxy-manage broker '
                  'permissions --host %s' % cmd.key_host)


def _promote():
    cmd = CONF.command
    path = promote(cmd.key_host, cmd.key_proxy, cmd.key_dir)
    print('The newest key of %s signs now; copy the file to the same '
          'places as before' % path)


def _retire():
    cmd = CONF.command
    path = retire(cmd.key_host, cmd.key_proxy, cmd.key_dir)
    print('Only the signing key is left in %s; copy the file to the same '
          'places as before' % path)


def _list():
    output.emit_list(('for', 'keys'), list_keys(CONF.command.key_dir))


def _add_who(parser):
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument('--host', dest='key_host',
                     help='The compute host the key is for.')
    who.add_argument('--proxy', dest='key_proxy', action='store_true',
                     help='The key of the proxies and operators.')


def add_parsers(subparsers):
    parser = subparsers.add_parser(
        'key', help='Keys that authenticate compute hosts and proxies.')
    actions = parser.add_subparsers(dest='action')
    actions.required = True
    create_parser = actions.add_parser(
        'create', help='Write a new random key file.')
    _add_who(create_parser)
    how = create_parser.add_mutually_exclusive_group()
    how.add_argument('--rotate', dest='key_rotate', action='store_true',
                     help='Add a new key to an existing file as a further, '
                          'verify-only line.')
    how.add_argument('--force', dest='key_force', action='store_true',
                     help='Replace an existing file (old key stops working '
                          'at once).')
    create_parser.add_argument('--dir', dest='key_dir',
                               help='Default: [proxy] host_keys_dir.')
    create_parser.set_defaults(func=_create)
    for name, func, text in (
            ('promote', _promote, 'Make the newest key the signing one.'),
            ('retire', _retire, 'Keep only the signing key.')):
        step = actions.add_parser(name, help=text)
        _add_who(step)
        step.add_argument('--dir', dest='key_dir',
                          help='Default: [proxy] host_keys_dir.')
        step.set_defaults(func=func)
    list_parser = actions.add_parser(
        'list', help='Key files and how many keys each holds.')
    list_parser.add_argument('--dir', dest='key_dir',
                             help='Default: [proxy] host_keys_dir.')
    output.add_list_options(list_parser)
    list_parser.set_defaults(func=_list)
