"""Signed request contexts (``nova_proxy.common.auth``): the signature
itself, the verifiers of proxies and compute hosts, key files and the
``key`` commands, then the whole path through ``rpc.get_client`` /
``rpc.get_server`` on the fake driver."""

import logging
import os
import time

import oslo_messaging as messaging
import pytest

from nova_proxy.common import auth
from nova_proxy.common import context as np_context
from nova_proxy.common import key_cli
from nova_proxy.common import keys as key_files
from nova_proxy.common import rpc
from nova_proxy.common import wire_guard
from nova_proxy import exception
from nova_proxy.proxy import manager
from nova_proxy.proxy import rpcapi
from tests.unit import servers


@pytest.fixture
def keys(config, db, tmp_path):
    """A proxies' keys dir with compute-1, compute-2 and the proxy key;
    ``[proxy] host_keys_dir`` points at it."""
    directory = tmp_path / 'keys'
    for host in ('compute-1', 'compute-2'):
        key_cli.create(host=host, directory=str(directory))
    key_cli.create(proxy=True, directory=str(directory))
    config.set_override('host_keys_dir', str(directory), group='proxy')
    key_files.reset()
    yield directory
    key_files.reset()


def key_of(directory, name):
    path = os.path.join(str(directory), name + '.key')
    return key_files.read_key_file(path)[0]


def signed_by_host(directory, host, context=None, method='instance_update',
                   args=None, **kwargs):
    context = context if context is not None else {'compute_host': host}
    return auth.sign(context, key_of(directory, host), 'host:' + host,
                     'compute', method, args or {'instance_uuid': 'u'},
                     **kwargs)


def verify(verifier, raw, method='instance_update', args=None,
           namespace=None):
    ctx = np_context.RequestContext.from_dict(raw)
    verifier.authenticate(ctx, raw, method, namespace,
                          args or {'instance_uuid': 'u'})
    return ctx


# -- the signature --------------------------------------------------------

def test_host_signature_round_trip_scopes_to_the_host(keys):
    raw = signed_by_host(keys, 'compute-1',
                         {'compute_host': 'compute-1', 'request_id': 'req-1'})
    assert set(raw['signature']) == {'v', 'by', 'key', 'to', 'ts', 'nonce',
                                     'mac'}
    ctx = verify(auth.ProxyVerifier(), raw)
    assert ctx.compute_host == 'compute-1'
    assert ctx.authenticated_as == 'host:compute-1'
    assert ctx.request_id == 'req-1'


def test_signing_does_not_change_the_callers_dict(keys):
    context = {'compute_host': 'compute-1'}
    signed_by_host(keys, 'compute-1', context)
    assert context == {'compute_host': 'compute-1'}


@pytest.mark.parametrize('tamper', [
    lambda raw, args: raw.update(request_id='req-other'),
    lambda raw, args: raw.update(is_admin=True),
    lambda raw, args: raw['signature'].update(ts=raw['signature']['ts'] + 1),
    lambda raw, args: raw['signature'].update(nonce='0' * 32),
    lambda raw, args: raw['signature'].update(mac='0' * 64),
    lambda raw, args: args.update(instance_uuid='v'),
    lambda raw, args: args.update(values={'host': 'compute-2'}),
])
def test_tampered_call_is_refused(keys, tamper):
    args = {'instance_uuid': 'u'}
    raw = signed_by_host(keys, 'compute-1', args=dict(args))
    tamper(raw, args)
    with pytest.raises(exception.NotAuthenticated, match='bad signature'):
        verify(auth.ProxyVerifier(), raw, args=args)


def test_other_method_or_namespace_is_refused(keys):
    raw = signed_by_host(keys, 'compute-1')
    with pytest.raises(exception.NotAuthenticated, match='bad signature'):
        verify(auth.ProxyVerifier(), raw, method='instance_destroy')
    with pytest.raises(exception.NotAuthenticated, match='bad signature'):
        verify(auth.ProxyVerifier(), raw, namespace='compute_task')


def test_wrong_key_is_refused(keys):
    raw = auth.sign({'compute_host': 'compute-1'},
                    key_of(keys, 'compute-2'), 'host:compute-1', 'compute',
                    'instance_update', {'instance_uuid': 'u'})
    with pytest.raises(exception.NotAuthenticated, match='bad signature'):
        verify(auth.ProxyVerifier(), raw)


