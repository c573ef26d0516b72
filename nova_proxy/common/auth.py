"""Who is calling: HMAC-signed request contexts.

The host scope of the proxies (``nova_proxy.proxy.policy``) confines a call
to the ``compute_host`` of its context. Without this module that value is
only asserted by the caller. Here a caller proves it with a key:

* every compute host has its own secret key, in its ``[proxy_client]
  key_file`` and, under the same secret, in the proxies' ``[proxy]
  host_keys_dir`` as ``<host>.key``;
* proxies and operators share one more key, ``_proxy.key`` in that same
  directory. It never leaves the proxy and operator hosts.

What is signed: the whole context dict (``compute_host``, ``request_id``,
``is_admin``, user, project, ...), the method name, its namespace, the
called server (for calls to ``compute.<host>``), a SHA-256 digest of the
arguments, the reply address of a call (the ``_msg_id`` and ``_reply_q``
the rabbit driver gives it), a timestamp and a random nonce. The
signature travels in the context, under the key ``signature``::

    {"v": 2, "by": "compute", "key": "host:compute-1", "to": null,
     "ts": 1764080000.123, "nonce": "9f...", "mac": "<hex HMAC-SHA256>"}

The reply address is chosen by the driver after the client has handed
its message over, so a call is signed first without it and signed again,
with it, when the driver packs the context into the message
(``install_reply_binding()``). A replay sent with its own ``_reply_q``, to
read the answer meant for another host, fails the signature. Version 1
signatures (no reply address) are refused.

Signing happens in the RPC client (``nova_proxy.common.rpc.get_client``
wraps the oslo.messaging client when this process has a key); checking
happens in ``nova_proxy.common.rpc.remotable``, the one place every
endpoint method goes through, because only there are the context, the
method name and the arguments all known.

Who may do what (``Verifier.authenticate``):

* on the proxies: ``by: compute`` signed with ``host:H`` is compute host H;
  the context's ``compute_host`` becomes H (a context claiming another
  host is refused; one that omits it is scoped to H anyway).
  ``by: proxy`` signed with ``proxy`` is a proxy or an operator: not
  confined (its ``compute_host``, if any, is kept as a voluntary scope).
* on compute host H (topic ``compute.H``): only ``by: proxy``, signed with
  H's own key and addressed ``to: H``. A proxy signs its calls to a
  compute host with that host's key, so no compute node ever holds a key
  that lets it act as a proxy, and a call signed for H is useless on any
  other host.
* a signature that does not check (unknown key, wrong MAC, outside
  ``[proxy] signature_max_age``, nonce already seen) is always refused with
  ``NotAuthenticated``; an unsigned call is refused when ``[proxy]
  require_signed_context`` (proxies) or ``[compute]
  require_signed_context`` (compute services) is set, as it is by
  default. An operator who turns them off lets a plain oslo.messaging
  client call unsigned (``check_signing()`` warns about it).

A nonce is served once by all the proxies together, restarts included:
they record it in the database (``nova_proxy.db.nonces``) before serving
the call. A compute service, which has no database, keeps the nonces of
the calls it served in a file under its ``state_path`` (``NonceFile``).

The key files themselves (where they are, their format, rotation) are
``nova_proxy.common.keys``.
"""

import collections
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import threading
import time

from oslo_log import log as logging
from oslo_serialization import jsonutils

from nova_proxy.common import keys
from nova_proxy.common import wire_guard
from nova_proxy import conf
from nova_proxy import exception

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['SIGNATURE_KEY', 'VERSION', 'sign', 'Signer', 'get_signer',
           'Verifier', 'ProxyVerifier', 'ComputeVerifier', 'get_verifier',
           'NonceCache', 'NonceFile', 'SignedContext',
           'install_reply_binding', 'check_signing',
           'check_compute_signing']

VERSION = 2
SIGNATURE_KEY = 'signature'
PROXY_KEY_ID = 'proxy'
HOST_KEY_PREFIX = 'host:'
# Keys a transport driver adds to the context it hands the server (the
# rabbit driver adds the reply address and the caller's timeout): not
# part of what the caller signed.
_TRANSPORT_KEYS = frozenset(['msg_id', 'reply_q', 'client_timeout'])
_NONCE_RE = re.compile(r'^[0-9a-f]{16,64}$')
_REPLAYED = 'replayed call (nonce already seen)'
_MAC_RE = re.compile(r'^[0-9a-f]{64}$')


