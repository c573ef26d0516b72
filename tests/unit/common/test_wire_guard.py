"""The screen, the quiet log and the scrubbed replies of ``wire_guard``
(the functional tests in tests/functional/test_wire_guard.py send the
same traffic to a real proxy)."""

import logging
import sys
import traceback
import types

import oslo_messaging as messaging
from oslo_messaging.rpc import dispatcher as rpc_dispatcher
import pytest

from nova_proxy.common import wire_guard
from nova_proxy import exception


def _lines(caplog):
    return [r for r in caplog.records
            if r.name == 'nova_proxy.common.wire_guard']


def test_one_line_per_kind_and_source_per_interval(caplog, config,
                                                   monkeypatch):
    config.set_override('refused_log_interval', 60, group='proxy')
    now = [1000.0]
    monkeypatch.setattr(wire_guard.time, 'monotonic', lambda: now[0])
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            wire_guard.refused('malformed', 'a', 'bad from %s', 'a')
            wire_guard.refused('malformed', 'b', 'bad from %s', 'b')
            wire_guard.refused('unknown_method', 'a', 'unknown')
        assert len(_lines(caplog)) == 3
        now[0] += 61
        wire_guard.refused('malformed', 'a', 'bad again')
    lines = _lines(caplog)
    assert len(lines) == 4
    # The next line of a kind says how many the last interval held back.
    assert '8 more in the last interval' in lines[-1].getMessage()
    assert all(r.levelno == logging.WARNING and r.exc_info is None
               for r in lines)
    assert wire_guard.refused_counts() == {'malformed': 11,
                                           'unknown_method': 5}


def test_changing_the_claimed_source_does_not_flood_the_log(caplog):
    with caplog.at_level(logging.WARNING):
        for n in range(100):
            wire_guard.refused('not_authenticated', 'host-%d' % n, 'x')
    assert len(_lines(caplog)) == wire_guard.SOURCES_PER_INTERVAL
    assert wire_guard.refused_counts()['not_authenticated'] == 100


def test_a_logged_source_is_printable_and_bounded(caplog):
    with caplog.at_level(logging.WARNING):
        wire_guard.refused('malformed', 'x\nFAKE LINE' + 'y' * 500,
                           'from %s', 'x\nFAKE LINE')
    message = _lines(caplog)[0].getMessage()
    assert '\n' not in message and len(message) < 600


def _incoming(message=None, msg_id='0' * 32, reply_q='reply_' + 'a' * 32,
              ctxt=None, client_timeout=None):
    return types.SimpleNamespace(
        message={'method': 'ping', 'args': {}, 'version': '1.0'}
        if message is None else message,
        orig_msg_id=msg_id, reply_q=reply_q, client_timeout=client_timeout,
        ctxt={} if ctxt is None else ctxt)


@pytest.mark.parametrize('incoming, kind', [
    (_incoming(), None),
    (_incoming(msg_id=None, reply_q=None), None),  # a cast
    (_incoming(client_timeout=30), None),
    (_incoming(message={'method': 'ping', 'namespace': 'compute_task',
                        'version': '2.13'}), None),
    (_incoming(reply_q=None), 'no_reply_address'),
    (_incoming(reply_q='compute_proxy'), 'no_reply_address'),
    (_incoming(reply_q='compute.host-1'), 'no_reply_address'),
    (_incoming(reply_q=['reply_x']), 'no_reply_address'),
    (_incoming(msg_id={'a': 1}), 'no_reply_address'),
    (_incoming(msg_id='x' * 500), 'no_reply_address'),
    (_incoming(message={'method': 5}), 'malformed'),
    (_incoming(message={'method': 'a b'}), 'malformed'),
    (_incoming(message={'args': {}}), 'malformed'),
    (_incoming(message={'method': 'ping', 'args': [1]}), 'malformed'),
    (_incoming(message={'method': 'ping', 'version': 1.0}), 'malformed'),
    (_incoming(message={'method': 'ping', 'version': 'x'}), 'malformed'),
    # A trailing newline is not the end of a version, a method, an id.
    (_incoming(message={'method': 'ping', 'version': '2.0\n'}),
     'malformed'),
    (_incoming(message={'method': 'ping\n'}), 'malformed'),
    (_incoming(msg_id='abc\n'), 'no_reply_address'),
    (_incoming(message={'method': 'ping', 'namespace': ['a']}),
     'malformed'),
    (_incoming(client_timeout='30'), 'malformed'),
    (_incoming(client_timeout=True), 'malformed'),
    (_incoming(ctxt=[]), 'malformed'),
])
def test_screen(incoming, kind):
    problem = wire_guard.screen(incoming)
    assert (problem[0] if problem else None) == kind