def test_unknown_host_is_refused(keys):
    raw = auth.sign({}, key_files.new_key().encode(), 'host:compute-9',
                    'compute', 'instance_update', {'instance_uuid': 'u'})
    with pytest.raises(exception.NotAuthenticated,
                       match='no key for host:compute-9'):
        verify(auth.ProxyVerifier(), raw)


def test_the_signed_payload_and_mac_are_what_the_standard_calls_give():
    # Callers of every release compute the same text and MAC.
    import hashlib
    import hmac
    import json
    value = {'b': [1, 2.5, None, True, float('nan'), float('inf')],
             'a': {'z': 'caf\u00e9 \u2603 \U0001f600', 'y': '\ud800'},
             'c': 10 ** 30}
    assert auth._canonical(value) == json.dumps(
        value, sort_keys=True, separators=(',', ':'), ensure_ascii=True,
        allow_nan=True)
    key = key_files.new_key().encode()
    payload = auth._canonical(value).encode()
    assert auth._mac(key, payload) == hmac.new(
        key, payload, hashlib.sha256).hexdigest()


def test_a_host_key_file_that_cannot_be_read_is_logged_and_refused(
        keys, caplog):
    raw = signed_by_host(keys, 'compute-1')
    (keys / 'compute-1.key').write_text('not base64 !\n')
    with caplog.at_level(logging.ERROR):
        with pytest.raises(exception.NotAuthenticated,
                           match='no key for host:compute-1'):
            verify(auth.ProxyVerifier(), raw)
    errors = [r.getMessage() for r in caplog.records
              if r.levelno == logging.ERROR]
    assert len(errors) == 1 and 'Cannot verify host:compute-1' in errors[0]
    # A missing one is no error of ours: the host has no key here.
    (keys / 'compute-1.key').unlink()
    caplog.clear()
    with pytest.raises(exception.NotAuthenticated,
                       match='no key for host:compute-1'):
        verify(auth.ProxyVerifier(), raw)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize('age', [-400, 400])
def test_expired_or_future_timestamp_is_refused(keys, config, age):
    config.set_override('signature_max_age', 300, group='proxy')
    raw = signed_by_host(keys, 'compute-1', now=time.time() - age)
    with pytest.raises(exception.NotAuthenticated, match='allowed: 300s'):
        verify(auth.ProxyVerifier(), raw)


def test_timestamp_within_the_window_is_accepted(keys):
    raw = signed_by_host(keys, 'compute-1', now=time.time() - 200)
    assert verify(auth.ProxyVerifier(), raw).compute_host == 'compute-1'


def test_replayed_nonce_is_refused(keys):
    verifier = auth.ProxyVerifier()
    raw = signed_by_host(keys, 'compute-1')
    verify(verifier, dict(raw))
    with pytest.raises(exception.NotAuthenticated, match='replayed'):
        verify(verifier, dict(raw))
    # A fresh signature of the same call is fine.
    verify(verifier, signed_by_host(keys, 'compute-1'))


def test_replay_to_another_proxy_is_refused(keys):
    # Two proxies, two verifiers: one record of nonces, the database's.
    raw = signed_by_host(keys, 'compute-1')
    verify(auth.ProxyVerifier(), dict(raw))
    with pytest.raises(exception.NotAuthenticated, match='replayed'):
        verify(auth.ProxyVerifier(), dict(raw))


def test_nonces_of_different_keys_do_not_collide(keys):
    nonce = 'ab' * 16
    verify(auth.ProxyVerifier(), signed_by_host(keys, 'compute-1',
                                                nonce=nonce))
    verify(auth.ProxyVerifier(), signed_by_host(keys, 'compute-2',
                                                nonce=nonce))


def _received(raw, msg_id, reply_q):
    """``raw`` as a server gets it from the rabbit driver: with the
    call's reply address added to the context."""
    return dict(raw, msg_id=msg_id, reply_q=reply_q, client_timeout=10)


def test_reply_address_is_signed(keys):
    raw = signed_by_host(keys, 'compute-1')
    raw.bind_reply('m1', 'reply_a')
    assert verify(auth.ProxyVerifier(),
                  _received(raw, 'm1', 'reply_a')).compute_host == \
        'compute-1'


@pytest.mark.parametrize('msg_id, reply_q', [
    ('m1', 'reply_attacker'), ('m2', 'reply_a'), ('m1', None),
    (None, 'reply_a'), (None, None)])
