"""How every function of the shim reaches the proxies: ``call()``.

``call(context, method, **kwargs)`` is one 2.x RPC call of ``method`` (a
name of ``nova_proxy.proxy.rpcapi.NOVA_METHODS``) to the proxies, on topic
``[proxy] topic``:

* ``context``: nova's ``RequestContext`` (or ours, or its ``to_dict()``),
  sent as its ``to_dict()`` with ``compute_host`` set to this host
  (``[DEFAULT] host``, nova's option) when it has none. When ``[proxy_client]
  key_file`` is set the call is signed with that key as this host
  (``nova_proxy.common.auth``), which is what makes the proxies confine it
  to this host's records whatever the context says.
* ``kwargs``: nova's arguments by name, made JSON (``to_wire``):
  datetimes become ISO 8601 UTC strings, sets and tuples lists, a
  ``constraint()`` ``{"__constraint__": {column: {"equal_any": [...]}}}``
  (``not_equal`` likewise), anything else JSON cannot carry (netaddr
  addresses, UUIDs) its text.
* the version sent is the method's in ``NOVA_METHODS``, capped by
  ``[upgrade_levels] compute_proxy`` (a 1.x cap makes every call fail with
  ``RPCVersionCapError``: the proxies of that release have no 2.x).
* after ``MessagingTimeout`` the call is sent again, up to ``[proxy_client]
  retries`` times ``[proxy_client] retry_interval`` apart, only when
  ``NOVA_METHODS`` marks it idempotent; otherwise, and after the last
  retry, the timeout is raised to the caller.
* the result comes back as nova's DB API returns it, but as plain dicts
  and lists (``from_wire``): the ISO 8601 strings under the keys of
  ``DATETIME_KEYS``, at any depth, become naive UTC datetimes.
* a proxy error is raised as ``nova.exception.<same name>(**kwargs)`` when
  nova is importable and has that class, so that nova's ``except
  exception.InstanceNotFound`` catches it; the ``nova_proxy.exception``
  classes nova lacks (``HostScopeViolation``, ``DatabaseUnavailable``,
  ``ProxyInternalError``, ...) are raised as themselves, made subclasses
  of nova's class of their nearest ancestor (``HostScopeViolation`` is a
  ``nova.exception.Forbidden``, the others at least a ``NovaException``).
  Without nova, errors are the ``nova_proxy.exception`` classes; and so
  they are for a call made with ``nova_proxy.common.context``'s own
  ``RequestContext``, whose caller is this project's code, never nova's
  (the reference compute service ``nova_proxy.compute.service`` catches
  and raises them on its own RPC API, nova installed or not).

The transport is this module's own, built on first use from ``[DEFAULT]
transport_url``, apart from any transport nova builds: nothing here
changes how nova's own RPC behaves (``nova_proxy.common.amqp_guard`` is not
installed in a shim process). ``reset()`` drops it (tests, after a fork).
"""

import datetime
import socket
import threading

from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_serialization import jsonutils
from oslo_utils import importutils

from nova_proxy.common import auth
from nova_proxy.common import context as np_context
from nova_proxy.common import rpc
from nova_proxy import conf
from nova_proxy import exception
from nova_proxy.proxy import rpcapi

LOG = logging.getLogger(__name__)
CONF = conf.CONF
# At import, as nova's modules register theirs: ours then exist whenever
# nova's configuration is parsed and read.
conf.register_client_opts(CONF)

__all__ = ['call', 'reset', 'set_signer', 'get_transport', 'this_host',
           'to_wire', 'from_wire', 'as_nova_error', 'nova_exception',
           'DATETIME_KEYS', 'CONSTRAINT_KEY']

# The DateTime columns of nova's main database (nova/db/main/models.py),
# wherever they appear in a result: a row, a joined row, a list of rows.
DATETIME_KEYS = frozenset([
    'created_at', 'updated_at', 'deleted_at', 'launched_at',
    'terminated_at', 'last_seen_up', 'start_time', 'finish_time',
    'period_beginning', 'period_ending', 'tot_last_refreshed',
    'curr_last_refreshed', 'expire',
])