# -- the key file of a signature's key id --

def _keys_of(key_id, directory=None):
    """Verification keys of ``key_id`` on the proxies, in ``directory``
    (default ``[proxy] host_keys_dir``); [] if it has no key file. One
    ``stat`` of the file per call (``keys.read_key_file``'s), a second only
    when it cannot be read."""
    if key_id == PROXY_KEY_ID:
        path = keys.proxy_key_path(directory)
    else:
        path = keys.host_key_path(key_id[len(HOST_KEY_PREFIX):], directory)
    try:
        return keys.read_key_file(path)
    except exception.InvalidKeyFile:
        if not os.path.exists(path):
            return []
        raise


# -- the signed payload --

# What json.dumps(value, sort_keys=True, separators=(',', ':'),
# ensure_ascii=True, allow_nan=True) would build on each call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(',', ':'),
                              ensure_ascii=True, allow_nan=True)


def _canonical(value):
    return _CANONICAL.encode(value)


def _wire(value):
    """``value`` as the server will see it: after a JSON round trip."""
    return jsonutils.loads(jsonutils.dumps(value))


def _args_digest(args):
    return hashlib.sha256(_canonical(args).encode()).hexdigest()


def _reply_of(context):
    """The reply address the server of a call received: the ``msg_id``
    and ``reply_q`` the rabbit driver adds to the context (None for a
    cast, and on transports that add neither)."""
    msg_id, reply_q = context.get('msg_id'), context.get('reply_q')
    if msg_id is None and reply_q is None:
        return None
    return [msg_id, reply_q]


def _payload(context, envelope, method, namespace, args, reply=None):
    ctx = {k: v for k, v in context.items()
           if k != SIGNATURE_KEY and k not in _TRANSPORT_KEYS}
    body = {'v': envelope['v'], 'by': envelope['by'],
            'key': envelope['key'], 'to': envelope.get('to'),
            'ts': envelope['ts'], 'nonce': envelope['nonce'],
            'method': method, 'namespace': namespace,
            'args': _args_digest(args), 'reply': reply, 'context': ctx}
    return _canonical(body).encode()


def _mac(key, payload):
    # hmac.new(key, payload, hashlib.sha256).hexdigest(), in one call to
    # OpenSSL rather than through the HMAC object (7 -> 1 us).
    return hmac.digest(key, payload, 'sha256').hex()


class SignedContext(dict):
    """A signed context dict that can sign itself again with the reply
    address of its call (``bind_reply``); a plain dict to everything
    else."""

    def bind_reply(self, msg_id, reply_q):
        """Sign again, with the same nonce and time, for this reply
        address (nothing to do when both are None: a cast)."""
        if msg_id is None and reply_q is None:
            return
        envelope = dict(self[SIGNATURE_KEY])
        key, method, namespace, args = self._signing
        envelope['mac'] = _mac(key, _payload(self, envelope, method,
                                             namespace, args,
                                             [msg_id, reply_q]))
        self[SIGNATURE_KEY] = envelope


def sign(context, key, key_id, by, method, args, namespace=None, to=None,
         now=None, nonce=None, reply=None):
    """A copy of the context dict ``context`` with its ``signature``
    (a ``SignedContext``).

    :param key: the secret (bytes).
    :param key_id: ``'proxy'`` or ``'host:<host>'``.
    :param by: ``'compute'`` or ``'proxy'``: the role the caller claims.
    :param method: the RPC method name.
    :param args: the method's arguments (a dict).
    :param namespace: the target namespace (None for the default one).
    :param to: the called server (a compute host), or None.
    :param reply: ``[msg_id, reply_q]`` of the call, when known now
        (otherwise the driver binds it: ``install_reply_binding()``).
    """
    context = SignedContext(_wire(context or {}))
    context.pop(SIGNATURE_KEY, None)
    args = _wire(args or {})
    envelope = {'v': VERSION, 'by': by, 'key': key_id, 'to': to,
                'ts': round(time.time() if now is None else now, 3),
                'nonce': nonce or secrets.token_hex(16)}
    envelope['mac'] = _mac(key, _payload(context, envelope, method,
                                         namespace, args, reply))
    context[SIGNATURE_KEY] = envelope
    context._signing = (key, method, namespace, args)
    return context