def test_changed_reply_address_is_refused(keys, msg_id, reply_q):
    raw = signed_by_host(keys, 'compute-1')
    raw.bind_reply('m1', 'reply_a')
    with pytest.raises(exception.NotAuthenticated, match='bad signature'):
        verify(auth.ProxyVerifier(), _received(raw, msg_id, reply_q))


def test_reply_address_added_to_a_signed_cast_is_refused(keys):
    # Signed without a reply address (a cast, or the fake driver's call):
    # adding one to make a server answer somewhere fails.
    raw = signed_by_host(keys, 'compute-1')
    raw.bind_reply(None, None)
    with pytest.raises(exception.NotAuthenticated, match='bad signature'):
        verify(auth.ProxyVerifier(), _received(raw, 'm1', 'reply_x'))


def test_host_key_claiming_another_host_is_refused(keys):
    raw = signed_by_host(keys, 'compute-1', {'compute_host': 'compute-2'})
    with pytest.raises(exception.NotAuthenticated,
                       match='key of compute-1 cannot act as compute host'):
        verify(auth.ProxyVerifier(), raw)


class _Riding:
    """A nonce record whose nonces may ride with a write: records what
    was asked of it."""

    def __init__(self, can_ride=True):
        self.can_ride = can_ride
        self.asked = []

    def check_and_add(self, nonce, expires, now):
        self.asked.append('check_and_add')
        return True

    def ride(self, nonce, expires, now, refuse):
        self.asked.append('ride')
        return self if self.can_ride else None


def test_a_nonce_rides_only_when_asked_and_once_the_caller_is_scoped(keys):
    for ride, can_ride, asked, returned in (
            (False, True, ['check_and_add'], None),
            (True, True, ['ride'], True),
            (True, False, ['ride', 'check_and_add'], None)):
        raw = signed_by_host(keys, 'compute-1')
        nonces = _Riding(can_ride)
        riding = auth.ProxyVerifier(nonces).authenticate(
            np_context.RequestContext.from_dict(raw), raw,
            'instance_update', None, {'instance_uuid': 'u'}, ride=ride)
        assert nonces.asked == asked
        assert (riding is nonces) is bool(returned)
    # A caller refused for its scope never has a nonce riding.
    nonces = _Riding()
    raw = signed_by_host(keys, 'compute-1', {'compute_host': 'compute-2'})
    with pytest.raises(exception.NotAuthenticated):
        auth.ProxyVerifier(nonces).authenticate(
            np_context.RequestContext.from_dict(raw), raw,
            'instance_update', None, {'instance_uuid': 'u'}, ride=True)
    assert nonces.asked == []


def test_host_key_omitting_the_host_is_scoped_anyway(keys):
    raw = signed_by_host(keys, 'compute-1', {'is_admin': True})
    ctx = verify(auth.ProxyVerifier(), raw)
    assert ctx.compute_host == 'compute-1'


def test_host_key_cannot_sign_as_a_proxy(keys):
    raw = auth.sign({}, key_of(keys, 'compute-1'), 'host:compute-1',
                    'proxy', 'instance_update', {'instance_uuid': 'u'})
    with pytest.raises(exception.NotAuthenticated, match='cannot sign as'):
        verify(auth.ProxyVerifier(), raw)


def test_operator_key_is_unscoped(keys):
    raw = auth.sign({'is_admin': True}, key_of(keys, '_proxy'), 'proxy',
                    'proxy', 'instance_update', {'instance_uuid': 'u'})
    ctx = verify(auth.ProxyVerifier(), raw)
    assert ctx.compute_host is None
    assert ctx.authenticated_as == 'proxy'
    # An operator may still scope itself on purpose.
    raw = auth.sign({'compute_host': 'compute-2'}, key_of(keys, '_proxy'),
                    'proxy', 'proxy', 'instance_update',
                    {'instance_uuid': 'u'})
    assert verify(auth.ProxyVerifier(), raw).compute_host == 'compute-2'


def test_unsigned_call_is_served_as_asserted_unless_required(keys, config):
    raw = {'compute_host': 'compute-2'}
    ctx = verify(auth.ProxyVerifier(), raw)
    assert ctx.compute_host == 'compute-2' and ctx.authenticated_as is None
    config.set_override('require_signed_context', True, group='proxy')
    with pytest.raises(exception.NotAuthenticated, match='not signed'):
        verify(auth.ProxyVerifier(), raw)


def test_signed_call_without_keys_dir_is_refused(keys, config):
    raw = signed_by_host(keys, 'compute-1')
    config.clear_override('host_keys_dir', group='proxy')
    with pytest.raises(exception.NotAuthenticated, match='no key for'):
        verify(auth.ProxyVerifier(), raw)


