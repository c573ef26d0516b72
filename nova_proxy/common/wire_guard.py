"""What an RPC server does with traffic it will not serve.

A caller that holds no key can still put messages on our topics. This
module makes sure such messages take no executor thread for longer than
one attempt at a reply (a fraction of a millisecond of CPU each), one log
line per kind and source per interval, and that what any caller gets
back names the error without showing our internals:

* ``GuardedRPCServer`` looks at each call in the listener's thread,
  before it takes an executor thread: a call without a usable reply
  address (``_msg_id`` without ``_reply_q``, a reply address that is not
  a reply queue's name) or with an envelope of the wrong shape (method,
  arguments, version, namespace, call-monitor timeout) is dropped there.
  A reply address must name a reply queue (``reply_...``): never one of
  the service queues, so no caller can have a proxy publish its replies
  into a request queue.
* ``QuietDispatcher`` turns an unknown method, an unknown version and an
  envelope its serializer cannot read into one rate-limited WARNING, no
  traceback, and a reply that names the error.
* Every error reply leaves without the server's traceback
  (``scrubbed``): the caller gets the error's class, its message and its
  kwargs; no file paths, no SQL of a database error it was raised from.

``nova_proxy.common.amqp_guard`` does the same below oslo.messaging's
listener (bodies above ``[proxy] max_request_bytes``, bodies that are no
oslo.messaging envelope, repeated deliveries) and gives up at once on a
reply to a queue that never took one of our replies.

``REFUSED`` counts every message refused or dropped, by kind (see
``KINDS``); ``refused_counts()`` returns a copy for a metrics exporter.
"""

import collections
import re
import threading
import time

from oslo_log import log as logging
from oslo_messaging import serializer as messaging_serializer
from oslo_messaging.rpc import dispatcher as rpc_dispatcher
from oslo_messaging.rpc import server as rpc_server

from nova_proxy.common import amqp_guard
from nova_proxy.common import hand_over
from nova_proxy import conf
from nova_proxy import exception

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['KINDS', 'REFUSED', 'refused', 'refused_counts', 'source_of',
           'screen', 'scrubbed', 'GuardedRPCServer', 'QuietDispatcher']

# What REFUSED counts: kind -> what it means.
KINDS = {
    'not_authenticated': 'a signature that does not check, or an unsigned '
                         'call where signatures are required',
    'unknown_method': 'a method no endpoint of that version serves',
    'bad_version': 'a version or namespace no endpoint serves',
    'malformed': 'an envelope of the wrong shape, or a body that is no '
                 'oslo.messaging message',
    'no_reply_address': 'a call whose reply address is missing or names '
                        'no reply queue',
    'too_large': 'a body above [proxy] max_request_bytes',
    'duplicate': 'a delivery of a message id already received',
    'reply_undeliverable': 'a reply to a queue that does not exist and '
                           'never took one of our replies',
    'reply_withheld': 'a refusal not answered: its reply queue never took '
                      'one of our replies, and REFUSAL_REPLIES_PER_SECOND '
                      'such answers were already sent',
}

_lock = threading.Lock()
REFUSED = collections.Counter()

# Distinct sources logged per kind and interval; more are counted and
# said in the next line of that kind, so changing the claimed source of
# each message does not flood the log either.
SOURCES_PER_INTERVAL = 10
_windows = {}


def refused_counts():
    """A copy of ``REFUSED``: ``{kind: messages since the start}``."""
    with _lock:
        return dict(REFUSED)


def _clean(text, limit=80):
    """``text`` fit for one log line: printable, bounded."""
    text = str(text)
    if len(text) > limit:
        text = text[:limit] + '...'
    return text.encode('ascii', 'backslashreplace').decode().replace(
        '\n', '\\n').replace('\r', '\\r')


def refused(kind, source, message, *args):
    """Count one refused message of ``kind`` from ``source``, and log
    ``message % args`` as a WARNING unless this kind and source was
    logged less than ``[proxy] refused_log_interval`` seconds ago (or
    ``SOURCES_PER_INTERVAL`` other sources were)."""
    source = _clean(source)
    now = time.monotonic()
    interval = CONF.proxy.refused_log_interval
    with _lock:
        REFUSED[kind] += 1
        window = _windows.get(kind)
        if window is None or now - window['start'] >= interval:
            held = window['held'] if window else 0
            window = _windows[kind] = {'start': now, 'sources': set(),
                                       'held': 0}
        else:
            held = 0
        if (source in window['sources'] or
                len(window['sources']) >= SOURCES_PER_INTERVAL):
            window['held'] += 1
            return
        window['sources'].add(source)
    text = message % args if args else message
    LOG.warning('%(text)s [%(kind)s: more from this source counted, not '
                'logged, for %(interval)ds%(held)s]',
                {'text': _clean(text, 400), 'kind': kind,
                 'interval': interval,
                 'held': '; %d more in the last interval' % held
                 if held else ''})