CONSTRAINT_KEY = '__constraint__'
_CONDITIONS = {'EqualityCondition': 'equal_any',
               'InequalityCondition': 'not_equal'}

_lock = threading.Lock()
_transport = None
_client = None
# set_signer()'s: None, or what signs instead of [proxy_client] key_file's.
_signer = None


def _method(method):
    # Looked up at each call: the table lives in rpcapi, beside the
    # server's, and a shim function may be older or newer than it.
    table = getattr(rpcapi, 'NOVA_METHODS', None) or {}
    try:
        return table[method]
    except KeyError:
        raise NotImplementedError(
            '%s is not a method of the proxies\' 2.x API '
            '(nova_proxy.proxy.rpcapi.NOVA_METHODS)' % method)


def get_transport():
    """The shim's own oslo.messaging transport, built on first use."""
    global _transport
    with _lock:
        if _transport is None:
            _transport = messaging.get_rpc_transport(
                CONF, allowed_remote_exmods=[exception.__name__])
        return _transport


def this_host():
    """The host this process calls as: nova's ``[DEFAULT] host`` in
    nova-compute, ours in our own processes."""
    return CONF.host if 'host' in CONF else socket.gethostname()


def _get_client():
    global _client
    client = _client
    if client is None:
        transport = get_transport()
        with _lock:
            # Read under the lock: reset() or set_signer() in another
            # thread may have dropped it since.
            if _client is None:
                signer = _signer
                if signer is None and CONF.proxy_client.key_file:
                    signer = auth.Signer('compute', this_host())
                _client = rpc.get_client(
                    messaging.Target(topic=CONF.proxy.topic),
                    version_cap=rpc.version_cap('compute_proxy', major=2),
                    timeout=CONF.proxy_client.rpc_timeout, signer=signer,
                    transport=transport)
            client = _client
    return client


def reset():
    """Drop the client and its transport, and any ``set_signer()`` (tests,
    after a fork, after a change of ``[proxy_client]`` options)."""
    global _transport, _client, _signer
    with _lock:
        transport, _transport, _client = _transport, None, None
        _signer = None
    if transport is not None:
        transport.cleanup()


def set_signer(signer):
    """Sign this process's calls with ``signer`` (``sign(context, target,
    method, args)``, as ``auth.Signer``) instead of as this host with
    ``[proxy_client] key_file``; None goes back to that. For a process that
    calls as many compute hosts (the benchmark's simulated fleet); the
    transport is kept."""
    global _client, _signer
    with _lock:
        _signer, _client = signer, None


def _context_dict(context):
    if context is None:
        values = {}
    elif isinstance(context, dict):
        values = dict(context)
    else:
        values = context.to_dict()
    if not values.get('compute_host'):
        values['compute_host'] = this_host()
    return values


def call(context, method, **kwargs):
    """Call ``method`` of the proxies' 2.x API; see the module docstring.

    :returns: the result, ``from_wire``.
    :raises: what the proxy raises (as nova's class where nova has it,
        unless ``context`` is ours), ``MessagingTimeout``,
        ``NotImplementedError`` for a method that is not in
        ``NOVA_METHODS``.
    """
    version, idempotent = _method(method)
    cctxt = _get_client().prepare(version=version)
    ctxt = _context_dict(context)
    args = {name: to_wire(value) for name, value in kwargs.items()}
    try:
        return from_wire(rpc.call_retrying(cctxt, ctxt, method, idempotent,
                                           args))
    except (exception.NovaProxyException, messaging.RemoteError) as e:
        if isinstance(context, np_context.RequestContext):
            raise
        nova_error = as_nova_error(e)
        if nova_error is None:
            raise
        raise nova_error from e


# -- arguments --

def _isotime(value):
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    else:
        value = value.astimezone(datetime.timezone.utc)
    return value.isoformat()