_binding_lock = threading.Lock()
_binding_installed = False


def install_reply_binding():
    """Bind reply addresses into signatures, on both sides of the rabbit
    driver. Idempotent.

    * Sending: the driver gives a call its ``_msg_id`` and ``_reply_q``,
      then packs the context into the message; there, a
      ``SignedContext`` signs itself again with them.
    * Receiving: the driver takes the reply address out of the message
      and keeps it beside the context it hands the server, not in it;
      here it is put back in the context dict (``msg_id``, ``reply_q``),
      as the values the driver will answer to, whatever the message's
      context claimed, so that ``Verifier`` checks them.

    Without it (an oslo.messaging whose driver no longer does this the
    same way), signed calls over RabbitMQ are refused by their servers:
    the two sides sign different reply addresses.
    """
    global _binding_installed
    with _binding_lock:
        if _binding_installed:
            return
        _binding_installed = True
        try:
            from oslo_messaging._drivers import amqp as rpc_amqp
            pack, unpack = rpc_amqp.pack_context, rpc_amqp.unpack_context
        except (ImportError, AttributeError):
            LOG.warning('oslo.messaging changed: signed calls cannot bind '
                        'their reply address and will be refused')
            return

        def pack_context(msg, context):
            if isinstance(context, SignedContext):
                context.bind_reply(msg.get('_msg_id'), msg.get('_reply_q'))
            return pack(msg, context)

        def unpack_context(msg):
            context = unpack(msg)
            values = getattr(context, 'values', None)
            if isinstance(values, dict):
                values['msg_id'] = getattr(context, 'msg_id', None)
                values['reply_q'] = getattr(context, 'reply_q', None)
            return context

        rpc_amqp.pack_context = pack_context
        rpc_amqp.unpack_context = unpack_context


class Signer:
    """Signs the calls of one process.

    * A compute node (``[proxy_client] key_file`` set) signs every call as
      ``by: compute`` with its own key, as host ``[DEFAULT] host``.
    * A proxy or an operator tool (``[proxy] host_keys_dir`` holding
      ``_proxy.key``) signs calls to ``[compute] topic`` with the called
      host's key (``by: proxy``, ``to: <host>``; unsigned when there is no
      key for that host: the compute decides whether it accepts that), and
      every other call with the proxy key.

    A process that acts for several compute hosts (the benchmark's
    simulated fleet) gives each its own ``Signer`` with ``key_file``.
    """

    def __init__(self, role, host=None, key_file=None):
        self.role = role
        self.host = host
        self.key_file = key_file

    def sign(self, context, target, method, args):
        if self.role == 'compute':
            key = keys.read_key_file(self.key_file or
                                     CONF.proxy_client.key_file)[0]
            return sign(context, key, HOST_KEY_PREFIX + self.host,
                        'compute', method, args,
                        namespace=target.namespace)
        if target.topic == CONF.compute.topic:
            host = target.server
            if not keys.valid_host(host):
                return context
            path = keys.host_key_path(host)
            if not os.path.exists(path):
                LOG.debug('No key for compute host %s: call %s unsigned',
                          host, method)
                return context
            return sign(context, keys.read_key_file(path)[0],
                        HOST_KEY_PREFIX + host, 'proxy', method, args,
                        namespace=target.namespace, to=host)
        key = keys.read_key_file(keys.proxy_key_path())[0]
        return sign(context, key, PROXY_KEY_ID, 'proxy', method, args,
                    namespace=target.namespace)


def get_signer():
    """This process's ``Signer``, or None when it has no key to sign with."""
    if CONF.proxy_client.key_file:
        return Signer('compute', CONF.host)
    if CONF.proxy.host_keys_dir and os.path.exists(keys.proxy_key_path()):
        return Signer('proxy')
    return None


# -- verification --