@pytest.mark.parametrize('signature', [
    'not a dict', {'v': 3}, {'v': 2},
    {'v': 2, 'by': 'compute', 'key': 'host:../../etc/passwd', 'ts': 1.0,
     'nonce': 'a' * 32, 'mac': '0' * 64},
    {'v': 2, 'by': 'compute', 'key': 'host:compute-1', 'ts': 'now',
     'nonce': 'a' * 32, 'mac': '0' * 64},
    {'v': 2, 'by': 'compute', 'key': 'host:compute-1', 'ts': 1.0,
     'nonce': 'short', 'mac': '0' * 64},
    {'v': 2, 'by': 'compute', 'key': 'host:compute-1', 'ts': True,
     'nonce': 'a' * 32, 'mac': '0' * 64},
    {'v': 2, 'by': 'compute', 'key': 'host:compute-1', 'ts': float('nan'),
     'nonce': 'a' * 32, 'mac': '0' * 64},
    {'v': 2, 'by': 'compute', 'key': 'host:compute-1', 'ts': float('inf'),
     'nonce': 'a' * 32, 'mac': '0' * 64},
    {'v': 2, 'by': 'compute', 'key': 'host:compute-1', 'ts': 1.0,
     'nonce': 'a' * 32, 'mac': '\u00e9' * 64},
    {'v': 2, 'by': 'compute', 'key': 'host:compute-1', 'ts': 1.0,
     'nonce': 'a' * 32, 'mac': 'x'},
])
def test_malformed_signature_is_a_named_error(keys, signature):
    with pytest.raises(exception.NotAuthenticated,
                       match='malformed signature'):
        verify(auth.ProxyVerifier(), {'signature': signature})


def test_version_1_signature_is_refused_by_name(keys):
    raw = signed_by_host(keys, 'compute-1')
    raw['signature']['v'] = 1
    with pytest.raises(exception.NotAuthenticated,
                       match='version 1 does not cover the reply address'):
        verify(auth.ProxyVerifier(), raw)


def test_validly_signed_nan_timestamp_never_passes(keys):
    # A key holder cannot make a call that never expires.
    raw = signed_by_host(keys, 'compute-1', now=float('nan'))
    with pytest.raises(exception.NotAuthenticated,
                       match='malformed signature'):
        verify(auth.ProxyVerifier(), raw)


def test_refusal_is_logged_without_traceback(keys, caplog):
    raw = signed_by_host(keys, 'compute-1', {'compute_host': 'compute-2'})
    with caplog.at_level(logging.WARNING,
                         logger='nova_proxy.common.wire_guard'):
        for _ in range(3):
            with pytest.raises(exception.NotAuthenticated):
                verify(auth.ProxyVerifier(), raw)
    records = [r for r in caplog.records if 'Refused' in r.getMessage()]
    # One line per source and interval; every refusal counted.
    assert len(records) == 1
    assert 'host:compute-1' in records[0].getMessage()
    assert records[0].exc_info is None
    assert wire_guard.refused_counts()['not_authenticated'] == 3


# -- the compute side -----------------------------------------------------

@pytest.fixture
def compute_1(keys, config):
    """This process as compute-1: its own key file."""
    config.set_override('key_file', str(keys / 'compute-1.key'),
                        group='proxy_client')
    return auth.ComputeVerifier('compute-1')


def proxy_to(keys, host, key_host=None, by='proxy'):
    key_host = key_host or host
    return auth.sign({'is_admin': True}, key_of(keys, key_host),
                     'host:' + key_host, by, 'terminate_instance',
                     {'instance_uuid': 'u'}, to=host)


def test_compute_accepts_a_proxy_signed_call_for_itself(compute_1, keys):
    ctx = verify(compute_1, proxy_to(keys, 'compute-1'),
                 method='terminate_instance')
    assert ctx.authenticated_as == 'host:compute-1'


def test_compute_refuses_a_call_addressed_to_another_host(compute_1, keys):
    # Signed (by a proxy) for compute-2, replayed on compute-1's topic.
    with pytest.raises(exception.NotAuthenticated,
                       match='only a proxy may call compute host'):
        verify(compute_1, proxy_to(keys, 'compute-2'),
               method='terminate_instance')


