"""The one place where our processes meet oslo.messaging.

Everything that decides how a message travels is here: the transport, the
exchange (``control_exchange``, default ``nova``), the modules whose
exceptions a client may rebuild, the context serializer, the access policy
of our RPC servers, and the version caps of ``[upgrade_levels]``.

Callers use ``init()`` once per process (after config is parsed, and in each
worker after a fork), then ``get_client()`` / ``get_server()``.
"""

import functools
import inspect
import threading
import time
import types
import typing
import uuid

from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_messaging.rpc import dispatcher as rpc_dispatcher

from nova_proxy.common import amqp_guard
from nova_proxy.common import auth
from nova_proxy.common import context as np_context
from nova_proxy.common import db_errors
from nova_proxy.common import executor
from nova_proxy.common import metrics
from nova_proxy.common import utils
from nova_proxy.common import wire_guard
from nova_proxy import conf
from nova_proxy import exception

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['init', 'cleanup', 'get_transport', 'get_client', 'get_server',
           'RequestContextSerializer', 'AllowListAccessPolicy', 'remotable',
           'version_cap', 'call_retrying', 'call_within', 'RELEASE_MAPPING',
           'ALLOWED_EXMODS']

# Exceptions of these modules are rebuilt as themselves on the client.
ALLOWED_EXMODS = [exception.__name__]

# [upgrade_levels] aliases: release name -> highest version it speaks, per
# API. Add a row when a release changes a version.
RELEASE_MAPPING = {
    'compute_proxy': {'2026.2': '1.1', '2027.1': '2.0'},
    'compute_task': {'2026.2': '1.0'},
    'compute': {'2026.2': '1.0'},
}

DEFAULT_EXCHANGE = 'nova'

_lock = threading.Lock()
_transport = None


# [oslo_messaging_rabbit] rabbit_qos_prefetch_count: deliveries a consumer
# may hold unacknowledged (oslo.messaging's default, 0, is unlimited). A
# proxy that is paused (SIGSTOP, a frozen VM) strands what was delivered
# to it: unlimited, that is its share of every call queued meanwhile;
# measured in docs/operations.rst.
PREFETCH_COUNT = 16


# [DEFAULT] executor_thread_pool_size of the proxy daemon (not of compute
# services, whose calls wait on long work). A proxy's calls are short
# database transactions sharing one GIL: oslo.messaging's 64 threads hand
# the GIL to each other more than they overlap waits, and 8 served 1.2 to
# 1.9 times the calls per second of 64 at 16 and 64 callers, with less
# CPU per call (docs/benchmark.rst, step 21). It bounds the calls running
# at once; calls beyond these threads wait with the broker, not
# acknowledged (hand_over.ack_on_hand_over: a call is acknowledged when a
# thread takes it), at most PREFETCH_COUNT of them delivered to a proxy.
PROXY_EXECUTOR_THREADS = 8


def set_executor_threads_default(threads, conf=CONF):
    """Make ``threads`` the default of ``[DEFAULT]
    executor_thread_pool_size`` in ``conf``; a value in the config files
    still wins."""
    from oslo_messaging import opts as messaging_opts
    # oslo.messaging registers the option when it builds a server; register
    # it (its copy, which compares equal) now to give it our default. Its
    # list names the DEFAULT group None.
    conf.register_opts([opt for group, opts in messaging_opts.list_opts()
                        if group in (None, 'DEFAULT') for opt in opts
                        if opt.name == 'executor_thread_pool_size'])
    conf.set_default('executor_thread_pool_size', threads)


def set_defaults():
    """Our defaults for oslo.messaging options, before config is parsed."""
    from oslo_config import cfg
    from oslo_messaging._drivers import impl_rabbit
    messaging.set_transport_defaults(control_exchange=DEFAULT_EXCHANGE)
    # As set_transport_defaults does: on the driver's own option objects,
    # so the default holds wherever they are registered and in the
    # generated sample file.
    cfg.set_defaults(impl_rabbit.rabbit_opts,
                     rabbit_qos_prefetch_count=PREFETCH_COUNT)


def init(url=None):
    """Build this process's transport. Idempotent; call after a fork."""
    global _transport
    amqp_guard.install()
    auth.install_reply_binding()
    with _lock:
        if _transport is None:
            _transport = messaging.get_rpc_transport(
                CONF, url=url, allowed_remote_exmods=ALLOWED_EXMODS)
    return _transport


def cleanup():
    global _transport
    with _lock:
        transport, _transport = _transport, None
    if transport is not None:
        transport.cleanup()


