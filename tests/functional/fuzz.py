"""A fuzzer of the wire: generated requests against two live proxies.

Run it::

    PYTHONPATH=. python -m tests.functional.fuzz --count 10000 [--seed N]

It starts two ``nova-compute-proxy`` processes on a fresh PostgreSQL
database and a RabbitMQ vhost of their own (``two_proxies``), then sends
``--count`` generated requests (hypothesis draws them):

* calls of every wire method of every namespace (``rpcapi.METHODS``,
  ``rpcapi.NOVA_METHODS``, the ``compute_task`` namespace), with arguments
  of right and wrong types, sizes, unicode (surrogates, NUL), deep
  nesting, huge integers, floats and NaN, missing and extra arguments;
  versions valid, newer, of other majors or garbage; unknown namespaces;
  contexts missing, malformed, confined to a host, with a garbage
  ``read_deleted``;
* broken envelopes sent raw with the ``amqp`` library, as an attacker
  would: not JSON, a wrong oslo.messaging envelope version, no envelope,
  no method, arguments that are not a dict, a garbage version, no reply
  queue, a reply queue that does not exist.

Before sending, the fuzzer works out what the proxies will do with the
message's bytes, by the guards' own rules (``wire_fate``): the size limit of
``nova_proxy.common.amqp_guard``, the rabbit driver's own decoding, then
``nova_proxy.common.wire_guard.screen``. A message they drop (too large,
undecodable, of the wrong shape, with no usable reply address) must get
no answer: the fuzzer waits ``DROP_WAIT`` for one, then both proxies
must answer a ping; an answer to it that comes later still fails the run
at the next check. Every other call that names a reply queue the fuzzer
reads must be answered within ``REPLY_TIMEOUT``, with a result or with a
named error (a ``nova_proxy.exception`` class or one of oslo.messaging's
dispatch errors): never ``ProxyInternalError``, never any other class,
never silence. Messages naming a reply queue that does not exist, or
none, are part of every run: each used to hold a proxy thread for a
minute, so a stall shows as a later call or ping timing out. Both
proxies must answer a ping after every batch. A create that was
accepted is read back: the row read must be the row returned, with the
values given. The first request breaking a rule fails the run;
hypothesis then shrinks it to a small one and prints it.

``tests/functional/test_fuzz.py`` runs 150 requests in the
default suite.
"""

import argparse
import contextlib
import inspect
import json
import math
import os
import re
import sys
import tempfile
import time
import urllib.parse
import uuid

import amqp
import hypothesis
from hypothesis import strategies as st
import oslo_messaging

from nova_proxy import conf
from nova_proxy import exception
from nova_proxy.orchestration import manager as orchestration_manager
from nova_proxy.orchestration import rpcapi as orchestration_rpcapi
from nova_proxy.proxy import endpoints as nova_endpoints
from nova_proxy.proxy import manager
from nova_proxy.proxy import rpcapi
from tests.functional import two_proxies
from tests.functional import wire_fate

# oslo.messaging's own errors that name what was wrong with a call.
MESSAGING_ERRORS = frozenset(('NoSuchMethod', 'UnsupportedVersion'))
PROXY_ERRORS = frozenset(
    name for name in exception.__all__
    if name != 'ProxyInternalError')
BATCH = 50
# Generous: the proxies share a loaded machine with other test runs.
REPLY_TIMEOUT = 30
# How long a message the guards drop is given to be answered (wrongly)
# before the fuzzer pings and goes on. Short, because an answer after it
# is still caught (``Fuzzer.check_late_answers``, at every ping and
# ``SETTLE`` seconds after the last request); only how soon depends on
# it.
DROP_WAIT = 0.2
SETTLE = 3
HOSTS = ('fuzz-a', 'fuzz-b')


class Violation(AssertionError):
    """A request was answered in a way the wire never may."""

    def __init__(self, message, summary=None):
        super().__init__(message)
        self.summary = summary or message[:60]