def test_compute_refuses_another_compute(compute_1, keys):
    # compute-2 signing with its own key as "proxy", or as itself.
    for by in ('proxy', 'compute'):
        raw = auth.sign({}, key_of(keys, 'compute-2'), 'host:compute-2', by,
                        'terminate_instance', {'instance_uuid': 'u'},
                        to='compute-1')
        with pytest.raises(exception.NotAuthenticated):
            verify(compute_1, raw, method='terminate_instance')


def test_compute_refuses_the_proxy_key(compute_1, keys):
    raw = auth.sign({}, key_of(keys, '_proxy'), 'proxy', 'proxy',
                    'terminate_instance', {'instance_uuid': 'u'},
                    to='compute-1')
    with pytest.raises(exception.NotAuthenticated,
                       match='only a proxy may call'):
        verify(compute_1, raw, method='terminate_instance')


def test_compute_requires_signatures_when_configured(compute_1, config):
    verify(compute_1, {}, method='terminate_instance')
    config.set_override('require_signed_context', True, group='compute')
    with pytest.raises(exception.NotAuthenticated, match='not signed'):
        verify(compute_1, {}, method='terminate_instance')


def test_verifier_by_topic(config):
    config.set_override('topic', 'compute-t', group='compute')
    v = auth.get_verifier(messaging.Target(topic='compute-t', server='h1'))
    assert isinstance(v, auth.ComputeVerifier) and v.host == 'h1'
    v = auth.get_verifier(messaging.Target(topic='compute_proxy',
                                           server='p1'))
    assert isinstance(v, auth.ProxyVerifier)


# -- nonce cache ----------------------------------------------------------

def test_nonce_cache_forgets_expired_then_oldest():
    cache = auth.NonceCache(size=3)
    assert cache.check_and_add('a', expires=10, now=0)
    assert not cache.check_and_add('a', expires=10, now=5)
    assert cache.check_and_add('b', expires=20, now=5)
    # 'a' expired at 10: forgotten, so the cache does not grow forever.
    assert cache.check_and_add('c', expires=30, now=11)
    assert len(cache) == 2
    for nonce in 'def':
        assert cache.check_and_add(nonce, expires=40, now=12)
    assert len(cache) == 3


def test_shared_nonces_purge_a_window_after_expiry(db_all):
    # On every backend: each has its own INSERT that ignores a replay.
    from nova_proxy.db import nonces
    record = nonces.SharedNonces(window=300, purge_every=0)
    assert record.check_and_add('a' * 64, expires=1000, now=700)
    assert not record.check_and_add('a' * 64, expires=1000, now=701)
    # Expired at 1000, kept one more window for the proxies' clock skew.
    assert record.check_and_add('b' * 64, expires=1400, now=1299)
    assert not record.check_and_add('a' * 64, expires=1000, now=1299)
    assert record.check_and_add('c' * 64, expires=1700, now=1402)
    assert record.check_and_add('a' * 64, expires=1000, now=1402)


def test_shared_nonces_are_counted_by_when_they_expire(db_all):
    from nova_proxy.db import nonces
    assert nonces.count(None) == 0
    for digest, expires in (('a', 1000), ('b', 1300), ('c', 1600)):
        assert nonces.add(None, digest * 64, expires)
    # Stored one second past their expiry: 1001, 1301, 1601.
    assert nonces.count(None) == 3
    assert nonces.count(None, expiring_from=1301) == 2
    assert nonces.count(None, expiring_from=1302) == 1
    assert nonces.count(None, expiring_from=1601.5) == 1
    assert nonces.count(None, expiring_from=1602) == 0


