"""``nova-compute-proxy-manage broker``: RabbitMQ users that confine hosts.

    nova-compute-proxy-manage broker permissions --host HOST [--apply]
    nova-compute-proxy-manage broker permissions --proxy [--apply]
    nova-compute-proxy-manage broker permissions --control [--apply]

One broker user per compute host (named after the host), one shared by
the proxies, one for operators and ``nova-compute-proxy-manage`` (the
control plane). ``permissions`` prints the ``rabbitmqctl set_permissions``
and ``set_topic_permissions`` commands of one of them, as a shell script
(``--user`` and ``--vhost`` to name another user or vhost), or runs them
with ``--apply`` on the broker's host. Create the user first
(``rabbitmqctl add_user``), as for keys one per host: ``key create --host
cmp-1`` and ``broker permissions --host cmp-1`` side by side.

What the permissions allow is derived from how oslo.messaging's rabbit
driver names what it declares, with ``E`` the exchange
(``control_exchange``), ``P`` the proxies' topic (``[proxy] topic``),
``C`` the compute topic (``[compute] topic``) and ``H`` a compute host:

- an RPC server on topic ``T`` as host ``S`` declares the topic exchange
  ``E``, the queues ``T`` and ``T.S`` bound to it with those routing keys,
  and the fanout exchange ``T_fanout`` with a queue ``T_fanout_<id>``;
- an RPC client publishes to ``E`` with routing key ``T`` or ``T.S`` and
  waits on a reply queue ``reply_<id>`` it declares; the server answers
  through the default exchange (``amq.default``) with the reply queue's
  name as routing key;
- ``<id>`` is a random hex UUID, or ``<hostname>:<process>:<n>`` when
  ``[oslo_messaging_rabbit] use_queue_manager`` is on: compute hosts must
  turn it on with ``hostname = H``, so that their reply and fanout queues
  carry their name and no other host's permissions match them.

docs/security.rst says what this layout guarantees and what it cannot.
"""

import collections
import re
import shlex
import shutil
import subprocess

from nova_proxy.common import keys
from nova_proxy import conf
from nova_proxy import exception

CONF = conf.CONF

__all__ = ['Permissions', 'compute_permissions', 'proxy_permissions',
           'control_permissions', 'commands', 'apply', 'add_parsers',
           'PROXY_USER', 'CONTROL_USER']

PROXY_USER = 'nova-compute-proxy'
CONTROL_USER = 'nova-compute-proxy-manage'

# The reply queue of a process without the queue manager (the proxies and
# the control plane): 'reply_' and uuid.uuid4().hex.
_RANDOM_ID = '[0-9a-f]{32}'

Permissions = collections.namedtuple(
    'Permissions', 'configure write read topic_write topic_read')
Permissions.__doc__ = """Regular expressions of one broker user, on one
vhost: ``configure``/``write``/``read`` on exchange and queue names, and
``topic_write``/``topic_read`` on the routing keys it may publish with and
bind with on the exchange."""


def _any_of(*names):
    return '^(%s)$' % '|'.join(names)


def _names():
    """``(E, P, C)`` of the configuration, as regular expressions."""
    exchange = getattr(CONF, 'control_exchange', None) or 'nova'
    return (re.escape(exchange), re.escape(CONF.proxy.topic),
            re.escape(CONF.compute.topic))


def compute_permissions(host):
    """Compute host ``host``: serve its own topic ``C.H``, call the
    proxies' topic ``P``, read only its own queues.

    It also declares and may read the bare ``C`` queue and the ``C_fanout``
    exchange (oslo.messaging's server declares them on every host): no
    user of this layout may publish with routing key ``C`` or to
    ``C_fanout``, so nothing arrives there.
    """
    if not keys.valid_host(host):
        raise exception.BrokerCommandFailed(
            who='host %r' % host,
            reason='not a host name (letters, digits, ".", "_", "-")')
    e, p, c = _names()
    h = re.escape(host)
    own_queues = (c, r'%s\.%s' % (c, h), '%s_fanout_%s:.+' % (c, h))
    reply = 'reply_%s:.+' % h
    return Permissions(
        configure=_any_of(e, '%s_fanout' % c, reply, *own_queues),
        write=_any_of(e, r'amq\.default', *own_queues),
        read=_any_of(e, '%s_fanout' % c, reply, *own_queues),
        topic_write=_any_of(p),
        topic_read=_any_of(c, r'%s\.%s' % (c, h)))