class NonceCache:
    """Nonces seen within the replay window by this process, at most
    ``size`` of them (the proxies share theirs: ``nova_proxy.db.nonces``;
    a compute service keeps its own in a file, ``NonceFile``).

    When full, the oldest nonce is forgotten first (it is the closest to
    leaving the window anyway); ``[proxy] nonce_cache_size`` should exceed
    the calls a process serves in ``signature_max_age`` seconds.
    """

    def __init__(self, size):
        self.size = size
        self._seen = collections.OrderedDict()
        self._lock = threading.Lock()
        self._warned = False

    def check_and_add(self, nonce, expires, now):
        """:returns: False if ``nonce`` was already seen (a replay)."""
        with self._lock:
            while self._seen:
                first, first_expiry = next(iter(self._seen.items()))
                if first_expiry >= now:
                    break
                del self._seen[first]
            if nonce in self._seen:
                return False
            self._seen[nonce] = expires
            self._remember(nonce, expires)
            if len(self._seen) > self.size:
                self._seen.popitem(last=False)
                if not self._warned:
                    self._warned = True
                    LOG.warning('Nonce cache full (%d): raise [proxy] '
                                'nonce_cache_size', self.size)
            return True

    def _remember(self, nonce, expires):
        """Called, under the lock, for each nonce added."""

    def __len__(self):
        return len(self._seen)


class NonceFile(NonceCache):
    """A ``NonceCache`` that a restart does not empty: each nonce is
    appended to ``path`` (``<expiry> <nonce>`` lines) before its call is
    served, and those still within their window are read back at start.

    A compute service's record: it has no database, and without this a
    copy of a proxy's call to it was served again after it restarted. The
    file is rewritten without the expired lines at start and whenever it
    holds more than twice the live ones (at least ``COMPACT_LINES``), so
    it stays about the size of one window's calls. Lines are flushed, not
    synced: a crash of the whole host may forget the last ones.
    """

    COMPACT_LINES = 1000

    def __init__(self, size, path, now=None):
        super().__init__(size)
        self.path = path
        self._lines = 0
        self._file = None
        now = time.time() if now is None else now
        try:
            with open(path) as f:
                for line in f:
                    expires, _, nonce = line.strip().partition(' ')
                    try:
                        if float(expires) >= now and nonce:
                            self._seen[nonce] = float(expires)
                    except ValueError:
                        continue  # a line cut short by a crash
        except FileNotFoundError:
            pass
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)
        self._rewrite()

    def _rewrite(self):
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        tmp = '%s.tmp-%s' % (self.path, secrets.token_hex(4))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.writelines('%r %s\n' % (expires, nonce)
                         for nonce, expires in self._seen.items())
        os.replace(tmp, self.path)
        if self._file is not None:
            self._file.close()
        self._file = open(self.path, 'a')
        self._lines = len(self._seen)

    def _remember(self, nonce, expires):
        self._file.write('%r %s\n' % (expires, nonce))
        self._file.flush()
        self._lines += 1
        if self._lines > max(2 * len(self._seen), self.COMPACT_LINES):
            self._rewrite()


def _refuse(method, envelope, reason):
    who = envelope.get('key') if isinstance(envelope, dict) else None
    who = who if isinstance(who, str) else 'an unsigned caller'
    wire_guard.refused('not_authenticated', who,
                       'Refused %s from %s: %s', method, who, reason)
    raise exception.NotAuthenticated(method=method, reason=reason)