def _wire_methods():
    """``[(namespace, version, method, parameters)]`` for every method the
    proxies serve; parameters are ``inspect.Parameter`` after context."""
    classes = ([type(e) for e in manager.endpoints()]
               + [type(e) for e in nova_endpoints.endpoints()]
               + [orchestration_manager.ComputeTaskManager])
    found = {}
    for cls in classes:
        namespace = cls.target.namespace
        major = cls.target.version.split('.')[0]
        for name, fn in inspect.getmembers(cls):
            if not getattr(fn, 'remotable', False):
                continue
            params = list(inspect.signature(fn.__wrapped__)
                          .parameters.values())[2:]
            found[(namespace, major, name)] = params
    table = []
    for name, (version, _) in rpcapi.METHODS.items():
        table.append((None, version, name, found[(None, '1', name)]))
    for name, (version, _) in rpcapi.NOVA_METHODS.items():
        table.append((None, version, name, found[(None, '2', name)]))
    ns = orchestration_rpcapi.NAMESPACE
    for name, version in orchestration_rpcapi.METHODS.items():
        table.append((ns, version, name, found[(ns, '1', name)]))
    return table


WIRE = _wire_methods()

# -- values ------------------------------------------------------------------

# Every code point, lone surrogates and NUL included.
_char = st.characters(min_codepoint=0, max_codepoint=0x10ffff,
                      categories=None)
weird_text = st.one_of(
    st.text(_char, max_size=40),
    st.sampled_from(['', '\x00', 'a\x00b', '\ud800', 'x\udfff',
                     '\U0001f4a9', 'A' * 256, 'é' * 300,
                     "'; DROP TABLE services; --", '%s%s%(x)s', '../..']),
    st.integers(1, 3).map(lambda n: 'x' * (10 ** (n + 2)) * 7))
plain_text = st.sampled_from(HOSTS + ('nova-compute', 'compute', 'node-1',
                                      'active', 'migrating', 'no'))
ints = st.one_of(st.integers(-3, 10), st.integers(-2 ** 70, 2 ** 70),
                 st.sampled_from([2 ** 31, 2 ** 63, -2 ** 63 - 1,
                                  10 ** 400]))
floats = st.floats(allow_nan=True, allow_infinity=True)
scalars = st.one_of(st.none(), st.booleans(), ints, floats, weird_text,
                    plain_text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(weird_text, plain_text), children,
                        max_size=5)),
    max_leaves=12)


def _nested(depth):
    value = 1
    for i in range(depth):
        value = [value] if i % 2 else {'k': value}
    return value


deep = st.integers(20, 400).map(_nested)
big = st.sampled_from([list(range(20000)),
                       {'k%d' % i: i for i in range(5000)}])


def _uuids(pool):
    return st.one_of(st.sampled_from(pool), st.uuids().map(str),
                     st.uuids().map(lambda u: str(u).upper()),
                     st.uuids().map(lambda u: u.hex))


def typed_value(annotation, pool):
    """A value of the annotated type, often one that names a real row."""
    text = str(annotation)
    if 'bool' in text:
        return st.booleans()
    if 'int' in text:
        return st.one_of(st.integers(1, 5), ints)
    if 'list' in text:
        return st.lists(st.one_of(_uuids(pool), plain_text, weird_text),
                        max_size=4)
    if 'dict' in text:
        return st.dictionaries(plain_text, json_values, max_size=4)
    return st.one_of(_uuids(pool), plain_text, weird_text)


def any_value(pool):
    return st.one_of(json_values, json_values, deep, big, _uuids(pool))


_VALUE_KEYS = ('host', 'node', 'binary', 'topic', 'report_count',
               'disabled', 'disabled_reason', 'version', 'uuid',
               'memory_mb', 'vcpus', 'vcpus_used', 'local_gb',
               'hypervisor_hostname', 'hypervisor_type', 'cpu_info',
               'instance_uuid', 'status', 'source_compute', 'dest_compute',
               'migration_type', 'vm_state', 'task_state', 'metadata',
               'system_metadata', 'display_name', 'deleted', 'id',
               'created_at', 'forced_down', 'last_seen_up', 'project_id',
               'service_id', 'stats', 'request_id', 'action', 'event',
               'start_time', 'finish_time', 'result', 'message', 'code',
               'details', 'token_hash', 'console_type', 'expires', 'port',
               'name', 'description', 'share_id', 'share_proto', 'tag')