def get_transport():
    return _transport if _transport is not None else init()


class RequestContextSerializer(messaging.NoOpSerializer):
    """Sends our ``RequestContext`` as its ``to_dict()``.

    Arguments and results are already JSON-safe dicts, lists and scalars
    (see ``nova_proxy.db.api``), so entities pass through unchanged.

    :param verifier: on a server, the ``auth.Verifier`` of its calls: the
        context keeps the dict it came from, and ``remotable`` checks its
        signature once the method and arguments are known.
    """

    def __init__(self, verifier=None):
        self.verifier = verifier

    def serialize_context(self, context):
        if context is None:
            return {}
        if isinstance(context, dict):
            return context
        return context.to_dict()

    def deserialize_context(self, context):
        ctx = np_context.RequestContext.from_dict(context or {})
        if self.verifier is not None:
            ctx.auth_pending = (self.verifier, context or {})
        return ctx


def _authenticate(endpoint, context, method, kwargs, ride=False):
    """Check the caller of a call that came over RPC (see ``auth``).
    :returns: the nonce riding with the call's write, or None."""
    pending = getattr(context, 'auth_pending', None)
    if pending is None:
        return None  # an in-process call, not one from the wire
    context.auth_pending = None
    verifier, raw = pending
    namespace = getattr(getattr(endpoint, 'target', None), 'namespace', None)
    return verifier.authenticate(context, raw, method, namespace, kwargs,
                                 ride=ride)


def nonce_with_write(fn):
    """Mark an endpoint method (under ``remotable``) whose call writes in
    one statement that commits as it runs (``db.session.
    autocommit_writer``), before any other work of consequence: a signed
    call's nonce may then ride with that statement, one round trip
    instead of two (``nova_proxy.db.nonces``). For the most frequent
    writes only: the heartbeat, the compute node's save."""
    fn.nonce_with_write = True
    return fn