class Verifier:
    """Checks the signature of calls one RPC server receives."""

    def __init__(self, nonces=None):
        self.nonces = nonces if nonces is not None else self._nonce_record()

    def _nonce_record(self):
        return NonceCache(CONF.proxy.nonce_cache_size)

    def _require(self):
        raise NotImplementedError

    def _keys(self, envelope, method):
        """The keys that may have signed ``envelope``, after checking that
        its role, key and target make sense for this server."""
        raise NotImplementedError

    def _scope(self, context, envelope, method):
        """Set ``context.compute_host`` for an authenticated caller."""

    def authenticate(self, context, raw, method, namespace, args,
                     ride=False):
        """Check the call; set ``context.authenticated_as``.

        :param context: the deserialized ``RequestContext``.
        :param raw: the context dict as received.
        :param args: the arguments as received.
        :param ride: the call writes first, in one statement that commits
            as it runs: its nonce may ride with it (``nonces.RidingNonce``).
        :returns: the nonce riding with the call's write, whose
            ``finish()`` must follow the call; None when it was recorded
            here (or the call is not signed).
        :raises: NotAuthenticated.
        """
        envelope = raw.get(SIGNATURE_KEY) if isinstance(raw, dict) else None
        if envelope is None:
            if self._require():
                _refuse(method, None, 'the call is not signed')
            context.authenticated_as = None
            return
        if not isinstance(envelope, dict):
            _refuse(method, None, 'malformed signature')
        if envelope.get('v') == 1:
            _refuse(method, envelope, 'signature version 1 does not cover '
                                      'the reply address: upgrade the caller')
        if envelope.get('v') != VERSION:
            _refuse(method, None, 'malformed signature')
        ts, nonce = envelope.get('ts'), envelope.get('nonce')
        mac = envelope.get('mac')
        # hmac.compare_digest raises on non-ASCII text, and NaN compares
        # false with everything (it would never expire): both are
        # malformed, never a server error.
        if (not isinstance(mac, str) or not _MAC_RE.match(mac) or
                not isinstance(envelope.get('key'), str) or
                isinstance(ts, bool) or not isinstance(ts, (int, float)) or
                not math.isfinite(ts) or
                not isinstance(nonce, str) or not _NONCE_RE.match(nonce)):
            _refuse(method, envelope, 'malformed signature')
        verify_keys = self._keys(envelope, method)
        if not verify_keys:
            _refuse(method, envelope, 'no key for %s' % envelope['key'])
        try:
            payload = _payload(raw, envelope, method, namespace, args,
                               _reply_of(raw))
        except (TypeError, ValueError):
            _refuse(method, envelope, 'arguments cannot be digested')
        if not any(hmac.compare_digest(_mac(k, payload), mac)
                   for k in verify_keys):
            _refuse(method, envelope, 'bad signature')
        now = time.time()
        window = CONF.proxy.signature_max_age
        if abs(now - ts) > window:
            _refuse(method, envelope,
                    'signed %ds away from this server\'s clock (allowed: '
                    '%ds)' % (now - ts, window))
        digest = _nonce_digest(envelope['key'], nonce)
        rides = getattr(self.nonces, 'ride', None) if ride else None
        if rides is None and \
                not self.nonces.check_and_add(digest, ts + window, now):
            _refuse(method, envelope, _REPLAYED)
        self._scope(context, envelope, method)
        context.authenticated_as = envelope['key']
        if rides is None:
            return None
        # Installed last: a call refused above never reaches its write.
        riding = rides(digest, ts + window, now,
                       lambda: _refuse(method, envelope, _REPLAYED))
        if riding is None and \
                not self.nonces.check_and_add(digest, ts + window, now):
            _refuse(method, envelope, _REPLAYED)
        return riding


def _nonce_digest(key_id, nonce):
    """One fixed-width text for a nonce of a key: what nonce records
    keep."""
    return hashlib.sha256(('%s\n%s' % (key_id, nonce)).encode()).hexdigest()


class ProxyVerifier(Verifier):
    """The proxies: compute hosts (scoped) and proxies/operators. Their
    nonce record is the database's, shared by all of them."""

    def _nonce_record(self):
        from nova_proxy.db import nonces
        return nonces.SharedNonces(CONF.proxy.signature_max_age)

    def _require(self):
        return CONF.proxy.require_signed_context

    def _keys(self, envelope, method):
        key_id, by = envelope['key'], envelope.get('by')
        if key_id == PROXY_KEY_ID and by == 'proxy':
            pass
        elif key_id.startswith(HOST_KEY_PREFIX) and by == 'compute':
            if not keys.valid_host(key_id[len(HOST_KEY_PREFIX):]):
                _refuse(method, envelope, 'malformed signature')
        else:
            _refuse(method, envelope,
                    'a %s key cannot sign as %r' % (key_id, by))
        directory = CONF.proxy.host_keys_dir
        if not directory:
            return []
        try:
            return _keys_of(key_id, directory)
        except exception.InvalidKeyFile as e:
            LOG.error('Cannot verify %(key)s: %(error)s',
                      {'key': key_id, 'error': e})
            return []

    def _scope(self, context, envelope, method):
        if envelope['key'] == PROXY_KEY_ID:
            return  # unconfined; a compute_host it sends is kept
        host = envelope['key'][len(HOST_KEY_PREFIX):]
        claimed = getattr(context, 'compute_host', None)
        if claimed is not None and claimed != host:
            _refuse(method, envelope,
                    'the key of %s cannot act as compute host %r'
                    % (host, claimed))
        context.compute_host = host