def values_dict(pool):
    """A ``values`` argument: keys of nova's columns, values of any kind."""
    key = st.one_of(st.sampled_from(_VALUE_KEYS), weird_text)
    value = st.one_of(plain_text, st.integers(0, 4096), st.booleans(),
                      _uuids(pool), scalars, json_values)
    return st.dictionaries(key, value, max_size=12)


def arguments(params, pool):
    @st.composite
    def draw(draw_):
        kwargs = {}
        for p in params:
            required = p.default is inspect.Parameter.empty
            mode = draw_(st.sampled_from(
                ('typed', 'typed', 'typed', 'any', 'omit')))
            if mode == 'omit' and not (required and draw_(st.booleans())):
                continue
            if p.name == 'values':
                strategy = values_dict(pool) if mode == 'typed' \
                    else any_value(pool)
            elif mode == 'typed':
                strategy = typed_value(p.annotation, pool)
            else:
                strategy = any_value(pool)
            kwargs[p.name] = draw_(strategy)
        if draw_(st.integers(0, 9)) == 0:
            kwargs[draw_(st.sampled_from(
                ('extra', 'context', 'self', '__class__', 'kwargs',
                 'host', 'values')))] = draw_(json_values)
        return kwargs
    return draw()


versions = st.one_of(st.sampled_from(
    ('1.0', '1.1', '1.2', '1.99', '2.0', '2.1', '2.99', '3.0', '0.1',
     '0.0', '9.0')), st.sampled_from(('', 'abc', '1', '1.0.0', '1.x',
                                      '-1.0', '1.0a', ' 2.0', '２.０',
                                      '2.0\n')))
contexts = st.one_of(
    st.just({'request_id': 'req-fuzz', 'project_id': 'p', 'user_id': 'u'}),
    st.just({}),
    st.sampled_from(HOSTS).map(lambda h: {'compute_host': h}),
    st.fixed_dictionaries({}, optional={
        'compute_host': st.one_of(st.sampled_from(HOSTS), json_values),
        'read_deleted': st.one_of(st.sampled_from(('no', 'yes', 'only')),
                                  json_values),
        'is_admin': json_values, 'roles': json_values,
        'request_id': json_values, 'project_id': json_values,
        'user_id': json_values, 'timestamp': json_values,
        'signature': json_values, 'nonce': json_values,
        'overwrite': json_values}))


@st.composite
def rpc_requests(draw, pool):
    namespace, version, method, params = draw(st.sampled_from(WIRE))
    kind = draw(st.sampled_from(('right',) * 6 + ('version', 'namespace',
                                                  'method')))
    if kind == 'version':
        version = draw(versions)
    elif kind == 'namespace':
        namespace = draw(st.sampled_from(
            ('compute_task', 'baremetal', '', 'x' * 300, '\x00')))
    elif kind == 'method':
        method = draw(st.one_of(st.sampled_from(
            ('_authenticate', '__init__', 'endpoints', 'instance_get_all',
             'purge_deleted_instances', 'target', method.upper())),
            weird_text))
    return {'kind': 'rpc', 'namespace': namespace, 'version': version,
            'method': method, 'args': draw(arguments(params, pool)),
            'context': draw(contexts)}


RAW_FLAWS = ('not_json', 'not_dict', 'envelope_version', 'no_envelope',
             'inner_not_json', 'no_method', 'args_not_dict',
             'method_not_str', 'version_garbage', 'missing_reply_q',
             'unknown_reply_q')