def test_a_nonce_is_one_statement_on_a_held_connection(db_all, monkeypatch):
    from nova_proxy.db import _held
    from nova_proxy.db import nonces
    from nova_proxy.db import session as db_session
    from tests.unit.db import test_hot_path as hot
    engine = db_session.get_engine()
    record = nonces.SharedNonces(window=300, purge_every=3600)
    assert record.check_and_add('d' * 64, expires=1000, now=700)
    with hot.statements_sent(engine) as statements:
        assert record.check_and_add('e' * 64, expires=1000, now=700)
    served = [kind for kind, _autocommit in statements]
    with hot.statements_sent(engine) as statements:
        assert not record.check_and_add('e' * 64, expires=1000, now=700)
    refused = [kind for kind, _autocommit in statements]
    # No SET LOCAL of its own: one INSERT per nonce (SQLite's BEGIN
    # IMMEDIATE apart). A replay reads whose INSERT was there first,
    # except where the INSERT runs by itself in autocommit
    # (``session.statement_in_autocommit``, PostgreSQL): it runs once
    # there, and a row it did not insert is another call's.
    assert [s for s in served if s != 'BEGIN'] == ['INSERT']
    assert [s for s in refused if s != 'BEGIN'] == (
        ['INSERT'] if engine.dialect.name == 'postgresql' else
        ['INSERT', 'SELECT'])
    if _held.holds(engine):
        assert db_session._held_connections is not None
    if engine.dialect.name == 'postgresql':
        # Committed as it runs: psycopg2 sends neither BEGIN nor COMMIT
        # around a statement on a connection in autocommit. The held
        # connection is switched back after it, for the transactions of
        # the other calls.
        assert [autocommit for _kind, autocommit in statements] == [True]
        held = list(db_session._held_connections._idle)
        assert held and not any(
            connection.connection.dbapi_connection.autocommit
            for connection, _since in held)
        # In the INSERT's own transaction, the commit does not wait for
        # the WAL flush; outside it, nothing changed.
        with engine.connect() as connection, connection.begin():
            connection.execute(
                nonces._insert_unless_present('postgresql'),
                {'digest': 'f' * 64, 'expires_at': 1, 'attempt': 'a'})
            assert connection.exec_driver_sql(
                'SHOW synchronous_commit').scalar() == 'off'
        with engine.connect() as connection:
            assert connection.exec_driver_sql(
                'SHOW synchronous_commit').scalar() == 'on'


def test_nonce_file_survives_a_restart_and_forgets_the_expired(tmp_path):
    path = str(tmp_path / 'state' / 'nonces')
    record = auth.NonceFile(size=100, path=path, now=0)
    assert record.check_and_add('a', expires=10, now=0)
    assert record.check_and_add('b', expires=30, now=1)
    # A restart at 5 remembers both; one at 20 only the live one.
    again = auth.NonceFile(size=100, path=path, now=5)
    assert not again.check_and_add('a', expires=10, now=5)
    assert not again.check_and_add('b', expires=30, now=5)
    later = auth.NonceFile(size=100, path=path, now=20)
    assert len(later) == 1
    assert not later.check_and_add('b', expires=30, now=20)
    with open(path) as f:
        assert [line.split()[1] for line in f] == ['b']
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_nonce_file_skips_a_line_cut_short(tmp_path):
    path = tmp_path / 'nonces'
    path.write_text('40.0 a\n40.0 b\n4')
    record = auth.NonceFile(size=100, path=str(path), now=0)
    assert len(record) == 2
    assert not record.check_and_add('b', expires=40, now=1)


def test_nonce_file_stays_about_one_window_long(tmp_path, monkeypatch):
    monkeypatch.setattr(auth.NonceFile, 'COMPACT_LINES', 10)
    path = tmp_path / 'nonces'
    record = auth.NonceFile(size=100, path=str(path), now=0)
    for i in range(100):
        # Each nonce lives 5 s; one a second.
        assert record.check_and_add('n%d' % i, expires=i + 5, now=i)
    assert len(path.read_text().splitlines()) <= 12


def test_compute_verifier_keeps_its_nonces_in_its_state_path(config):
    verifier = auth.ComputeVerifier('compute-1')
    assert isinstance(verifier.nonces, auth.NonceFile)
    assert verifier.nonces.path == os.path.join(config.state_path,
                                                'signed-call-nonces')


# -- key files and the key commands ---------------------------------------

def _ping_signed_with(key):
    return auth.sign({}, key, 'host:compute-1', 'compute', 'ping',
                     {'arg': 1})


def _checks(raw):
    try:
        verify(auth.ProxyVerifier(), raw, method='ping', args={'arg': 1})
        return True
    except exception.NotAuthenticated:
        return False