class _SigningClient:
    """An oslo.messaging RPC client whose calls carry a signed context.

    Signing needs the method name and the arguments, which the serializer
    never sees together with the context, so it happens here, around the
    client and each ``prepare()``\'d call context.
    """

    def __init__(self, client, signer):
        self._client = client
        self._signer = signer

    def prepare(self, **kwargs):
        return _SigningClient(self._client.prepare(**kwargs), self._signer)

    def _signed(self, ctxt, method, kwargs):
        if not isinstance(ctxt, dict):
            ctxt = {} if ctxt is None else ctxt.to_dict()
        target = getattr(self._client, 'target', None)
        if target is None:  # an RPCClient, not a prepared call context
            target = self._client.prepare().target
        return self._signer.sign(ctxt, target, method, kwargs)

    def call(self, ctxt, method, **kwargs):
        return self._client.call(self._signed(ctxt, method, kwargs), method,
                                 **kwargs)

    def cast(self, ctxt, method, **kwargs):
        return self._client.cast(self._signed(ctxt, method, kwargs), method,
                                 **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


class AllowListAccessPolicy(rpc_dispatcher.RPCAccessPolicyBase):
    """Only methods marked with ``@remotable`` may be called over RPC.

    The set of callable methods is then exactly what ``rpcapi.py`` lists,
    which a contract test checks.
    """

    def is_allowed(self, endpoint, method):
        return getattr(getattr(endpoint, method, None), 'remotable', False)


def _type_name(types):
    return ' or '.join('null' if t is type(None) else t.__name__
                       for t in types)


def _argument_types(fn):
    """``{argument: ((type, ...), item types or None)}`` from ``fn``'s
    annotations.

    Only plain JSON types are checked (``str``, ``int``, ``dict``, ``list``,
    ``bool`` and ``X | None``), and the items of a ``list[X]``; an argument
    without an annotation takes any JSON value and is checked by the code
    that uses it.
    """
    checks = {}
    for name, hint in typing.get_type_hints(fn).items():
        if name == 'return':
            continue
        if isinstance(hint, types.UnionType) or \
                typing.get_origin(hint) is typing.Union:
            members = typing.get_args(hint)
        else:
            members = (hint,)
        items = None
        for member in members:
            if typing.get_origin(member) is list and typing.get_args(member):
                items = typing.get_args(member)
        # Any (or anything that is not a class) turns the check off for
        # that argument.
        members = tuple(typing.get_origin(m) or m for m in members)
        if all(isinstance(m, type) and m is not typing.Any
               for m in members):
            if items is not None and not all(
                    isinstance(i, type) and i is not typing.Any
                    for i in items):
                items = None
            checks[name] = (members, items)
    return checks


def _type_ok(value, allowed):
    # bool is an int to Python but never a valid id or count on the wire.
    if isinstance(value, bool) and bool not in allowed:
        return False
    return isinstance(value, allowed)


def _check_argument_types(method, checks, arguments):
    for name, (allowed, items) in checks.items():
        if name not in arguments:
            continue
        value = arguments[name]
        if not _type_ok(value, allowed):
            raise exception.InvalidRequest(
                method=method,
                reason='argument %s must be %s, not %s' % (
                    name, _type_name(allowed), type(value).__name__))
        if items is not None and isinstance(value, list):
            for item in value:
                if not _type_ok(item, items):
                    raise exception.InvalidRequest(
                        method=method,
                        reason='argument %s must be a list of %s, not of %s'
                               % (name, _type_name(items),
                                  type(item).__name__))
        problem = _unstorable(value)
        if problem:
            raise exception.InvalidRequest(
                method=method, reason='argument %s %s' % (name, problem))


# Ids and counts are at most 64-bit on every backend; beyond, SQLite's
# driver fails where the others answer "not found".
_INT64 = 2 ** 63


def _unstorable(value):
    """What makes a well-typed argument unfit for any of our databases,
    or None: text with NUL (PostgreSQL refuses it) or a lone surrogate
    (no UTF-8 for it; JSON can carry one), an integer beyond 64 bits."""
    if isinstance(value, str):
        return utils.text_problem(value)
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        return 'is out of range'
    if isinstance(value, list):
        for item in value:
            problem = _unstorable(item)
            if problem:
                return 'has an item that %s' % problem
    return None


# The request context's fields a call may carry, and their JSON types:
# anything else there is refused before any use (the fuzzer sent a dict
# as project_id, which reached a query's filter).
_CONTEXT_TEXT = ('user_id', 'project_id', 'domain_id', 'user_domain_id',
                 'project_domain_id', 'request_id', 'global_request_id',
                 'user_name', 'project_name', 'auth_token', 'system_scope',
                 'resource_uuid', 'compute_host', 'read_deleted')
_CONTEXT_FLAGS = ('is_admin', 'is_admin_project', 'read_only', 'show_deleted')


def _check_context(method, context):
    if context is None:
        return
    for name in _CONTEXT_TEXT:
        value = getattr(context, name, None)
        if value is None:
            continue
        if not isinstance(value, str):
            raise exception.InvalidRequest(
                method=method, reason='context field %s must be text or '
                'null, not %s' % (name, type(value).__name__))
        problem = utils.text_problem(value)
        if problem:
            raise exception.InvalidRequest(
                method=method, reason='context field %s %s'
                % (name, problem))
    for name in _CONTEXT_FLAGS:
        value = getattr(context, name, None)
        if value is not None and not isinstance(value, bool):
            raise exception.InvalidRequest(
                method=method, reason='context field %s must be true or '
                'false, not %s' % (name, type(value).__name__))
    roles = getattr(context, 'roles', None) or []
    if not isinstance(roles, list) or not all(
            isinstance(role, str) for role in roles):
        raise exception.InvalidRequest(
            method=method, reason='context field roles must be a list of '
            'text')


def _keyword_arguments(signature, checks):
    """``(names, required names)`` of the arguments after ``self`` and
    ``context`` of an endpoint method whose every such argument may be
    passed by name (no ``*args``, no ``**kwargs``), ``self`` and
    ``context`` not checked by type: a call that names all the required
    ones and no other binds without ``Signature.bind()`` (a few us a
    call). None for any other method: always bound in full."""
    parameters = list(signature.parameters.values())
    if len(parameters) < 2 or any(
            p.kind not in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY)
            for p in parameters[:2]) or set(checks) & {
                p.name for p in parameters[:2]}:
        return None
    rest = parameters[2:]
    if any(p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
           for p in rest):
        return None
    return (frozenset(p.name for p in rest),
            frozenset(p.name for p in rest if p.default is p.empty))


def _database_unavailable(method, error):
    """A database outage: one warning line, and the caller gets
    ``DatabaseUnavailable`` (expected: no traceback per call)."""
    reason = db_errors.describe(error)
    LOG.warning('Database unavailable while serving %(method)s: %(reason)s',
                {'method': method, 'reason': reason})
    try:
        raise exception.DatabaseUnavailable(method=method, reason=reason)
    except exception.DatabaseUnavailable:
        raise messaging.ExpectedException()