def proxy_permissions():
    """The proxies: serve ``P`` and ``P.<proxy host>``, call any compute
    on ``C.<host>`` (never the bare ``C``) and each other."""
    e, p, c = _names()
    own_queues = (p, r'%s\..+' % p, '%s_fanout_.+' % p)
    reply = 'reply_%s' % _RANDOM_ID
    return Permissions(
        configure=_any_of(e, '%s_fanout' % p, reply, *own_queues),
        write=_any_of(e, r'amq\.default', *own_queues),
        read=_any_of(e, '%s_fanout' % p, reply, *own_queues),
        topic_write=_any_of(p, r'%s\..+' % p, r'%s\..+' % c),
        topic_read=_any_of(p, r'%s\..+' % p))


def control_permissions():
    """Operators and ``nova-compute-proxy-manage``: call the proxies,
    read their own replies; they serve nothing."""
    e, p, _c = _names()
    reply = 'reply_%s' % _RANDOM_ID
    return Permissions(
        configure=_any_of(e, reply),
        write=_any_of(e),
        read=_any_of(reply),
        topic_write=_any_of(p, r'%s\..+' % p),
        topic_read='^$')


def _who(host=None, proxy=False, control=False):
    """``(default user, Permissions)``."""
    if proxy:
        return PROXY_USER, proxy_permissions()
    if control:
        return CONTROL_USER, control_permissions()
    return host, compute_permissions(host)


def commands(host=None, proxy=False, control=False, user=None, vhost='/'):
    """The ``rabbitmqctl`` argument lists that give ``user`` (default: the
    host's name, ``PROXY_USER`` or ``CONTROL_USER``) its permissions on
    ``vhost``."""
    default_user, perms = _who(host, proxy, control)
    user = user or default_user
    exchange = getattr(CONF, 'control_exchange', None) or 'nova'
    return [
        ['rabbitmqctl', 'set_permissions', '-p', vhost, user,
         perms.configure, perms.write, perms.read],
        ['rabbitmqctl', 'set_topic_permissions', '-p', vhost, user,
         exchange, perms.topic_write, perms.topic_read],
    ]


def apply(argvs, who, runner=subprocess.run):
    """Run ``argvs`` (from ``commands()``); the first failure raises
    BrokerCommandFailed with rabbitmqctl's first line of error."""
    if shutil.which(argvs[0][0]) is None:
        raise exception.BrokerCommandFailed(
            who=who, reason='rabbitmqctl not found: run this on the broker '
                            'host, or run the printed commands there')
    for argv in argvs:
        result = runner(argv, capture_output=True, text=True, timeout=120)
        if result.returncode:
            # rabbitmqctl prints "Error:" alone on the first line, then
            # what went wrong.
            lines = [line.strip() for line in
                     (result.stderr or result.stdout or '').splitlines()
                     if line.strip() not in ('', 'Error:')]
            raise exception.BrokerCommandFailed(
                who=who, reason='%s %s failed: %s' % (
                    argv[0], argv[1],
                    lines[0] if lines else 'status %d' % result.returncode))


def _permissions():
    cmd = CONF.command
    argvs = commands(host=cmd.broker_host, proxy=cmd.broker_proxy,
                     control=cmd.broker_control, user=cmd.broker_user,
                     vhost=cmd.broker_vhost)
    user = argvs[0][4]
    if cmd.broker_apply:
        apply(argvs, 'user %s' % user)
        print('Set the permissions of broker user %s on vhost %s'
              % (user, cmd.broker_vhost))
        return
    print('# Broker user %s; create it first: rabbitmqctl add_user %s '
          '<password>' % (user, shlex.quote(user)))
    for argv in argvs:
        print(shlex.join(argv))
    if cmd.broker_host:
        print('# On compute host %s, [oslo_messaging_rabbit]: '
              'use_queue_manager = true, hostname = %s, and a transport_url '
              'with user %s' % (cmd.broker_host, cmd.broker_host, user))


def add_parsers(subparsers):
    parser = subparsers.add_parser(
        'broker', help='RabbitMQ users that confine each compute host.')
    actions = parser.add_subparsers(dest='action')
    actions.required = True
    perms = actions.add_parser(
        'permissions', help='Print (or --apply) the rabbitmqctl commands '
                            'that set one user\'s permissions.')
    who = perms.add_mutually_exclusive_group(required=True)
    who.add_argument('--host', dest='broker_host',
                     help='The compute host (its user is named after it).')
    who.add_argument('--proxy', dest='broker_proxy', action='store_true',
                     help='The user of the proxies (%s).' % PROXY_USER)
    who.add_argument('--control', dest='broker_control',
                     action='store_true',
                     help='The user of operators and '
                          'nova-compute-proxy-manage (%s).' % CONTROL_USER)
    perms.add_argument('--user', dest='broker_user',
                       help='Another user name than the default.')
    perms.add_argument('--vhost', dest='broker_vhost', default='/',
                       help='Default: /.')
    perms.add_argument('--apply', dest='broker_apply', action='store_true',
                       help='Run the commands (on the broker host).')
    perms.set_defaults(func=_permissions)