def test_rotation_never_refuses_a_call_until_retire(keys, config):
    path = str(keys / 'compute-1.key')
    old = key_files.read_key_file(path)[0]
    config.set_override('key_file', path, group='proxy_client')
    config.set_override('host', 'compute-1')
    signer = auth.get_signer()

    def signs_with():
        """The key of the file that the compute's signer used."""
        raw = signer.sign({}, messaging.Target(topic='t'), 'ping',
                          {'arg': 1})
        payload = auth._payload(raw, raw['signature'], 'ping', None,
                                {'arg': 1})
        [used] = [k for k in key_files.read_key_file(path)
                  if auth._mac(k, payload) == raw['signature']['mac']]
        return used

    # 1. create --rotate: the new key is a verify-only last line.
    key_cli.create(host='compute-1', rotate=True, directory=str(keys))
    old_again, new = key_files.read_key_file(path)
    assert old_again == old and new != old
    assert signs_with() == old
    assert _checks(_ping_signed_with(old)) and _checks(_ping_signed_with(new))
    # 2. promote: the new key signs, the old one still checks.
    key_cli.promote(host='compute-1', directory=str(keys))
    assert key_files.read_key_file(path) == [new, old]
    assert signs_with() == new
    assert _checks(_ping_signed_with(old))
    # 3. retire: only the new key is left.
    key_cli.retire(host='compute-1', directory=str(keys))
    assert key_files.read_key_file(path) == [new]
    assert not _checks(_ping_signed_with(old))
    assert _checks(_ping_signed_with(new))
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'
    with pytest.raises(exception.InvalidKeyFile, match='nothing to retire'):
        key_cli.retire(host='compute-1', directory=str(keys))
    with pytest.raises(exception.InvalidKeyFile, match='nothing to promote'):
        key_cli.promote(host='compute-1', directory=str(keys))


def test_key_create_refuses_overwrite_and_bad_names(keys):
    with pytest.raises(exception.InvalidKeyFile, match='it exists'):
        key_cli.create(host='compute-1', directory=str(keys))
    for bad in ('../x', '.hidden', 'a/b', '', '_proxy'):
        with pytest.raises(exception.InvalidKeyFile,
                           match='not a valid host name'):
            key_cli.create(host=bad, directory=str(keys))
    with pytest.raises(exception.InvalidKeyFile, match='no key to rotate'):
        key_cli.create(host='compute-3', rotate=True, directory=str(keys))
    before = key_files.read_key_file(str(keys / 'compute-1.key'))
    key_cli.create(host='compute-1', force=True, directory=str(keys))
    after = key_files.read_key_file(str(keys / 'compute-1.key'))
    assert len(after) == 1 and after != before


def test_key_list_names_no_secret(keys):
    rows = key_cli.list_keys()
    assert rows == [('(proxies and operators)', 1), ('compute-1', 1),
                    ('compute-2', 1)]


@pytest.mark.parametrize('text, reason', [
    ('', 'no key in it'), ('# only a comment\n', 'no key in it'),
    ('not base64 at all!\n', 'not base64'), ('c2hvcnQ=\n', 'at least 16'),
])
def test_malformed_key_file(tmp_path, text, reason):
    path = tmp_path / 'bad.key'
    path.write_text(text)
    with pytest.raises(exception.InvalidKeyFile, match=reason):
        key_files.read_key_file(str(path))


def test_missing_key_file_on_the_signing_side(config, tmp_path):
    config.set_override('key_file', str(tmp_path / 'nope.key'),
                        group='proxy_client')
    signer = auth.get_signer()
    with pytest.raises(exception.InvalidKeyFile, match='nope.key'):
        signer.sign({}, messaging.Target(topic='t'), 'ping', {'arg': 1})


def test_get_signer_by_configuration(keys, config):
    assert auth.get_signer().role == 'proxy'
    config.set_override('key_file', str(keys / 'compute-1.key'),
                        group='proxy_client')
    config.set_override('host', 'compute-1')
    signer = auth.get_signer()
    assert (signer.role, signer.host) == ('compute', 'compute-1')
    config.clear_override('key_file', group='proxy_client')
    config.clear_override('host_keys_dir', group='proxy')
    assert auth.get_signer() is None


# -- end to end on the fake driver ----------------------------------------

@pytest.fixture
def proxy_server(db, keys, config):
    config.set_override('require_signed_context', True, group='proxy')
    target = messaging.Target(topic=config.proxy.topic, server='proxy-1')
    with servers.serving(target, manager.endpoints()) as srv:
        yield srv


def _instance(host):
    from nova_proxy.db import api as db
    return db.instance_create(np_context.get_admin_context(),
                              {'host': host, 'node': host,
                               'vm_state': 'active'})


def _client_as(config, keys, host):
    """A ProxyAPI of a compute node holding ``host``'s key."""
    config.set_override('key_file', str(keys / (host + '.key')),
                        group='proxy_client')
    config.set_override('host', host)
    config.set_override('retries', 0, group='proxy_client')
    api = rpcapi.ProxyAPI(timeout=10)
    api.client  # built now, with this configuration
    return api