def remotable(fn):
    """Mark an endpoint method callable over RPC, and make its errors clean.

    * A call from the wire is authenticated first (``auth``): a bad
      signature, or a missing one where required, gives
      ``NotAuthenticated``, and a signed compute host's context is scoped
      to that host.
    * Arguments that do not fit the signature (missing, unexpected, or of a
      type other than the annotated one) give ``InvalidRequest``.
    * Our own errors (``nova_proxy.exception``) reach the caller as
      themselves, and the server logs no traceback for them: they are the
      caller's business.
    * Anything else is logged here once with an error id, and the caller
      gets ``ProxyInternalError`` with that id and the error's class name
      (not its text, which may hold SQL): never a traceback, and the
      server keeps serving.
    * The database being unreachable is logged as one warning line and
      gives ``DatabaseUnavailable``.
    """
    signature = inspect.signature(fn)
    checks = _argument_types(fn)
    method = fn.__name__
    accepts = _keyword_arguments(signature, checks)
    ride = getattr(fn, 'nonce_with_write', False)

    # Positional-only, so that a caller's argument named "context" or
    # "self" lands in kwargs and fails the bind below, as a named error.
    @functools.wraps(fn)
    def wrapper(self, context, /, **kwargs):
        try:
            riding = _authenticate(self, context, method, kwargs, ride)
            try:
                _check_context(method, context)
                if (accepts is not None and kwargs.keys() <= accepts[0] and
                        accepts[1] <= kwargs.keys()):
                    arguments = kwargs
                else:
                    try:
                        arguments = signature.bind(
                            self, context, **kwargs).arguments
                    except TypeError as e:
                        raise exception.InvalidRequest(method=method,
                                                       reason=str(e))
                _check_argument_types(method, checks, arguments)
                result = fn(self, context, **kwargs)
            finally:
                if riding is not None:
                    # Recorded by itself if it did not ride (a replay
                    # then refused, whatever the call did or raised).
                    riding.finish()
            LOG.debug('Served %s', method)
            return result
        except exception.NovaProxyException as e:
            LOG.debug('Served %(method)s: %(error)s',
                      {'method': method, 'error': type(e).__name__})
            raise messaging.ExpectedException()
        except Exception as e:
            if db_errors.is_database_unavailable(e):
                _database_unavailable(method, e)
            error_id = uuid.uuid4().hex[:12]
            LOG.exception('Error %(id)s while serving %(method)s',
                          {'id': error_id, 'method': method})
            # The error's name only: its text may hold SQL, values or
            # paths; the log has it under error_id.
            try:
                raise exception.ProxyInternalError(
                    method=method, error_id=error_id,
                    reason=type(e).__name__)
            except exception.ProxyInternalError:
                raise messaging.ExpectedException()

    wrapper = metrics.served(method, wrapper)
    wrapper.remotable = True
    return wrapper


def version_cap(api, major=None):
    """The ``[upgrade_levels]`` cap of ``api``: a version or None.

    :param major: the major version of the caller's methods, for an API
        that serves two majors side by side (``compute_proxy``: 1.x and
        nova's 2.x). A cap of a later major leaves the earlier one
        uncapped (its last minor is served unchanged); a cap of an earlier
        major is returned as it is, so that sending anything of the later
        major fails with ``RPCVersionCapError``.
    """
    cap = getattr(CONF.upgrade_levels, api)
    if cap is None:
        return None
    cap = RELEASE_MAPPING.get(api, {}).get(cap, cap)
    if major is not None and int(cap.split('.')[0]) > major:
        return None
    return cap


def call_retrying(cctxt, context, method, retry_safe, kwargs,
                  timeout=None):
    """``call_within(cctxt, context, method, timeout, **kwargs)``: each
    attempt ends within ``timeout`` seconds (default ``[proxy_client]
    rpc_timeout``), broker outage or not; after a ``MessagingTimeout`` it
    is sent again ``[proxy_client] retries`` times, ``[proxy_client]
    retry_interval`` apart, when ``retry_safe`` (a call whose repetition
    changes nothing); the last timeout is raised."""
    if timeout is None:
        timeout = CONF.proxy_client.rpc_timeout
    attempts = 1 + (CONF.proxy_client.retries if retry_safe else 0)
    for attempt in range(1, attempts + 1):
        try:
            return call_within(cctxt, context, method, timeout, **kwargs)
        except messaging.MessagingTimeout:
            if attempt >= attempts:
                raise
            LOG.warning('Proxy call %(method)s timed out; retrying '
                        '(%(attempt)d of %(retries)d)',
                        {'method': method, 'attempt': attempt,
                         'retries': attempts - 1})
            time.sleep(CONF.proxy_client.retry_interval)