class _Budget:
    """A token bucket: ``take()`` is True at most ``rate`` times a
    second on average, ``capacity`` times at once."""

    def __init__(self, rate, capacity):
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def take(self):
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens +
                               (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


# Answering a call costs a publish and a broker round trip: most of what
# a refused call costs a proxy, measured at 0.5 to 1 ms of CPU on the
# development machines. A refusal (the caller is not authenticated, or
# asked for a method or version no endpoint serves) to a reply queue that
# never took one of our replies is answered within this budget only: a
# misconfigured compute node still learns why it is refused; a burst of
# refusals costs no publish past the budget.
REFUSAL_REPLIES_PER_SECOND = 50
_refusal_replies = _Budget(REFUSAL_REPLIES_PER_SECOND,
                           2 * REFUSAL_REPLIES_PER_SECOND)


def is_refusal(error):
    """True if ``error`` refuses a call before any endpoint looked at
    it: not authenticated, an unknown method or version, an envelope
    the serializer cannot read."""
    return (isinstance(error, (exception.NotAuthenticated,
                               rpc_dispatcher.NoSuchMethod,
                               rpc_dispatcher.UnsupportedVersion)) or
            getattr(error, 'unread', False))


def may_answer_refusal():
    """Whether a refusal to an unknown reply queue may be answered now
    (see ``REFUSAL_REPLIES_PER_SECOND``)."""
    return _refusal_replies.take()


def reset():
    """Forget counts, log windows and the spent reply budget (tests)."""
    global _refusal_replies
    with _lock:
        REFUSED.clear()
        _windows.clear()
        _refusal_replies = _Budget(REFUSAL_REPLIES_PER_SECOND,
                                   2 * REFUSAL_REPLIES_PER_SECOND)


def source_of(ctxt):
    """Who a message says it comes from, for the log (printable,
    bounded): the key it is signed with, else the compute host it claims,
    else ``anonymous``. Only a signature that checks makes it true."""
    if not isinstance(ctxt, dict):
        return 'anonymous'
    signature = ctxt.get('signature')
    if isinstance(signature, dict) and isinstance(signature.get('key'),
                                                  str):
        return _clean(signature['key'])
    host = ctxt.get('compute_host')
    if isinstance(host, str) and host:
        return 'unsigned, claims %s' % _clean(host)
    return 'anonymous'


# oslo.messaging's rabbit driver names reply queues "reply_" and a
# random hex (or host:process:counter with use_queue_manager), and
# message ids a random hex.
_REPLY_Q_RE = re.compile(r'^reply_[A-Za-z0-9._:-]{1,200}\Z')
_MSG_ID_RE = re.compile(r'^[A-Za-z0-9._:-]{1,100}\Z')
_METHOD_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]{0,127}\Z')
_VERSION_RE = re.compile(r'^[0-9]{1,4}\.[0-9]{1,4}\Z')
_NAMESPACE_RE = re.compile(r'^[A-Za-z0-9_.-]{1,128}\Z')


def screen(incoming):
    """``(kind, reason)`` if ``incoming`` (an oslo.messaging incoming
    message) must be dropped unserved, else None. Dict lookups and short
    regular expressions only: it runs in the listener's thread."""
    # The rabbit driver's incoming messages; other drivers' (the fake
    # one of unit tests) reply by other means.
    msg_id = getattr(incoming, 'orig_msg_id', None)
    reply_q = getattr(incoming, 'reply_q', None)
    if msg_id is not None:
        if not isinstance(msg_id, str) or not _MSG_ID_RE.match(msg_id):
            return 'no_reply_address', 'a malformed _msg_id'
        if reply_q is None:
            return 'no_reply_address', '_msg_id without _reply_q'
        if not isinstance(reply_q, str) or not _REPLY_Q_RE.match(reply_q):
            return 'no_reply_address', '_reply_q names no reply queue'
    message = getattr(incoming, 'message', None)
    if not isinstance(message, dict):
        return 'malformed', 'the message is not a dict'
    method = message.get('method')
    if not isinstance(method, str) or not _METHOD_RE.match(method):
        return 'malformed', 'no valid method name'
    if not isinstance(message.get('args', {}), dict):
        return 'malformed', 'args is not a dict'
    version = message.get('version', '1.0')
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        return 'malformed', 'no valid version'
    namespace = message.get('namespace')
    if namespace is not None and (not isinstance(namespace, str) or
                                  not _NAMESPACE_RE.match(namespace)):
        return 'malformed', 'no valid namespace'
    timeout = getattr(incoming, 'client_timeout', None)
    if timeout is not None and (isinstance(timeout, bool) or
                                not isinstance(timeout, (int, float))):
        return 'malformed', 'a _timeout that is not a number'
    if not isinstance(getattr(incoming, 'ctxt', None), dict):
        return 'malformed', 'no context'
    return None