def test_source_is_the_signing_key_else_the_claim():
    assert wire_guard.source_of({'signature': {'key': 'host:c1'},
                                 'compute_host': 'c2'}) == 'host:c1'
    assert wire_guard.source_of({'compute_host': 'c2'}) == \
        'unsigned, claims c2'
    assert wire_guard.source_of({'signature': 'x'}) == 'anonymous'
    assert wire_guard.source_of(None) == 'anonymous'


def test_scrubbed_error_formats_as_its_name_and_message_only():
    try:
        try:
            raise ValueError('INSERT INTO instances ... /srv/secret.py')
        except ValueError:
            raise exception.InstanceExists(instance_uuid='u-1')
    except exception.InstanceExists:
        info = wire_guard.scrubbed(sys.exc_info())
    text = ''.join(traceback.format_exception(*info))
    assert text == ('nova_proxy.exception.InstanceExists: Instance u-1 '
                    'already exists.\n')


class _Endpoint:
    target = messaging.Target(version='1.0')

    def known(self, context):
        return 'ok'


class _Policy(rpc_dispatcher.RPCAccessPolicyBase):
    def is_allowed(self, endpoint, method):
        return True


class _Serializer(messaging.NoOpSerializer):
    def deserialize_context(self, context):
        if context.get('broken'):
            raise KeyError('broken')
        return context


def _dispatch(message, ctxt=None):
    dispatcher = wire_guard.QuietDispatcher([_Endpoint()], _Serializer(),
                                            _Policy)
    incoming = types.SimpleNamespace(message=message, ctxt=ctxt or {},
                                     client_timeout=None)
    with pytest.raises(rpc_dispatcher.ExpectedException) as error:
        dispatcher.dispatch(incoming)
    kind, value, tb = error.value.exc_info
    assert tb is None and value.__context__ is None
    return value


@pytest.mark.parametrize('message, ctxt, error, kind', [
    ({'method': 'unknown', 'args': {}}, None, rpc_dispatcher.NoSuchMethod,
     'unknown_method'),
    ({'method': 'known', 'args': {}, 'version': '7.0'}, None,
     rpc_dispatcher.UnsupportedVersion, 'bad_version'),
    ({'method': 'known', 'args': {}}, {'broken': True},
     exception.InvalidRequest, 'malformed'),
])
def test_dispatcher_refusals_are_quiet_and_scrubbed(caplog, message, ctxt,
                                                    error, kind):
    with caplog.at_level(logging.WARNING):
        assert isinstance(_dispatch(message, ctxt), error)
    lines = _lines(caplog)
    assert len(lines) == 1 and lines[0].exc_info is None
    assert wire_guard.refused_counts() == {kind: 1}


def test_refusals_to_new_reply_queues_are_answered_within_a_budget(
        monkeypatch):
    now = [50.0]
    monkeypatch.setattr(wire_guard.time, 'monotonic', lambda: now[0])
    wire_guard.reset()
    answered = sum(wire_guard.may_answer_refusal() for _ in range(1000))
    assert answered == 2 * wire_guard.REFUSAL_REPLIES_PER_SECOND
    now[0] += 1
    answered = sum(wire_guard.may_answer_refusal() for _ in range(1000))
    assert answered == wire_guard.REFUSAL_REPLIES_PER_SECOND


def test_what_counts_as_a_refusal():
    assert wire_guard.is_refusal(exception.NotAuthenticated(method='m',
                                                            reason='r'))
    assert wire_guard.is_refusal(rpc_dispatcher.NoSuchMethod('m'))
    assert wire_guard.is_refusal(rpc_dispatcher.UnsupportedVersion('9.0'))
    # What an endpoint answers is the caller's answer, whatever the budget.
    assert not wire_guard.is_refusal(exception.InstanceNotFound(
        instance_id='u'))
    assert not wire_guard.is_refusal(exception.InvalidRequest(
        method='m', reason='r'))


class _V1:
    target = messaging.Target(version='1.3')

    def shared(self, context, **kwargs):
        return ('v1', 'shared', kwargs)

    def hidden(self, context, **kwargs):
        return ('v1', 'hidden')


class _V1Later:
    target = messaging.Target(version='1.5')

    def hidden(self, context, **kwargs):
        return ('v1-later', 'hidden')

    def later(self, context, **kwargs):
        return ('v1-later', 'later')


class _V2:
    target = messaging.Target(version='2.1')

    def shared(self, context, **kwargs):
        return ('v2', 'shared', kwargs)


class _Other:
    target = messaging.Target(namespace='other', version='1.0')

    def shared(self, context, **kwargs):
        return ('other', 'shared', kwargs)


class _OsloRouting(wire_guard.QuietDispatcher):
    """Every call through oslo.messaging's ``dispatch()``."""

    def _dispatch(self, incoming):
        return rpc_dispatcher.RPCDispatcher.dispatch(self, incoming)