def get_client(target, version_cap=None, timeout=None, signer=None,
               transport=None):
    """An RPC client; its calls are signed by ``signer`` (an
    ``auth.Signer``), by default this process's when it has a key
    (``auth.get_signer()``).

    :param transport: an oslo.messaging transport of the caller's own (the
        shim in a nova process keeps one apart from nova's); by default
        this process's (``init()``). With one, the default signer is not
        looked up: pass ``signer`` (or None for unsigned calls).
    """
    client = messaging.get_rpc_client(
        transport or get_transport(), target, version_cap=version_cap,
        timeout=timeout, serializer=RequestContextSerializer())
    if transport is None:
        signer = signer or auth.get_signer()
    if signer is None:
        return client
    # Also for a transport of the caller's own, which init() never saw.
    auth.install_reply_binding()
    return _SigningClient(client, signer)


# [proxy] executor: the thread pool class of each choice (None:
# oslo.messaging's own).
EXECUTORS = {'threading': None, 'last-idle': executor.LastIdlePool,
             'receiver-first': executor.ReceiverFirstPool}


def get_server(target, endpoints, executor='threading',
               server='oslo.messaging'):
    """An RPC server; ``remotable`` checks its callers with
    ``auth.get_verifier(target)``, and ``wire_guard`` drops what cannot
    be served before it takes a thread, logs refusals quietly and keeps
    tracebacks out of replies.

    :param executor: a key of ``EXECUTORS`` (see ``[proxy] executor``).
        ``threading`` is oslo.messaging's own: oslo.messaging 18
        deprecates naming one and picks its threading executor in a
        process that is not monkey-patched, which our daemons never are.
    :param server: ``oslo.messaging``, or ``direct`` for
        ``direct_rpc.DirectRPCServer`` (``[proxy] rpc_server``; the
        executor is then not used).
    """
    auth.install_reply_binding()
    serializer = RequestContextSerializer(auth.get_verifier(target))
    if server == 'direct':
        from nova_proxy.common import direct_rpc
        return direct_rpc.DirectRPCServer(
            target,
            wire_guard.QuietDispatcher(endpoints, serializer,
                                       AllowListAccessPolicy),
            exchange=target.exchange or CONF.control_exchange,
            threads=CONF.executor_thread_pool_size)
    return wire_guard.get_server(
        get_transport(), target, endpoints, serializer=serializer,
        access_policy=AllowListAccessPolicy, pool=EXECUTORS[executor])


# Seconds between two attempts to publish a call while the broker cannot
# be reached. An attempt on a closed connection or a refused port fails at
# once, so this is about how soon a call goes out once the broker is back.
PUBLISH_RETRY_INTERVAL = 0.5


def call_within(cctxt, context, method, timeout, **kwargs):
    """``cctxt.call(context, method, **kwargs)``, ended within ``timeout``
    seconds whether or not the broker can be reached.

    oslo.messaging's ``timeout`` bounds only the wait for the answer: with
    the broker down, publishing the call reconnects for as long as it
    takes (a client's ``retry`` is unset), at the rabbit driver's growing
    intervals, so a call overran its timeout (measured: 23 s against 10 s)
    and went out seconds after the broker was back. Here each publish is
    one attempt (``retry=0``), made again every
    ``PUBLISH_RETRY_INTERVAL`` until the deadline, and the answer is
    awaited for the time that is left. A call is published at most once
    per attempt, as the driver's own retries would, so a call that is not
    safe to repeat is no less safe.

    What this does not bound: a process's first call makes its reply
    queue, on a connection oslo.messaging opens with no limit; compute
    services bound their start-up ping separately.

    :raises: MessagingTimeout when no answer came within ``timeout``
        (the broker unreachable included); what the call raised
        otherwise.
    """
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            return cctxt.prepare(timeout=max(left, 0.01), retry=0).call(
                context, method, **kwargs)
        except messaging.MessageDeliveryFailure as e:
            left = deadline - time.monotonic()
            if left <= 0:
                raise messaging.MessagingTimeout(
                    'No answer to %s within %ss: the message broker could '
                    'not be reached (%s)' % (method, timeout, e))
            LOG.debug('Cannot publish %(method)s yet: %(error)s',
                      {'method': method, 'error': e})
            time.sleep(min(PUBLISH_RETRY_INTERVAL, left))