def _describe(incoming):
    message = getattr(incoming, 'message', None)
    method = message.get('method') if isinstance(message, dict) else None
    return _clean(method if isinstance(method, str) else repr(method), 60)


class GuardedRPCServer(rpc_server.RPCServer):
    """oslo.messaging's RPC server, dropping in its listener's thread
    what ``screen`` refuses: those never take an executor thread, and
    are never answered (a call without a usable reply address cannot
    be)."""

    def __init__(self, transport, target, dispatcher, pool=None):
        super().__init__(transport, target, dispatcher)
        if pool is not None:
            # oslo.messaging builds its executor from this class in
            # start(), with max_workers=executor_thread_pool_size.
            self._executor_cls = pool
        self._ack_on_hand_over = False

    def _create_listener(self):
        """oslo.messaging's listener; with a pool of ours, one that
        acknowledges each call when a thread takes it
        (``hand_over.ack_on_hand_over``): calls beyond the pool's
        threads wait with the broker, not in this process's memory."""
        listener = super()._create_listener()
        if hasattr(self._work_executor, 'submit_when_free'):
            self._ack_on_hand_over = hand_over.ack_on_hand_over(
                getattr(listener, '_poll_style_listener', None))
        return listener

    def _on_incoming(self, incoming):
        kept = []
        for message in incoming:
            problem = screen(message)
            if problem is None:
                if (message.client_timeout is not None and
                        message.client_timeout < 2):
                    # The dispatcher would warn about it on every call.
                    message.client_timeout = None
                kept.append(message)
                continue
            # Dropped for good: not for the broker to deliver again.
            hand_over.acknowledge(message)
            kind, reason = problem
            source = source_of(getattr(message, 'ctxt', None))
            refused(kind, source, 'Dropped a message (%s) from %s: %s',
                    _describe(message), source, reason)
        if not kept:
            return
        if not self._ack_on_hand_over:
            super()._on_incoming(kept)
            return
        listener = self.listener._poll_style_listener
        self._work_executor.submit_when_free(
            self._process_incoming, (kept,),
            taken=lambda: self._taken(kept),
            stopping=lambda: amqp_guard.stopping(listener),
            keep_alive=lambda: hand_over.keep_alive(listener))

    @staticmethod
    def _taken(kept):
        """Acknowledge the calls a thread takes; drop (in place) those
        left to their redelivery. True if any is left to serve."""
        kept[:] = [message for message in kept
                   if hand_over.acknowledge(message)]
        return bool(kept)


def scrubbed(exc_info):
    """``exc_info`` without the traceback and without the exceptions it
    was raised from or while handling, which oslo.messaging would
    otherwise format into the reply (file paths; the SQL and parameters
    of a database error behind an ``*Exists``)."""
    error = exc_info[1]
    error.__traceback__ = None
    error.__cause__ = None
    error.__context__ = None
    error.__suppress_context__ = True
    return (type(error), error, None)


def _expected(error):
    """An ``ExpectedException`` carrying ``error``, scrubbed: the server
    replies with it and logs no traceback."""
    try:
        # Raised only to be caught: ExpectedException takes the
        # exception being handled.
        raise error
    except Exception:
        expected = rpc_dispatcher.ExpectedException()
    expected.exc_info = scrubbed(expected.exc_info)
    return expected


# Routes a dispatcher remembers (see ``QuietDispatcher._route``): more
# than the methods and versions our callers use, and a bound on what
# made-up versions can make it hold.
ROUTES_CACHED = 1024


