"""The RPC chokepoint: serializer, version caps, ``remotable``, the access
policy and how our errors cross the wire."""

import inspect
import logging
import re
import sys
import typing

from oslo_context import context as oslo_context
import oslo_messaging as messaging
from oslo_messaging._drivers import common as driver_common
import pytest

from nova_proxy.common import context as np_context
from nova_proxy.common import rpc
from nova_proxy import exception
from tests.unit import servers


# -- context serializer ---------------------------------------------------

def test_context_round_trip_keeps_compute_host():
    serializer = rpc.RequestContextSerializer()
    ctx = np_context.RequestContext(
        compute_host='cmp-1', user_id='u', project_id='p',
        request_id='req-abc', global_request_id='req-global',
        is_admin=False, overwrite=False)
    wire = serializer.serialize_context(ctx)
    assert wire['compute_host'] == 'cmp-1'
    assert wire['request_id'] == 'req-abc'
    # What the server sees went through JSON.
    wire = driver_common.jsonutils.loads(driver_common.jsonutils.dumps(wire))
    back = serializer.deserialize_context(wire)
    assert isinstance(back, np_context.RequestContext)
    assert (back.compute_host, back.user_id, back.project_id,
            back.request_id, back.global_request_id, back.is_admin) == (
        'cmp-1', 'u', 'p', 'req-abc', 'req-global', False)


def test_serializer_accepts_plain_dicts_and_nothing():
    serializer = rpc.RequestContextSerializer()
    assert serializer.serialize_context(None) == {}
    plain = {'user': 'u', 'compute_host': 'h'}
    assert serializer.serialize_context(plain) is plain
    ctx = serializer.deserialize_context({})
    assert ctx.compute_host is None and ctx.user_id is None
    assert serializer.deserialize_context(plain).compute_host == 'h'
    assert serializer.deserialize_context(None).compute_host is None
    # Entities are plain JSON already and pass through untouched.
    value = {'a': [1, None, 'x']}
    assert serializer.serialize_entity(None, value) is value
    assert serializer.deserialize_entity(None, value) is value


def _oslo_from_dict(values, **kwargs):
    """oslo.context's own ``from_dict``, with our two fields."""
    kwargs.setdefault('compute_host', values.get('compute_host'))
    kwargs.setdefault('read_deleted', values.get('read_deleted', 'no'))
    return oslo_context.RequestContext.from_dict.__func__(
        np_context.RequestContext, values, **kwargs)


@pytest.mark.parametrize('values, kwargs', [
    ({}, {}),
    ({'request_id': 'req-1'}, {}),
    (dict(np_context.RequestContext(
        user_id='u', project_id='p', domain_id='d', user_domain_id='ud',
        project_domain_id='pd', is_admin=True, read_only=True,
        show_deleted=True, request_id='req-2', global_request_id='g',
        resource_uuid='r', roles=['a', 'b'], user_name='un',
        project_name='pn', domain_name='dn', user_domain_name='udn',
        project_domain_name='pdn', is_admin_project=False,
        system_scope='all', auth_token='t', compute_host='h',
        read_deleted='yes', overwrite=False).to_dict(), extra='ignored'),
     {}),
    ({'user': 'u', 'compute_host': 'h', 'request_id': 'req-3'},
     {'compute_host': 'other', 'is_admin': True}),
])
def test_from_dict_builds_what_oslo_context_builds(values, kwargs):
    ours = vars(np_context.RequestContext.from_dict(values, **kwargs))
    theirs = vars(_oslo_from_dict(values, **kwargs))
    if 'request_id' not in values:  # a new one each time
        assert ours.pop('request_id') != theirs.pop('request_id')
    assert ours == theirs
    assert ours['compute_host'] == kwargs.get('compute_host',
                                              values.get('compute_host'))


def test_elevated_context_drops_the_scope():
    ctx = np_context.get_compute_context('cmp-1')
    admin = ctx.elevated()
    assert admin.compute_host is None and admin.is_admin
    assert ctx.compute_host == 'cmp-1'


# -- version caps ---------------------------------------------------------

@pytest.mark.parametrize('setting, cap', [
    (None, None), ('1.0', '1.0'), ('2026.2', '1.0'), ('1.7', '1.7')])
def test_version_cap_resolves_release_aliases(config, setting, cap):
    for api in ('compute_task', 'compute'):
        config.set_override(api, setting, group='upgrade_levels')
        assert rpc.version_cap(api) == cap


@pytest.mark.parametrize('setting, cap', [
    (None, None), ('1.0', '1.0'), ('2026.2', '1.1'), ('1.7', '1.7')])
def test_version_cap_of_the_proxy_api(config, setting, cap):
    # 2026.2 added instance_update_and_record (1.1).
    config.set_override('compute_proxy', setting, group='upgrade_levels')
    assert rpc.version_cap('compute_proxy') == cap


@pytest.mark.parametrize('setting, v1_cap, v2_cap', [
    (None, None, None), ('2026.2', '1.1', '1.1'), ('1.0', '1.0', '1.0'),
    ('2027.1', None, '2.0'), ('2.0', None, '2.0')])