def test_rpc_compute_key_confines_to_its_host(proxy_server, keys, config):
    mine, theirs = _instance('compute-1'), _instance('compute-2')
    api = _client_as(config, keys, 'compute-1')
    updated = api.instance_update(np_context.get_compute_context('compute-1'),
                                  mine['uuid'], {'display_name': 'ok'})
    assert updated['display_name'] == 'ok'
    # Omitting compute_host does not make it an operator.
    with pytest.raises(exception.HostScopeViolation):
        api.instance_update(np_context.get_admin_context(), theirs['uuid'],
                            {'display_name': 'stolen'})
    # Claiming the other host is refused outright.
    with pytest.raises(exception.NotAuthenticated, match='cannot act as'):
        api.instance_update(np_context.get_compute_context('compute-2'),
                            theirs['uuid'], {'display_name': 'stolen'})


def test_rpc_a_given_signer_acts_for_its_host(proxy_server, keys, config):
    # A process acting for several compute hosts (the bench) gives each
    # ProxyAPI its own signer. This process's own signer is the
    # operator's (the proxies' keys dir holds the proxy key), which is not
    # confined: the refusal below shows the given signer was used.
    assert auth.get_signer().role == 'proxy'
    mine, theirs = _instance('compute-1'), _instance('compute-2')
    api = rpcapi.ProxyAPI(timeout=10, signer=auth.Signer(
        'compute', 'compute-1', key_file=str(keys / 'compute-1.key')))
    ctx = np_context.get_admin_context()  # no host claimed: scoped anyway
    assert api.instance_update(ctx, mine['uuid'], {'progress': 3})[
        'progress'] == 3
    with pytest.raises(exception.HostScopeViolation):
        api.instance_update(ctx, theirs['uuid'], {'progress': 3})


def test_rpc_unsigned_call_is_refused(proxy_server, config):
    raw = messaging.get_rpc_client(
        rpc.get_transport(), messaging.Target(topic=config.proxy.topic),
        timeout=10)
    with pytest.raises(exception.NotAuthenticated, match='not signed'):
        raw.call({}, 'ping', arg=1)


def test_rpc_operator_key_is_unconfined(proxy_server, keys, config):
    theirs = _instance('compute-2')
    api = rpcapi.ProxyAPI(timeout=10)  # no [proxy_client] key: proxy key
    assert isinstance(api.client, rpc._SigningClient)
    updated = api.instance_update(np_context.get_admin_context(),
                                  theirs['uuid'], {'display_name': 'op'})
    assert updated['display_name'] == 'op'


class _Echo:
    target = messaging.Target(version='1.0')

    @rpc.remotable
    def get_driver_state(self, context, value: str):
        return [value, getattr(context, 'authenticated_as', None)]


@pytest.fixture
def compute_server(keys, config):
    """compute-1's RPC server (its own key; signed calls required)."""
    config.set_override('require_signed_context', True, group='compute')
    config.set_override('key_file', str(keys / 'compute-1.key'),
                        group='proxy_client')
    target = messaging.Target(topic=config.compute.topic,
                              server='compute-1')
    with servers.serving(target, [_Echo()]) as srv:
        yield srv


def _compute_client(config, signer=None):
    client = messaging.get_rpc_client(
        rpc.get_transport(),
        messaging.Target(topic=config.compute.topic, version='1.0'),
        timeout=10, serializer=rpc.RequestContextSerializer())
    return client if signer is None else rpc._SigningClient(client, signer)


def test_rpc_compute_serves_only_proxies(compute_server, keys, config):
    proxy = _compute_client(config, auth.Signer('proxy'))
    assert proxy.prepare(server='compute-1').call(
        {}, 'get_driver_state', value='x') == ['x', 'host:compute-1']
    # compute-2 pretending to be a proxy on compute-1's topic.
    imposter = _compute_client(config, auth.Signer('compute', 'compute-2'))
    config.set_override('key_file', str(keys / 'compute-2.key'),
                        group='proxy_client')
    try:
        with pytest.raises(exception.NotAuthenticated):
            imposter.prepare(server='compute-1').call(
                {}, 'get_driver_state', value='x')
    finally:
        config.set_override('key_file', str(keys / 'compute-1.key'),
                            group='proxy_client')
    unsigned = _compute_client(config)
    with pytest.raises(exception.NotAuthenticated, match='not signed'):
        unsigned.prepare(server='compute-1').call({}, 'get_driver_state',
                                                  value='x')