class QuietDispatcher(rpc_dispatcher.RPCDispatcher):
    """oslo.messaging's dispatcher, with one WARNING line (rate-limited)
    instead of a traceback for what a caller got wrong, and replies
    without our tracebacks.

    A call goes to the endpoint oslo.messaging's ``dispatch()`` would
    choose (the first whose target takes its namespace and version and
    whose access policy allows its method), found once per namespace,
    version and method rather than by trying every endpoint's version on
    every call (2.5 us each: 45 us for a 2.x instance call behind the 1.x
    endpoints). A call without a call-monitor timeout needs none of the
    watchdog thread and event ``dispatch()`` builds for every call (13
    us); one with a timeout, and anything not routed, still goes through
    ``dispatch()``, as does every call when the serializer changes
    arguments or results."""

    def __init__(self, endpoints, serializer, access_policy=None):
        super().__init__(endpoints, serializer, access_policy)
        self._routes = {}
        hooks = type(self.serializer)
        noop = messaging_serializer.NoOpSerializer
        self._plain_entities = (
            hooks.serialize_entity is noop.serialize_entity and
            hooks.deserialize_entity is noop.deserialize_entity)

    def _route(self, namespace, version, method):
        """The endpoint that serves ``method`` of ``version`` in
        ``namespace``, as ``RPCDispatcher.dispatch`` chooses it; None when
        none does."""
        key = (namespace, version, method)
        endpoint = self._routes.get(key)
        if endpoint is not None:
            return endpoint
        for endpoint in self.endpoints:
            target = getattr(endpoint, 'target', None) or \
                self._default_target
            if (self._is_namespace(target, namespace) and
                    self._is_compatible(target, version) and
                    hasattr(endpoint, method) and
                    self.access_policy.is_allowed(endpoint, method)):
                if len(self._routes) < ROUTES_CACHED:
                    self._routes[key] = endpoint
                return endpoint
        return None

    def _dispatch(self, incoming):
        message = incoming.message
        # The rabbit driver's message is a dict of its own class.
        if isinstance(message, dict) and not incoming.client_timeout and \
                self._plain_entities:
            method = message.get('method')
            args = message.get('args', {})
            namespace = message.get('namespace')
            version = message.get('version', '1.0')
            if (type(method) is str and type(version) is str and
                    type(args) is dict and
                    (namespace is None or type(namespace) is str)):
                endpoint = self._route(namespace, version, method)
                if endpoint is not None:
                    ctxt = self.serializer.deserialize_context(incoming.ctxt)
                    return getattr(endpoint, method)(ctxt, **args)
        return super().dispatch(incoming)

    def dispatch(self, incoming):
        try:
            return self._dispatch(incoming)
        except rpc_dispatcher.ExpectedException as e:
            # The endpoints' errors (``rpc.remotable``): counted and
            # logged where they are raised.
            e.exc_info = scrubbed(e.exc_info)
            raise
        except Exception as e:
            error = e
        # Logged outside the except block: oslo.log would add the
        # exception being handled to the line.
        raise self._refuse(incoming, error)

    @staticmethod
    def _refuse(incoming, error):
        """Log and count ``error`` (raised by the dispatcher, not by an
        endpoint method); :returns: what the server should reply."""
        ctxt = getattr(incoming, 'ctxt', None)
        source = source_of(ctxt)
        method = _describe(incoming)
        if isinstance(error, rpc_dispatcher.NoSuchMethod):
            refused('unknown_method', source,
                    'Refused unknown method %s from %s', method, source)
            return _expected(error)
        if isinstance(error, rpc_dispatcher.UnsupportedVersion):
            message = incoming.message
            refused('bad_version', source,
                    'Refused %s version %s namespace %s from %s: no '
                    'endpoint serves it', method,
                    _clean(message.get('version')),
                    _clean(message.get('namespace')), source)
            return _expected(error)
        # Outside every endpoint method (those are ``remotable``): the
        # serializer could not read the context or arguments.
        refused('malformed', source,
                'Refused %s from %s: its context or arguments cannot be '
                'read (%s)', method, source, type(error).__name__)
        unread = exception.InvalidRequest(
            method=method, reason='the context or arguments cannot be '
                                  'read (%s)' % type(error).__name__)
        unread.unread = True
        return _expected(unread)


def get_server(transport, target, endpoints, serializer, access_policy,
               pool=None):
    """``messaging.get_rpc_server`` with our dispatcher and server;
    ``pool``: the executor class, instead of oslo.messaging's."""
    return GuardedRPCServer(
        transport, target,
        QuietDispatcher(endpoints, serializer, access_policy), pool=pool)