def test_a_cap_on_the_proxy_api_caps_the_major_it_names(config, setting,
                                                        v1_cap, v2_cap):
    # 1.x clients of proxies that serve 2.x send what they always sent;
    # a 1.x cap stays a cap for nova's shim, which then cannot send 2.0.
    config.set_override('compute_proxy', setting, group='upgrade_levels')
    assert rpc.version_cap('compute_proxy', major=1) == v1_cap
    assert rpc.version_cap('compute_proxy', major=2) == v2_cap


def test_every_release_alias_names_a_version():
    for api, mapping in rpc.RELEASE_MAPPING.items():
        for release, version in mapping.items():
            assert re.fullmatch(r'\d+\.\d+', version), (api, release)


# -- remotable ------------------------------------------------------------

class _Endpoint:

    def __init__(self):
        self.calls = []

    @rpc.remotable
    def plain(self, context, arg, opt=None):
        self.calls.append((arg, opt))
        return {'arg': arg, 'opt': opt}

    @rpc.remotable
    def typed(self, context, name: str, count: int,
              maybe: str | None = None, values=None):
        return [name, count, maybe, values]

    @rpc.remotable
    def generic(self, context, names: list[str], anything: typing.Any,
                opt: dict[str, int] | None = None):
        return [names, anything, opt]

    @rpc.remotable
    def fails(self, context, error):
        raise error

    def helper(self, context):
        return 'not for the wire'


def _raised(call):
    """What a remotable call hands the dispatcher: ExpectedException
    wrapping the error the client will see."""
    with pytest.raises(messaging.ExpectedException) as e:
        call()
    return e.value.exc_info[1]


def test_remotable_calls_through():
    endpoint = _Endpoint()
    assert endpoint.plain(None, arg=1) == {'arg': 1, 'opt': None}
    assert endpoint.plain(None, arg='a', opt=[1]) == {'arg': 'a',
                                                      'opt': [1]}
    assert endpoint.calls == [(1, None), ('a', [1])]
    assert inspect.signature(_Endpoint.plain).parameters.keys() == {
        'self', 'context', 'arg', 'opt'}


@pytest.mark.parametrize('kwargs, words', [
    ({}, ['missing', 'arg']),
    ({'arg': 1, 'bogus': 2}, ['unexpected', 'bogus']),
    ({'arg': 1, 'context': 2}, ['context']),
    ({'arg': 1, 'self': 2}, ['self']),
])
def test_remotable_argument_errors_are_invalid_request(kwargs, words):
    endpoint = _Endpoint()
    error = _raised(lambda: endpoint.plain(None, **kwargs))
    assert type(error) is exception.InvalidRequest
    assert error.kwargs['method'] == 'plain'
    for word in words:
        assert word in error.kwargs['reason']
    assert endpoint.calls == []


@pytest.mark.parametrize('kwargs, argument', [
    ({'name': ['x'], 'count': 1}, 'name'),
    ({'name': 'x', 'count': '1'}, 'count'),
    ({'name': 'x', 'count': True}, 'count'),
    ({'name': 'x', 'count': 1.0}, 'count'),
    ({'name': None, 'count': 1}, 'name'),
    ({'name': 'x', 'count': 1, 'maybe': 3}, 'maybe'),
])
def test_remotable_checks_annotated_types(kwargs, argument):
    error = _raised(lambda: _Endpoint().typed(None, **kwargs))
    assert type(error) is exception.InvalidRequest
    assert error.kwargs['reason'].startswith('argument %s must be'
                                             % argument)


@pytest.mark.parametrize('values, field', [
    ({'project_id': {'a': 1}}, 'project_id'),
    ({'user': 7}, 'user_id'),
    ({'request_id': ['r']}, 'request_id'),
    ({'compute_host': 1.5}, 'compute_host'),
    ({'read_deleted': True}, 'read_deleted'),
    ({'project_id': 'a\x00b'}, 'project_id'),
    ({'is_admin': 'yes'}, 'is_admin'),
    ({'roles': 'admin'}, 'roles'),
    ({'roles': ['admin', 3]}, 'roles'),
])
def test_remotable_refuses_context_fields_of_the_wrong_type(values, field):
    # What a message's context becomes on the proxy, before any use.
    context = rpc.RequestContextSerializer().deserialize_context(values)
    endpoint = _Endpoint()
    error = _raised(lambda: endpoint.plain(context, arg=1))
    assert type(error) is exception.InvalidRequest
    assert error.kwargs['reason'].startswith('context field %s' % field)
    assert endpoint.calls == []


def test_remotable_accepts_a_context_as_clients_send_it():
    context = rpc.RequestContextSerializer().deserialize_context(
        np_context.get_compute_context('h1').to_dict())
    assert _Endpoint().plain(context, arg=1) == {'arg': 1, 'opt': None}


def test_remotable_accepts_the_annotated_types():
    assert _Endpoint().typed(None, name='x', count=2) == ['x', 2, None,
                                                          None]
    assert _Endpoint().typed(None, name='x', count=-1, maybe='m',
                             values={'any': 'thing'}) == [
        'x', -1, 'm', {'any': 'thing'}]


