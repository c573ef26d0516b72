"""Key files of signed calls: where they are, how they are written, read
and rotated.

Every compute host has its own secret key, in its ``[proxy_client]
key_file`` and, under the same secret, in the proxies' ``[proxy]
host_keys_dir`` as ``<host>.key``; proxies and operators share one more
key, ``_proxy.key`` in that same directory (``nova_proxy.common.auth``
signs and checks calls with them; ``nova-compute-proxy-manage key``
creates and rotates them).

Key files hold one key per line (URL-safe base64 of 32 random bytes; ``#``
comments allowed). The first line signs; every line verifies, which is how
keys rotate without downtime (see docs/security.rst). Files are re-read when
they change: no restart is needed.
"""

import base64
import os
import re
import secrets
import threading

from nova_proxy import conf
from nova_proxy import exception

CONF = conf.CONF

__all__ = ['PROXY_KEY_NAME', 'new_key', 'key_file_problem',
           'write_key_file', 'promote_key', 'retire_keys', 'read_key_file',
           'host_key_path', 'proxy_key_path', 'valid_host', 'reset']

# File name of the proxies' and operators' key in [proxy] host_keys_dir. A
# host name never starts with "_", so it cannot collide with a host key.
PROXY_KEY_NAME = '_proxy.key'
KEY_BYTES = 32
MIN_KEY_BYTES = 16
_HOST_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$')


def valid_host(host):
    """True if ``host`` may name a key file (no path tricks)."""
    return isinstance(host, str) and bool(_HOST_RE.match(host))


def new_key():
    """A new random key, as the text stored in a key file."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


_KEY_FILE_HEADER = '# nova-compute-proxy key: keep secret, mode 0600\n'


def _key_text(key):
    return base64.urlsafe_b64encode(key).decode()


def _write_keys(path, keys):
    """Replace ``path`` atomically with ``keys`` (bytes), mode 0600."""
    content = _KEY_FILE_HEADER + ''.join(_key_text(k) + '\n' for k in keys)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = '%s.tmp-%s' % (path, secrets.token_hex(4))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(content)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_key_file(path, append=False, force=False):
    """Write a new random key to ``path`` (mode 0600).

    :param append: add the key as the last line of an existing file (a
        verify-only key: the first step of a rotation).
    :param force: replace an existing file.
    :returns: the new key text.
    :raises: InvalidKeyFile if ``path`` exists and neither ``append`` nor
        ``force`` is given, or if the file to append to is malformed.
    """
    key = secrets.token_bytes(KEY_BYTES)
    exists = os.path.exists(path)
    if exists and not (append or force):
        raise exception.InvalidKeyFile(
            path=path, reason='it exists (use --rotate or --force)')
    keys = read_key_file(path) if append and exists else []
    _write_keys(path, keys + [key])
    return _key_text(key)


def _rewrite_keys(path, step, reorder):
    keys = read_key_file(path)
    if len(keys) < 2:
        raise exception.InvalidKeyFile(
            path=path, reason='one key only: nothing to %s' % step)
    _write_keys(path, reorder(keys))


def promote_key(path):
    """Make the last key of ``path`` the signing one (rotation step 2).

    :raises: InvalidKeyFile if it holds a single key.
    """
    _rewrite_keys(path, 'promote', lambda keys: [keys[-1]] + keys[:-1])


def retire_keys(path):
    """Keep only the signing key of ``path`` (rotation step 3).

    :raises: InvalidKeyFile if it holds a single key.
    """
    _rewrite_keys(path, 'retire', lambda keys: keys[:1])


def _parse_keys(path, text):
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        try:
            key = base64.urlsafe_b64decode(line.encode('ascii'))
        except (ValueError, UnicodeEncodeError):
            raise exception.InvalidKeyFile(
                path=path, reason='line %d is not base64' % number)
        if len(key) < MIN_KEY_BYTES:
            raise exception.InvalidKeyFile(
                path=path, reason='line %d: a key needs at least %d bytes'
                                  % (number, MIN_KEY_BYTES))
        keys.append(key)
    if not keys:
        raise exception.InvalidKeyFile(path=path, reason='no key in it')
    return keys


_cache_lock = threading.Lock()
_key_cache = {}


def read_key_file(path):
    """The keys of ``path``, first (signing) key first.

    Re-read only when the file's mtime or size changes.

    :raises: InvalidKeyFile if it is missing, unreadable or malformed.
    """
    try:
        st = os.stat(path)
    except OSError as e:
        raise exception.InvalidKeyFile(path=path, reason=e.strerror)
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    with _cache_lock:
        cached = _key_cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        with open(path) as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise exception.InvalidKeyFile(path=path, reason=str(e))
    keys = _parse_keys(path, text)
    with _cache_lock:
        _key_cache[path] = (stamp, keys)
    return keys


def host_key_path(host, directory=None):
    """``<[proxy] host_keys_dir>/<host>.key``."""
    directory = directory or CONF.proxy.host_keys_dir
    if not directory:
        raise exception.InvalidKeyFile(path='[proxy] host_keys_dir',
                                       reason='not set')
    if not valid_host(host):
        raise exception.InvalidKeyFile(path=repr(host),
                                       reason='not a valid host name')
    return os.path.join(directory, host + '.key')


def proxy_key_path(directory=None):
    """``<[proxy] host_keys_dir>/_proxy.key``."""
    directory = directory or CONF.proxy.host_keys_dir
    if not directory:
        raise exception.InvalidKeyFile(path='[proxy] host_keys_dir',
                                       reason='not set')
    return os.path.join(directory, PROXY_KEY_NAME)


# -- configuration check (daemon start-up) --

def key_file_problem(conf=CONF):
    """What is wrong with ``[proxy_client] key_file``, the key this process
    signs its calls with, or None (also when none is set). Checked at a
    daemon's start, so that a wrong path is one line there rather than
    every signed call failing later.
    """
    path = conf.proxy_client.key_file
    if not path:
        return None
    try:
        read_key_file(path)
    except exception.InvalidKeyFile as e:
        return '%s: check [proxy_client] key_file' % e
    return None


def reset():
    """Forget cached key files (tests)."""
    with _cache_lock:
        _key_cache.clear()