def _condition(condition):
    operator = _CONDITIONS.get(type(condition).__name__)
    if operator is None:
        raise TypeError('cannot send %r in a constraint' % (condition,))
    return {operator: [to_wire(v) for v in condition.values]}


def to_wire(value):
    """``value`` as JSON for the wire (see the module docstring)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, datetime.datetime):
        return _isotime(value)
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        items = [to_wire(item) for item in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, (list, tuple)):
        return [to_wire(item) for item in value]
    conditions = getattr(value, 'conditions', None)
    if isinstance(conditions, dict):  # nova's Constraint, or ours
        return {CONSTRAINT_KEY: {column: _condition(condition)
                                 for column, condition in conditions.items()}}
    return jsonutils.to_primitive(value, convert_instances=True)


# -- results --

def _datetime(text):
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        return text
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value


def from_wire(value):
    """A result as nova's DB API gives it: times as naive UTC datetimes."""
    if isinstance(value, dict):
        return {key: (_datetime(item)
                      if key in DATETIME_KEYS and isinstance(item, str)
                      else from_wire(item))
                for key, item in value.items()}
    if isinstance(value, list):
        return [from_wire(item) for item in value]
    return value


# -- errors --

def nova_exception():
    """``nova.exception``, or None when nova is not installed."""
    return importutils.try_import('nova.exception')


# Our base class stands for nova's base class.
_NOVA_NAMES = {exception.NovaProxyException.__name__: 'NovaException'}
_hybrids = {}


def _nova_class(nova_exc, name):
    cls = getattr(nova_exc, _NOVA_NAMES.get(name, name), None)
    if isinstance(cls, type) and issubclass(cls, nova_exc.NovaException):
        return cls
    return None


def _hybrid(ours, nova_exc):
    """``ours``, and also the nova class of its nearest ancestor that nova
    has: ``HostScopeViolation`` is caught by nova's ``except
    exception.Forbidden``, ``DatabaseUnavailable`` by ``except
    exception.NovaException``."""
    if ours not in _hybrids:
        nova_base = next(_nova_class(nova_exc, ancestor.__name__)
                         for ancestor in ours.__mro__
                         if _nova_class(nova_exc, ancestor.__name__))
        _hybrids[ours] = type(ours.__name__, (ours, nova_base),
                              {'__module__': ours.__module__})
    return _hybrids[ours]


def as_nova_error(error):
    """The proxy's ``error`` as nova's code can catch it, or None (the
    caller keeps ``error``): nova's class of the same name, built with the
    same kwargs and message; for a class nova lacks, ours made a subclass
    of nova's class of its nearest ancestor (``_hybrid``)."""
    nova_exc = nova_exception()
    if nova_exc is None:
        return None
    if isinstance(error, messaging.RemoteError):
        # A class this client's nova_proxy.exception does not have (a
        # newer proxy): only its name and message came through.
        cls = _nova_class(nova_exc, error.exc_type)
        return None if cls is None else cls(message=error.value)
    # oslo.messaging raises a subclass "<Name>_Remote" of the class.
    ours = type(error)
    if ours.__name__.endswith('_Remote'):
        ours = ours.__mro__[1]
    kwargs = getattr(error, 'kwargs', {})
    message = getattr(error, 'message', None)
    cls = _nova_class(nova_exc, ours.__name__)
    if cls is None:
        hybrid = _hybrid(ours, nova_exc)(message, **kwargs)
        # nova's __init__, last in the chain, kept its own copy (and a
        # "code"): the kwargs are the proxy's.
        hybrid.kwargs = kwargs
        return hybrid
    try:
        return cls(message=message, **kwargs)
    except Exception:
        LOG.debug('Cannot build nova.exception.%s from %r: raising %s',
                  ours.__name__, kwargs, ours.__name__, exc_info=True)
        return None


def db_not_allowed(binary='nova-compute'):
    """nova's ``DBNotAllowed`` (ours without nova), for what would need a
    database of its own in this process."""
    nova_exc = nova_exception()
    cls = nova_exc.DBNotAllowed if nova_exc else exception.DBNotAllowed
    return cls(binary=binary)