def test_remotable_generic_annotations_check_the_container():
    endpoint = _Endpoint()
    assert endpoint.generic(None, names=['a'], anything=object) == [
        ['a'], object, None]
    assert endpoint.generic(None, names=[], anything=None,
                            opt={'a': 1})[2] == {'a': 1}
    error = _raised(lambda: endpoint.generic(None, names='a', anything=1))
    assert error.kwargs['reason'] == 'argument names must be list, not str'
    error = _raised(lambda: endpoint.generic(None, names=[], anything=1,
                                             opt=[]))
    assert 'argument opt must be dict or null' in error.kwargs['reason']


def test_remotable_domain_errors_pass_as_themselves(caplog):
    caplog.set_level(logging.DEBUG)
    for error in (exception.InstanceNotFound(instance_id='u'),
                  exception.UnexpectedTaskStateError(
                      instance_uuid='u', expected=None, actual='x'),
                  exception.StepFailed(step='s', operation_id='o',
                                       reason='r'),
                  exception.DBNotAllowed(binary='b')):
        assert _raised(lambda: _Endpoint().fails(None, error=error)) \
            is error
    # A caller's mistake: no traceback in the server's log.
    assert not [r for r in caplog.records if r.exc_info]


def test_remotable_unexpected_error_is_proxy_internal_error(caplog):
    error = _raised(lambda: _Endpoint().fails(
        None, error=KeyError('surprise')))
    assert type(error) is exception.ProxyInternalError
    assert error.kwargs['method'] == 'fails'
    # The class, not the text: an error's text may hold SQL or paths.
    assert error.kwargs['reason'] == 'KeyError'
    assert 'surprise' not in str(error)
    error_id = error.kwargs['error_id']
    assert re.fullmatch(r'[0-9a-f]{12}', error_id)
    # Logged once, with its traceback and the id the caller got.
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1 and error_id in logged[0].getMessage()


# -- access policy --------------------------------------------------------

def test_allow_list_policy():
    policy = rpc.AllowListAccessPolicy()
    endpoint = _Endpoint()
    assert policy.is_allowed(endpoint, 'plain')
    assert policy.is_allowed(endpoint, 'typed')
    for name in ('helper', '__init__', 'calls', 'missing', '__class__'):
        assert not policy.is_allowed(endpoint, name)


# -- errors on the wire ---------------------------------------------------

def _sample_kwargs(cls):
    names = re.findall(r'%\((\w+)\)', cls.msg_fmt)
    return {name: ['x', None] if name == 'expected' else 'v-' + name
            for name in names}


@pytest.mark.parametrize('name', exception.__all__)
def test_every_error_is_rebuilt_as_itself(name):
    """What oslo.messaging's drivers do with a server's exception and a
    client that allows ``nova_proxy.exception``: the same class, same
    kwargs (so ``isinstance`` and ``e.kwargs`` work on a compute node)."""
    cls = getattr(exception, name)
    kwargs = _sample_kwargs(cls)
    try:
        raise cls(**kwargs)
    except cls:
        data = driver_common.serialize_remote_exception(sys.exc_info())
    rebuilt = driver_common.deserialize_remote_exception(
        data, rpc.ALLOWED_EXMODS)
    assert isinstance(rebuilt, cls)
    assert rebuilt.kwargs == kwargs
    assert str(cls(**kwargs)) in str(rebuilt)
    assert rebuilt.format_message() == str(cls(**kwargs))
    # A client that does not allow our module gets a RemoteError, named.
    foreign = driver_common.deserialize_remote_exception(data, [])
    assert isinstance(foreign, messaging.RemoteError)
    assert foreign.exc_type == name


def test_transport_is_built_once_and_cleaned_up(config):
    first = rpc.init()
    assert rpc.init() is first and rpc.get_transport() is first
    rpc.cleanup()
    assert rpc.get_transport() is not first


def _executor_size(server):
    # futurist's pool keeps its size only in this attribute.
    return server._work_executor._max_workers


def test_proxy_executor_threads_default(config):
    """The proxy daemon's default executor size reaches the RPC server
    oslo.messaging builds (which registers the option again itself), and
    a configured value still wins."""
    target = messaging.Target(topic='executor-default', server='s')
    with servers.serving(target, []) as server:
        assert _executor_size(server) == 64    # oslo.messaging's own
    rpc.set_executor_threads_default(rpc.PROXY_EXECUTOR_THREADS)
    assert config.executor_thread_pool_size == rpc.PROXY_EXECUTOR_THREADS
    with servers.serving(target, []) as server:
        assert _executor_size(server) == rpc.PROXY_EXECUTOR_THREADS
    config.set_override('executor_thread_pool_size', 20)
    with servers.serving(target, []) as server:
        assert _executor_size(server) == 20
    config.clear_override('executor_thread_pool_size')


def test_proxy_executor_threads_default_before_anything_registered():
    """The daemon sets the default before oslo.messaging has registered
    the option (a fresh configuration, as at its start)."""
    from oslo_config import cfg
    conf = cfg.ConfigOpts()
    rpc.set_executor_threads_default(8, conf=conf)
    conf([])
    assert conf.executor_thread_pool_size == 8