@st.composite
def raw_requests(draw, pool):
    """An envelope sent raw, by hand."""
    flaw = draw(st.sampled_from(RAW_FLAWS))
    return {'kind': 'raw', 'flaw': flaw,
            'body': draw(st.binary(max_size=64)),
            'junk': draw(json_values),
            'method': draw(st.sampled_from([w[2] for w in WIRE])),
            'version': draw(versions)}


def requests(pool):
    return st.one_of(rpc_requests(pool), rpc_requests(pool),
                     rpc_requests(pool), raw_requests(pool))


# -- sending -----------------------------------------------------------------


class Fuzzer:
    """Sends requests to the cluster and checks each answer."""

    def __init__(self, cluster, transport, keep_going=False):
        self.keep_going = keep_going
        self.violations = {}
        self.cluster = cluster
        self.transport = transport
        self.client = two_proxies.plain_client(transport, cluster,
                                               timeout=REPLY_TIMEOUT)
        self.sent = 0
        self.outcomes = {}
        self.pool = [str(uuid.uuid4())]
        # Message id -> what was sent, for every message the guards drop:
        # an answer to one of them, however late, breaks the rules.
        self._silent = {}
        self._late = wire_fate.LateAnswers()
        self._late.install()
        url = urllib.parse.urlsplit(cluster.transport_url)
        self._amqp = amqp.Connection(
            host='%s:%s' % (url.hostname, url.port or 5672),
            userid=urllib.parse.unquote(url.username or 'guest'),
            password=urllib.parse.unquote(url.password or 'guest'),
            virtual_host=urllib.parse.unquote(url.path[1:] or '/'))
        self._amqp.connect()
        self._channel = self._amqp.channel()
        self.reply_q = 'reply_fuzz_%s' % uuid.uuid4().hex
        self._channel.exchange_declare(self.reply_q, 'direct',
                                       auto_delete=True)
        self._channel.queue_declare(self.reply_q, auto_delete=True)
        self._channel.queue_bind(self.reply_q, self.reply_q, self.reply_q)

    def close(self):
        self._late.remove()
        with contextlib.suppress(Exception):
            self._amqp.close()

    def seed(self):
        """Rows the generated requests can name."""
        ctx = {'request_id': 'req-fuzz-seed'}
        for host in HOSTS:
            inst = self.client.prepare(version='1.0').call(
                ctx, 'instance_create', values={
                    'host': host, 'node': host, 'vm_state': 'active',
                    'memory_mb': 64, 'vcpus': 1, 'root_gb': 1,
                    'instance_type_id': 1, 'metadata': {'k': 'v'}})
            self.pool.append(inst['uuid'])
            svc = self.client.prepare(version='2.0').call(
                ctx, 'service_create', values={
                    'host': host, 'binary': 'nova-compute',
                    'topic': 'compute'})
            self.pool.append(svc['uuid'])

    def _count(self, outcome):
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def ping(self):
        """Both proxies are up and serve a call; nothing the guards drop
        was answered since the last ping."""
        for proc in self.cluster.processes:
            if not proc.alive():
                raise Violation('%s died:\n%s' % (proc.name,
                                                  proc.log()[-4000:]))
            server = self.client.prepare(server=proc.name, version='1.0')
            try:
                answer = server.call({}, 'ping', arg=proc.name)
            except oslo_messaging.MessagingTimeout:
                raise Violation('%s: no answer to a ping in %ss' % (
                    proc.name, REPLY_TIMEOUT), 'ping unanswered')
            if answer != proc.name:
                raise Violation('%s: ping answered wrong' % proc.name)
        self.check_late_answers()

    def check_late_answers(self):
        """Raise ``Violation`` if a message the guards drop was answered
        after the fuzzer stopped waiting for it: oslo.messaging's reply
        thread saw the answer of a call, or it is on the raw reply
        queue."""
        for msg_id in self._late.take():
            self._not_silent(msg_id)
        while True:
            got = self._channel.basic_get(self.reply_q, no_ack=True)
            if got is None:
                return
            self._not_silent(_reply_id(got))

    def _not_silent(self, msg_id):
        if msg_id in self._silent:
            raise Violation('answered after %ss: %s, which the guards drop'
                            % (DROP_WAIT, self._silent[msg_id]),
                            'dropped message answered late')

    def send(self, request):
        try:
            if request['kind'] == 'rpc':
                self._send_rpc(request)
            else:
                self._send_raw(request)
        except Violation as e:
            if not self.keep_going:
                raise
            key = '%s %s %s' % (request['kind'], request.get(
                'flaw', request.get('method')), e.summary)
            if key not in self.violations:
                self.violations[key] = request
        self.sent += 1
        if self.sent % BATCH == 0:
            self.ping()

    # oslo.messaging, as a client would.
    def _send_rpc(self, req):
        try:
            cctxt = self.client.prepare(namespace=req['namespace'],
                                        version=req['version'])
        except oslo_messaging.MessagingException as e:
            # The client refuses a garbage version itself (the raw
            # envelopes send those).
            self._count('unsent:%s' % type(e).__name__)
            return
        try:
            # An argument named as call()'s own ('self') is refused
            # before anything is encoded.
            inspect.signature(type(cctxt).call).bind(
                cctxt, req['context'], req['method'], **req['args'])
            dropped = wire_fate.fate(wire_fate.body_of_call(
                cctxt, req['context'], req['method'], req['args']))
        except (TypeError, ValueError, RecursionError, OverflowError,
                UnicodeError) as e:
            # The client cannot encode the request: nothing is sent.
            self._count('unsent:%s' % type(e).__name__)
            return
        if dropped:
            self._expect_silence(cctxt, req, dropped)
            return
        try:
            started = time.monotonic()
            result = cctxt.call(req['context'], req['method'],
                                **req['args'])
        except oslo_messaging.MessagingTimeout:
            raise Violation('no answer in %ss (%.0fs)' % (
                REPLY_TIMEOUT, time.monotonic() - started))
        except oslo_messaging.RemoteError as e:
            self._named(e.exc_type, e.value)
            return
        except exception.NovaProxyException as e:
            self._named(type(e).__name__.replace('_Remote', ''), str(e))
            return
        self._count('result')
        self._check_stored(req, result)

    def _expect_silence(self, cctxt, req, kind):
        """Make a call the guards drop as ``kind``: no answer within
        ``DROP_WAIT`` (nor later, ``check_late_answers``), and both
        proxies serve on."""
        try:
            answer = cctxt.prepare(timeout=DROP_WAIT).call(
                req['context'], req['method'], **req['args'])
        except oslo_messaging.MessagingTimeout as e:
            msg_id = re.search(r'[0-9a-f]{32}', str(e))
            if msg_id:
                self._silent[msg_id.group()] = 'rpc %s (%s)' % (
                    _short(req, 300), kind)
        except (oslo_messaging.RemoteError,
                exception.NovaProxyException) as e:
            raise Violation('answered %s: %s, to a call the guards drop '
                            'as %s' % (type(e).__name__, e, kind),
                            'dropped call answered')
        else:
            raise Violation('answered %s, to a call the guards drop as '
                            '%s' % (_short(answer), kind),
                            'dropped call answered')
        self._count('dropped:%s' % kind)
        self.ping()

    def _named(self, name, message):
        if name in MESSAGING_ERRORS or name in PROXY_ERRORS:
            self._count(name)
            return
        raise Violation('answered %s: %s' % (name, message), name)

    def _check_stored(self, req, result):
        """An accepted create reads back as returned, with what was
        given."""
        reads = {'service_create': ('2.0', 'service_get', 'service_id'),
                 'compute_node_create': ('2.0', 'compute_node_get',
                                         'compute_id'),
                 'migration_create': ('2.0', 'migration_get',
                                      'migration_id')}
        method = req['method']
        if (method not in reads or not req['version'].startswith('2.')
                or not isinstance(result, dict)):
            return
        version, read, arg = reads[method]
        stored = self.client.prepare(version=version).call(
            {}, read, **{arg: result['id']})
        if stored != result:
            raise Violation('%s returned %r, read back %r' % (
                method, result, stored))
        values = req['args'].get('values')
        for key, given in (values if isinstance(values, dict) else {}).items():
            if (key in stored and isinstance(given, (str, int))
                    and not key.endswith('_at') and given != stored[key]
                    and not _same_number(given, stored[key])):
                raise Violation('%s stored %s=%r, given %r' % (
                    method, key, stored[key], given))
        if 'uuid' in stored:
            self.pool.append(stored['uuid'])

    # amqp, as an attacker would.
    def _send_raw(self, req):
        flaw = req['flaw']
        msg_id = uuid.uuid4().hex
        message = {'_msg_id': msg_id, '_reply_q': self.reply_q,
                   '_unique_id': uuid.uuid4().hex, 'method': req['method'],
                   'args': {}, 'version': '1.0',
                   '_context_request_id': 'req-fuzz-raw'}
        if flaw == 'no_method':
            del message['method']
        elif flaw == 'args_not_dict':
            message['args'] = req['junk'] if not isinstance(
                req['junk'], dict) else [req['junk']]
        elif flaw == 'method_not_str':
            message['method'] = req['junk'] if not isinstance(
                req['junk'], str) else [req['junk']]
        elif flaw == 'version_garbage':
            message['version'] = req['version']
        elif flaw == 'missing_reply_q':
            del message['_reply_q']
        elif flaw == 'unknown_reply_q':
            message['_reply_q'] = 'reply_%s' % uuid.uuid4().hex
        envelope = {'oslo.version': '2.0',
                    'oslo.message': _dumps(message)}
        if flaw == 'not_json':
            body = b'\xff{' + req['body']
        elif flaw == 'not_dict':
            body = _dumps([envelope])
        elif flaw == 'envelope_version':
            body = _dumps(dict(envelope, **{'oslo.version': '9.0'}))
        elif flaw == 'no_envelope':
            body = _dumps(message)
        elif flaw == 'inner_not_json':
            body = _dumps(dict(envelope, **{'oslo.message': '{'}))
        else:
            body = _dumps(envelope)
        if isinstance(body, str):
            body = body.encode('utf-8')
        dropped = wire_fate.fate(body)
        self._channel.basic_publish(
            amqp.Message(body, content_type='application/json',
                         content_encoding='utf-8'),
            exchange=self.cluster.exchange, routing_key=self.cluster.topic)
        if dropped:
            self._silent[msg_id] = 'raw %s %s (%s)' % (
                flaw, _short(message, 300), dropped)
            if self._await_reply(msg_id, DROP_WAIT) is not None:
                raise Violation('raw %s: answered, and the guards drop it '
                                'as %s: %r' % (flaw, dropped, message),
                                'dropped message answered')
            self._count('dropped:%s' % dropped)
            self.ping()
            return
        if message.get('_reply_q') != self.reply_q:
            # Served, and answered where no one reads (at most once:
            # the reply queue does not exist). A stall would show as the
            # next call's or ping's timeout.
            self._count('answered elsewhere:%s' % flaw)
            return
        reply = self._await_reply(msg_id, REPLY_TIMEOUT)
        if reply is None:
            raise Violation('raw %s: no answer in %ss: %r' % (
                flaw, REPLY_TIMEOUT, message))
        failure = reply.get('failure')
        if failure is None:
            # Served: args are {}, so only a method that needs no
            # argument gets here.
            self._count('result')
            return
        failure = json.loads(failure)
        self._named(failure.get('class'), failure.get('message'))

    def _await_reply(self, msg_id, timeout):
        """The reply to ``msg_id`` on the raw reply queue, or None after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self._channel.basic_get(self.reply_q, no_ack=True)
            if got is None:
                time.sleep(0.01)
                continue
            reply = json.loads(json.loads(got.body)['oslo.message'])
            if reply.get('_msg_id') == msg_id:
                return reply
            self._not_silent(reply.get('_msg_id'))
        return None


def _reply_id(got):
    """The message id an oslo.messaging reply (an ``amqp`` message)
    answers."""
    return json.loads(json.loads(got.body)['oslo.message']).get('_msg_id')


def _short(value, limit=600):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + '...'


def _dumps(value):
    return json.dumps(value)


def _same_number(a, b):
    try:
        return math.isclose(float(a), float(b))
    except (TypeError, ValueError, OverflowError):
        return False


def run(fuzzer, count, seed=None):
    """Send ``count`` generated requests through ``fuzzer``; raise
    ``Violation`` (after shrinking) at the first broken rule."""
    fuzzer.ping()
    fuzzer.seed()
    pool = list(fuzzer.pool)

    @hypothesis.settings(max_examples=count, deadline=None, database=None,
                         derandomize=seed is None,
                         suppress_health_check=list(hypothesis.HealthCheck),
                         phases=(hypothesis.Phase.generate,
                                 hypothesis.Phase.shrink))
    @hypothesis.given(requests(pool))
    def fuzz(request):
        fuzzer.send(request)

    if seed is not None:
        fuzz = hypothesis.seed(seed)(fuzz)
    fuzz()
    fuzzer.ping()
    # Time for a late answer to the last dropped messages to show.
    time.sleep(SETTLE)
    fuzzer.check_late_answers()
    return fuzzer.outcomes


@contextlib.contextmanager
def live_fuzzer(directory, keep_going=False):
    with two_proxies.two_proxies(directory) as cluster:
        with two_proxies.plain_transport(cluster) as transport:
            two_proxies.wait_until_serving(
                two_proxies.plain_client(transport, cluster), cluster)
            fuzzer = Fuzzer(cluster, transport, keep_going)
            try:
                yield fuzzer
            finally:
                fuzzer.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--count', type=int, default=10000,
                        help='requests to send (default 10000)')
    parser.add_argument('--seed', type=int, default=None,
                        help='random seed (default: a fixed derivation)')
    parser.add_argument('--keep-going', action='store_true',
                        help='record each distinct violation with its first '
                        'request and go on (no shrinking)')
    args = parser.parse_args(argv)
    conf.register_opts()
    conf.CONF([], project='nova-compute-proxy', default_config_files=[])
    started = time.monotonic()
    load = os.getloadavg()
    outcomes = None
    with tempfile.TemporaryDirectory() as directory:
        with live_fuzzer(directory, args.keep_going) as fuzzer:
            try:
                outcomes = run(fuzzer, args.count, args.seed)
            finally:
                print(summary(fuzzer, time.monotonic() - started, load))
    return 0 if outcomes and not fuzzer.violations else 1


def summary(fuzzer, duration, load):
    """The totals of a run, as text: requests, answers by kind, drops by
    kind, the rest, violations; its duration and the machine's load."""
    groups = {'answered': {}, 'dropped': {}, 'other': {}}
    for outcome, n in fuzzer.outcomes.items():
        if outcome == 'result' or ':' not in outcome:
            groups['answered'][outcome] = n
        elif outcome.startswith('dropped:'):
            groups['dropped'][outcome.split(':', 1)[1]] = n
        else:
            groups['other'][outcome] = n
    lines = ['%d requests in %.0fs; load average %s at the start, %s at '
             'the end' % (fuzzer.sent, duration,
                          '/'.join('%.1f' % x for x in load),
                          '/'.join('%.1f' % x for x in os.getloadavg()))]
    for name, counts in groups.items():
        lines.append('%s: %d' % (name, sum(counts.values())))
        lines.extend('  %6d %s' % (n, outcome)
                     for outcome, n in sorted(counts.items()))
    lines.append('violations: %d' % len(fuzzer.violations))
    lines.extend('VIOLATION %s\n  first request: %s' % (
        violation, _short(request))
        for violation, request in fuzzer.violations.items())
    return '\n'.join(lines)


if __name__ == '__main__':
    sys.exit(main())