class ComputeVerifier(Verifier):
    """Compute host ``host``: only proxies, with this host's key. Its
    nonce record is a file under ``[DEFAULT] state_path``, kept across
    restarts."""

    NONCE_FILE = 'signed-call-nonces'

    def __init__(self, host, nonces=None):
        super().__init__(nonces)
        self.host = host

    def _nonce_record(self):
        return NonceFile(CONF.proxy.nonce_cache_size,
                         os.path.join(CONF.state_path, self.NONCE_FILE))

    def _require(self):
        return CONF.compute.require_signed_context

    def _keys(self, envelope, method):
        if (envelope.get('by') != 'proxy' or
                envelope['key'] != HOST_KEY_PREFIX + str(self.host) or
                envelope.get('to') != self.host):
            _refuse(method, envelope,
                    'only a proxy may call compute host %s' % self.host)
        if not CONF.proxy_client.key_file:
            return []
        try:
            return keys.read_key_file(CONF.proxy_client.key_file)
        except exception.InvalidKeyFile as e:
            LOG.error('Cannot verify calls: %s', e)
            return []


def get_verifier(target):
    """The verifier for an RPC server of ``target``: a compute host's on
    ``[compute] topic``, the proxies' on any other topic."""
    if target.topic == CONF.compute.topic and target.server:
        return ComputeVerifier(target.server)
    return ProxyVerifier()


# -- configuration checks (daemon start-up, the upgrade check) --

def check_signing(conf=CONF):
    """Whether the proxies' configuration ``conf`` makes every call be
    signed, for the upgrade check and the proxy's start-up.

    :returns: ``(ok, message)``: ``ok`` is False when unsigned calls are
        served, or when signed calls cannot be checked (no keys), with
        what to do in ``message``; True with a summary otherwise.
    """
    keys_dir = conf.proxy.host_keys_dir
    if not conf.proxy.require_signed_context:
        return False, ('[proxy] require_signed_context is off: an unsigned '
                       'call is served with the compute host it claims, so '
                       'any process that can publish on the broker acts as '
                       'any compute host. Deploy keys (docs/security.rst) '
                       'and remove the option or set it to true.')
    if not keys_dir:
        return False, ('[proxy] require_signed_context is on but [proxy] '
                       'host_keys_dir is not set: every call will be '
                       'refused. Create keys with "nova-compute-proxy-manage '
                       'key create" and set host_keys_dir.')
    if not os.path.isdir(keys_dir):
        return False, ('[proxy] host_keys_dir %s is not a directory: every '
                       'call will be refused.' % keys_dir)
    hosts = [name for name in os.listdir(keys_dir)
             if name.endswith('.key') and keys.valid_host(name[:-4])]
    if not os.path.exists(os.path.join(keys_dir, keys.PROXY_KEY_NAME)):
        return False, ('%s has no %s: operators cannot sign their calls '
                       'and the proxies\' calls to compute hosts go '
                       'unsigned. Create it with "nova-compute-proxy-manage '
                       'key create --proxy".'
                       % (keys_dir, keys.PROXY_KEY_NAME))
    if not hosts:
        return False, ('%s has no compute host key: every compute host\'s '
                       'call will be refused. Create them with '
                       '"nova-compute-proxy-manage key create --host '
                       '<host>".' % keys_dir)
    return True, ('Every call must be signed; keys for %d compute host(s) '
                  'in %s.' % (len(hosts), keys_dir))


def check_compute_signing(conf=CONF):
    """As ``check_signing``, for a compute service's configuration."""
    if not conf.compute.require_signed_context:
        return False, ('[compute] require_signed_context is off: this host '
                       'serves unsigned calls on its compute topic, from '
                       'any process that can publish on the broker.')
    if not conf.proxy_client.key_file:
        return False, ('[compute] require_signed_context is on but '
                       '[proxy_client] key_file is not set: every call '
                       'from the proxies will be refused, and this host\'s '
                       'own calls go unsigned.')
    try:
        keys.read_key_file(conf.proxy_client.key_file)
    except exception.InvalidKeyFile as e:
        return False, '%s: calls cannot be signed nor checked.' % e
    return True, 'Every call is signed with %s.' % conf.proxy_client.key_file