class _NotHidden(rpc_dispatcher.RPCAccessPolicyBase):
    def is_allowed(self, endpoint, method):
        return not (isinstance(endpoint, _V1) and method == 'hidden')


def _outcome(dispatcher, message):
    incoming = types.SimpleNamespace(message=message, ctxt={},
                                     client_timeout=None)
    try:
        return dispatcher.dispatch(incoming)
    except rpc_dispatcher.ExpectedException as e:
        return type(e.exc_info[1])


def test_dispatcher_routes_every_call_as_oslo_messaging_does():
    endpoints = [_V1(), _V1Later(), _V2(), _Other()]
    ours = wire_guard.QuietDispatcher(endpoints, _Serializer(), _NotHidden)
    theirs = _OsloRouting(endpoints, _Serializer(), _NotHidden)
    seen = 0
    for _ in range(2):  # the second time from the remembered routes
        for method in ('shared', 'hidden', 'later', 'missing'):
            for version in ('1.0', '1.3', '1.4', '1.5', '1.6', '2.0',
                            '2.1', '2.2', '3.0'):
                for namespace in (None, 'other', 'unknown'):
                    message = {'method': method, 'version': version,
                               'args': {'a': 1}}
                    if namespace is not None:
                        message['namespace'] = namespace
                    expected = _outcome(theirs, message)
                    assert _outcome(ours, message) == expected, message
                    seen += not isinstance(expected, type)
    # Served calls were among them (hidden ones went to the later 1.x).
    assert seen > 10
    assert ours._routes[(None, '1.4', 'hidden')] is endpoints[1]


class _RabbitMessage(dict):
    """As the rabbit driver's message (a dict of its own class)."""


def test_dispatcher_needs_no_watchdog_without_a_call_timeout(monkeypatch):
    dispatcher = wire_guard.QuietDispatcher([_V1()], _Serializer(), _Policy)
    routed = []
    monkeypatch.setattr(
        rpc_dispatcher.RPCDispatcher, 'dispatch',
        lambda self, incoming: routed.append(incoming) or ('oslo',))
    incoming = types.SimpleNamespace(
        message=_RabbitMessage(method='shared', version='1.0', args={}),
        ctxt={}, client_timeout=None)
    assert dispatcher.dispatch(incoming) == ('v1', 'shared', {})
    assert routed == []
    incoming.client_timeout = 30
    assert dispatcher.dispatch(incoming) == ('oslo',)
    assert routed == [incoming]


def test_oslo_messaging_dispatch_serves_a_call_with_a_timeout(monkeypatch):
    dispatcher = wire_guard.QuietDispatcher([_V1()], _Serializer(), _Policy)
    built = []
    thread = rpc_dispatcher.threading.Thread

    def counted_thread(*args, **kwargs):
        built.append(kwargs)
        return thread(*args, **kwargs)

    monkeypatch.setattr(rpc_dispatcher.threading, 'Thread', counted_thread)
    incoming = types.SimpleNamespace(
        message={'method': 'shared', 'version': '1.0', 'args': {'x': 2}},
        ctxt={}, client_timeout=None)
    assert dispatcher.dispatch(incoming) == ('v1', 'shared', {'x': 2})
    assert built == []
    # With a call-monitor timeout, oslo.messaging's dispatch (and its
    # watchdog) serves it.
    incoming.client_timeout = 30
    assert dispatcher.dispatch(incoming) == ('v1', 'shared', {'x': 2})
    assert len(built) == 1


def test_made_up_versions_do_not_grow_the_routes(monkeypatch):
    monkeypatch.setattr(wire_guard, 'ROUTES_CACHED', 5)
    endpoint = _V1()
    endpoint.target = messaging.Target(version='1.99')
    dispatcher = wire_guard.QuietDispatcher([endpoint], _Serializer(),
                                            _Policy)
    for minor in range(4):
        for _ in range(2):
            incoming = types.SimpleNamespace(
                message={'method': 'shared', 'version': '1.%d' % minor,
                         'args': {}},
                ctxt={}, client_timeout=None)
            assert dispatcher.dispatch(incoming)[0] == 'v1'
    assert len(dispatcher._routes) == 4
    for minor in range(4, 40):
        incoming.message['version'] = '1.%d' % minor
        _outcome(dispatcher, incoming.message)
    assert len(dispatcher._routes) == 5


def test_a_serializer_that_changes_arguments_still_sees_them():
    class Doubling(_Serializer):
        def deserialize_entity(self, context, entity):
            return entity * 2

    dispatcher = wire_guard.QuietDispatcher([_V1()], Doubling(), _Policy)
    incoming = types.SimpleNamespace(
        message={'method': 'shared', 'version': '1.0', 'args': {'x': 2}},
        ctxt={}, client_timeout=None)
    assert dispatcher.dispatch(incoming) == ('v1', 'shared', {'x': 4})
