"""The proxy's endpoints behind a real RPC server on the fake driver
(``transport_url = fake:/``), called through ``ProxyAPI`` and through a
bare oslo.messaging client."""


import oslo_messaging as messaging
import pytest

from nova_proxy.common import context as np_context
from nova_proxy.common import rpc
from nova_proxy.db import api as db
from nova_proxy import exception
from nova_proxy.proxy import manager
from nova_proxy.proxy import rpcapi

MISSING = '2c7c3c5e-0000-4000-8000-000000000000'


@pytest.fixture
def proxy(server, config):
    config.set_override('retries', 0, group='proxy_client')
    return rpcapi.ProxyAPI(timeout=10)


@pytest.fixture
def raw(server, config):
    """A bare client: what any oslo.messaging program sends."""
    target = messaging.Target(topic=config.proxy.topic, version='1.0')
    return messaging.get_rpc_client(rpc.get_transport(), target, timeout=10)


@pytest.fixture
def ctx():
    return np_context.get_admin_context()


def compute(host):
    return np_context.get_compute_context(host)


# -- the allow-list -------------------------------------------------------

def _remotable_methods(version):
    names = []
    for endpoint in manager.endpoints():
        if endpoint.target.version != version:
            continue
        for name in dir(endpoint):
            if getattr(getattr(endpoint, name), 'remotable', False):
                names.append(name)
    return names


@pytest.mark.parametrize('version, methods', [
    (rpcapi.RPC_API_VERSION, rpcapi.METHODS),
    (rpcapi.NOVA_API_VERSION, rpcapi.NOVA_METHODS)])
def test_remotable_methods_are_exactly_the_contract(version, methods):
    names = _remotable_methods(version)
    assert len(names) == len(set(names)), 'a method on two endpoints'
    assert set(names) == set(methods)


def test_endpoints_speak_the_client_versions():
    for endpoint in manager.endpoints():
        assert endpoint.target.version in (rpcapi.RPC_API_VERSION,
                                           rpcapi.NOVA_API_VERSION)
        assert endpoint.target.namespace is None


@pytest.mark.parametrize('method', [
    'no_such_method', '_check_readable', 'target', '__init__',
    '__class__', 'endpoints', 'instance_get_all_by_filters',
    'purge_deleted_instances'])
def test_only_allow_listed_methods_are_callable(raw, ctx, method):
    with pytest.raises(messaging.NoSuchMethod):
        raw.call({}, method)
    assert raw.call({}, 'ping', arg='still serving') == 'still serving'


def test_newer_minor_version_is_refused(raw):
    with pytest.raises(messaging.UnsupportedVersion):
        raw.prepare(version='1.99').call({}, 'ping', arg=1)


# -- round trips ----------------------------------------------------------

def test_ping(proxy, ctx):
    for arg in ('x', 1, None, [1, 'a'], {'k': [None]}):
        assert proxy.ping(ctx, arg) == arg
    assert proxy.ping(ctx, 'quick', timeout=5) == 'quick'


def test_instance_methods(proxy, ctx):
    inst = proxy.instance_create(ctx, {'host': 'h1', 'node': 'n1',
                                       'task_state': 'spawning',
                                       'metadata': {'a': '1'}})
    assert proxy.instance_get_by_uuid(ctx, inst['uuid']) == inst
    assert proxy.instance_get_all_by_host(ctx, 'h1') == [inst]
    assert proxy.instance_get_all_by_host(ctx, 'h1', node='n2') == []
    new = proxy.instance_update(ctx, inst['uuid'], {
        'task_state': None, 'vm_state': 'active',
        'expected_task_state': ['spawning', None]})
    assert (new['task_state'], new['vm_state']) == (None, 'active')
    old, newer = proxy.instance_update_and_get_original(
        ctx, inst['uuid'], {'metadata': {}})
    assert old == new and newer['metadata'] == {}
    gone = proxy.instance_destroy(ctx, inst['uuid'])
    assert gone['deleted'] != 0


def test_resource_methods(proxy, ctx):
    inst = proxy.instance_create(ctx, {'host': 'h1', 'node': 'n1'})
    mig = proxy.migration_create(ctx, {
        'instance_uuid': inst['uuid'], 'source_compute': 'h1',
        'source_node': 'n1', 'dest_compute': 'h2', 'dest_node': 'n2',
        'status': 'migrating'})
    assert proxy.migration_get(ctx, mig['id']) == mig
    assert proxy.migration_update(ctx, mig['id'], {'progress': 5})[
        'progress'] == 5
    assert [m['id'] for m in proxy.migration_get_in_progress_by_host_and_node(
        ctx, 'h2', 'n2')] == [mig['id']]
    svc = proxy.service_create(ctx, {'host': 'h1', 'binary': 'b'})
    assert proxy.service_get_by_host_and_binary(ctx, 'h1', 'b') == svc
    assert proxy.service_update(ctx, svc['id'], {'disabled': True})[
        'disabled'] is True
    assert proxy.service_heartbeat(ctx, svc['id'])['report_count'] == 1
    node = proxy.compute_node_create(ctx, {'host': 'h1', 'node': 'n1',
                                           'vcpus': 4})
    assert proxy.compute_node_get_by_host_and_node(ctx, 'h1', 'n1') == node
    assert proxy.compute_node_update(ctx, node['id'], {'vcpus_used': 1})[
        'vcpus_used'] == 1
    base = {'instance_uuid': inst['uuid'], 'request_id': 'req-1'}
    assert proxy.instance_fault_create(ctx, dict(base_fault(inst)))[
        'code'] == 500
    assert proxy.instance_action_start(ctx, dict(base, action='stop'))[
        'action'] == 'stop'
    assert proxy.action_event_start(ctx, dict(base, event='e'))[
        'event'] == 'e'
    assert proxy.action_event_finish(ctx, dict(base, event='e',
                                               result='Success'))[
        'result'] == 'Success'
    assert proxy.instance_action_finish(ctx, base)['finish_time']


def base_fault(inst):
    return {'instance_uuid': inst['uuid'], 'message': 'boom'}


# -- errors ---------------------------------------------------------------

def test_domain_errors_reach_the_caller_as_themselves(proxy, ctx):
    with pytest.raises(exception.InstanceNotFound) as e:
        proxy.instance_get_by_uuid(ctx, MISSING)
    assert e.value.kwargs == {'instance_id': MISSING}
    with pytest.raises(exception.InvalidUUID):
        proxy.instance_update(ctx, 'nope', {})
    inst = proxy.instance_create(ctx, {'host': 'h1', 'task_state': 'x'})
    with pytest.raises(exception.UnexpectedTaskStateError) as e:
        proxy.instance_update(ctx, inst['uuid'], {
            'expected_task_state': [None, 'y']})
    assert e.value.kwargs == {'instance_uuid': inst['uuid'],
                              'expected': [None, 'y'], 'actual': 'x'}
    with pytest.raises(exception.InvalidUpdate) as e:
        proxy.instance_update(ctx, inst['uuid'], {'deleted': 1})
    assert e.value.kwargs['field'] == 'deleted'
    with pytest.raises(exception.ServiceNotFound):
        proxy.service_heartbeat(ctx, 12345)


@pytest.mark.parametrize('method, kwargs, words', [
    ('ping', {}, ['missing', 'arg']),
    ('ping', {'arg': 1, 'extra': 2}, ['unexpected', 'extra']),
    ('ping', {'arg': 1, 'context': 2}, ['context']),
    ('instance_get_by_uuid', {'uuid': MISSING}, ['instance_uuid']),
    ('instance_update', {'instance_uuid': MISSING}, ['values']),
    ('instance_get_all_by_host', {'host': ['h1']}, ['host', 'str']),
    ('instance_get_all_by_host', {'host': 'h1', 'node': 5}, ['node']),
    ('migration_get', {'migration_id': '1'}, ['migration_id', 'int']),
    ('migration_update', {'migration_id': True, 'values': {}},
     ['migration_id']),
    ('migration_get_in_progress_by_host_and_node',
     {'host': 'h', 'node': None}, ['node']),
    ('service_get_by_host_and_binary', {'host': 'h', 'binary': {}},
     ['binary']),
    ('service_update', {'service_id': 'x', 'values': {}}, ['service_id']),
    ('service_heartbeat', {'service_id': 1.5}, ['service_id']),
    ('compute_node_get_by_host_and_node', {'host': 1, 'node': 'n'},
     ['host']),
    ('compute_node_update', {'compute_node_id': [], 'values': {}},
     ['compute_node_id']),
    # Well typed, but no database could take them.
    ('instance_get_all_by_host', {'host': 'h\x00'}, ['host', 'NUL']),
    ('service_get_by_host_and_binary', {'host': '\ud800', 'binary': 'b'},
     ['host', 'Unicode']),
    ('service_heartbeat', {'service_id': 2 ** 64}, ['service_id', 'range']),
])
def test_bad_arguments_are_invalid_request(raw, method, kwargs, words):
    with pytest.raises(exception.InvalidRequest) as e:
        raw.call({}, method, **kwargs)
    assert e.value.kwargs['method'] == method
    for word in words:
        assert word in e.value.kwargs['reason']


@pytest.mark.parametrize('method, kwargs, field', [
    ('instance_create', {'values': ['host', 'h']}, 'values'),
    ('instance_create', {'values': {'host': 7}}, 'host'),
    ('instance_update', {'instance_uuid': MISSING, 'values': 'x'},
     'values'),
    ('migration_create', {'values': None}, 'values'),
    ('service_create', {'values': {'host': 'h', 'binary': 'b',
                                   'report_count': 2 ** 40}},
     'report_count'),
    ('compute_node_create', {'values': {'host': 'h', 'node': 'n',
                                        'vcpus': 'many'}}, 'vcpus'),
    ('instance_fault_create', {'values': {'instance_uuid': None}},
     'instance_uuid'),
    ('instance_action_start', {'values': []}, 'values'),
    ('action_event_start', {'values': {'event': {}}}, 'event'),
    ('instance_update', {'instance_uuid': MISSING, 'values': {
        'launched_at': '0001-01-01T00:00:00+01:00'}}, 'launched_at'),
    ('instance_update', {'instance_uuid': MISSING, 'values': {
        'display_name': 'vm-\ud800'}}, 'display_name'),
    ('instance_update', {'instance_uuid': MISSING, 'values': {
        'metadata': {'k\ud800': 'v'}}}, 'metadata'),
    ('instance_update', {'instance_uuid': MISSING, 'values': {
        'expected_task_state': 'a\x00b'}}, 'expected_task_state'),
    # What SQLite would store and the other backends refuse.
    ('compute_node_update', {'compute_node_id': 1, 'values': {
        'vcpus': None}}, 'vcpus'),
    ('migration_create', {'values': {'instance_uuid': MISSING,
                                     'migration_type': 'x' * 40}},
     'migration_type'),
])
def test_bad_values_are_invalid_update(raw, method, kwargs, field):
    with pytest.raises(exception.InvalidUpdate) as e:
        raw.call({}, method, **kwargs)
    assert e.value.kwargs['field'] == field


@pytest.mark.parametrize('method, kwargs', [
    ('instance_create', {'values': {'uuid': '{%s}' % MISSING}}),
    ('instance_create', {'values': {'uuid': MISSING.upper()}}),
    ('service_create', {'values': {'host': 'h', 'binary': 'b',
                                   'uuid': 'u' * 40}}),
])
def test_a_uuid_not_spelled_canonically_is_invalid_uuid(raw, method,
                                                        kwargs):
    with pytest.raises(exception.InvalidUUID):
        raw.call({}, method, **kwargs)


def test_unexpected_error_is_internal_and_server_keeps_serving(
        proxy, ctx, monkeypatch, caplog):
    inst = proxy.instance_create(ctx, {'host': 'h1'})

    def broken(*args, **kwargs):
        raise ZeroDivisionError('the disk is on fire')

    monkeypatch.setattr(db, 'instance_get_by_uuid', broken)
    with pytest.raises(exception.ProxyInternalError) as e:
        proxy.instance_get_by_uuid(ctx, inst['uuid'])
    assert e.value.kwargs['method'] == 'instance_get_by_uuid'
    assert 'ZeroDivisionError' in e.value.kwargs['reason']
    assert e.value.kwargs['error_id'] in caplog.text
    monkeypatch.undo()
    assert proxy.ping(ctx, 'alive') == 'alive'
    assert proxy.instance_get_by_uuid(ctx, inst['uuid'])['uuid'] == \
        inst['uuid']


# -- host scope -----------------------------------------------------------

def test_compute_caller_is_confined_to_its_host(proxy, ctx):
    mine = proxy.instance_create(ctx, {'host': 'h1', 'node': 'n1'})
    theirs = proxy.instance_create(ctx, {'host': 'h2', 'node': 'n2'})
    svc = proxy.service_create(ctx, {'host': 'h2', 'binary': 'b'})
    node = proxy.compute_node_create(ctx, {'host': 'h2', 'node': 'n2'})
    mig = proxy.migration_create(ctx, {
        'instance_uuid': theirs['uuid'], 'source_compute': 'h2',
        'dest_compute': 'h3', 'status': 'done'})
    h1 = compute('h1')
    assert proxy.instance_get_by_uuid(h1, mine['uuid'])['host'] == 'h1'
    assert proxy.instance_update(h1, mine['uuid'], {'progress': 3})[
        'progress'] == 3
    refused = [
        lambda: proxy.instance_get_by_uuid(h1, theirs['uuid']),
        lambda: proxy.instance_get_all_by_host(h1, 'h2'),
        lambda: proxy.instance_update(h1, theirs['uuid'], {'progress': 1}),
        lambda: proxy.instance_update_and_get_original(
            h1, theirs['uuid'], {'progress': 1}),
        lambda: proxy.instance_destroy(h1, theirs['uuid']),
        lambda: proxy.instance_create(h1, {'host': 'h2'}),
        lambda: proxy.migration_get(h1, mig['id']),
        lambda: proxy.migration_update(h1, mig['id'], {'status': 'x'}),
        lambda: proxy.migration_get_in_progress_by_host_and_node(
            h1, 'h2', 'n2'),
        lambda: proxy.service_get_by_host_and_binary(h1, 'h2', 'b'),
        lambda: proxy.service_create(h1, {'host': 'h2', 'binary': 'x'}),
        lambda: proxy.service_update(h1, svc['id'], {'disabled': True}),
        lambda: proxy.service_heartbeat(h1, svc['id']),
        lambda: proxy.compute_node_get_by_host_and_node(h1, 'h2', 'n2'),
        lambda: proxy.compute_node_create(h1, {'host': 'h2', 'node': 'x'}),
        lambda: proxy.compute_node_update(h1, node['id'], {'vcpus': 1}),
        lambda: proxy.instance_fault_create(h1, {
            'instance_uuid': theirs['uuid']}),
        lambda: proxy.instance_action_start(h1, {
            'instance_uuid': theirs['uuid'], 'action': 'a',
            'request_id': 'r'}),
    ]
    for call in refused:
        with pytest.raises(exception.HostScopeViolation) as e:
            call()
        assert e.value.kwargs['caller'] == 'h1'
    # Nothing was written by the refused calls.
    assert proxy.instance_get_by_uuid(ctx, theirs['uuid']) == theirs
    assert proxy.service_get_by_host_and_binary(ctx, 'h2', 'b') == svc
    assert proxy.compute_node_get_by_host_and_node(ctx, 'h2', 'n2') == node
    assert proxy.migration_get(ctx, mig['id']) == mig


def test_migration_opens_the_scope_to_both_ends(proxy, ctx):
    inst = proxy.instance_create(ctx, {'host': 'h2', 'node': 'n2'})
    mig = proxy.migration_create(ctx, {
        'instance_uuid': inst['uuid'], 'source_compute': 'h2',
        'dest_compute': 'h3', 'status': 'migrating'})
    h3 = compute('h3')
    assert proxy.instance_get_by_uuid(h3, inst['uuid'])['uuid'] == \
        inst['uuid']
    assert proxy.migration_get(h3, mig['id'])['id'] == mig['id']
    assert proxy.instance_update(h3, inst['uuid'], {'host': 'h3'})[
        'host'] == 'h3'
    proxy.migration_update(h3, mig['id'], {'status': 'confirmed'})
    with pytest.raises(exception.HostScopeViolation):
        proxy.instance_get_by_uuid(compute('h2'), inst['uuid'])


def test_a_compute_host_cannot_open_another_hosts_instance(proxy, ctx):
    """A migration in progress opens its instance to both its hosts; h1
    may neither create one nor re-target or reopen one it is part of."""
    theirs = proxy.instance_create(ctx, {'host': 'h2', 'node': 'n2'})
    mine = proxy.instance_create(ctx, {'host': 'h1', 'node': 'n1'})
    moving = proxy.migration_create(ctx, {
        'instance_uuid': mine['uuid'], 'source_compute': 'h1',
        'dest_compute': 'h3', 'status': 'migrating'})
    moved = proxy.migration_create(ctx, {
        'instance_uuid': theirs['uuid'], 'source_compute': 'h1',
        'dest_compute': 'h2', 'status': 'confirmed'})
    h1 = compute('h1')
    refused = [
        (lambda: proxy.migration_create(h1, {
            'instance_uuid': theirs['uuid'], 'source_compute': 'h2',
            'dest_compute': 'h1', 'status': 'migrating'}),
         'may not create a migration'),
        (lambda: proxy.migration_create(h1, {
            'instance_uuid': mine['uuid'], 'source_compute': 'h1',
            'dest_compute': 'h3'}), 'may not create a migration'),
        (lambda: proxy.migration_update(h1, moving['id'], {
            'instance_uuid': theirs['uuid']}), 'instance_uuid'),
        (lambda: proxy.migration_update(h1, moving['id'], {
            'dest_compute': 'h1', 'source_compute': 'h2'}),
         'source_compute, dest_compute'),
        (lambda: proxy.migration_update(h1, moved['id'], {
            'status': 'migrating'}), 'which is confirmed'),
    ]
    for call, words in refused:
        with pytest.raises(exception.Forbidden) as e:
            call()
        assert 'compute host h1 may not' in str(e.value)
        assert words in str(e.value)
    with pytest.raises(exception.HostScopeViolation):
        proxy.instance_get_by_uuid(h1, theirs['uuid'])
    assert proxy.migration_get(ctx, moving['id']) == moving
    assert proxy.migration_get(ctx, moved['id']) == moved
    # What nova-compute does to a migration in progress is still allowed,
    # the hosts it names set again to what they are included.
    assert proxy.migration_update(h1, moving['id'], {
        'status': 'post-migrating', 'source_compute': 'h1',
        'dest_compute': 'h3'})['status'] == 'post-migrating'
    # The control plane is not confined.
    assert proxy.migration_update(ctx, moved['id'], {
        'status': 'error'})['status'] == 'error'


def test_a_compute_host_hands_an_instance_only_to_its_migration(
        proxy, ctx):
    """Not pushed onto any host: only to the other end of a migration in
    progress (nova's source compute sets the destination), to itself, or
    to nobody."""
    mine = proxy.instance_create(ctx, {'host': 'h1', 'node': 'n1'})
    h1 = compute('h1')
    for call in (
            lambda: proxy.instance_update(h1, mine['uuid'], {'host': 'h2'}),
            lambda: proxy.instance_update_and_get_original(
                h1, mine['uuid'], {'host': 'h2'}),
            lambda: proxy.instance_update_and_record(
                h1, mine['uuid'], {'host': 'h2'}, fault={
                    'instance_uuid': mine['uuid'], 'message': 'm'})):
        with pytest.raises(exception.Forbidden) as e:
            call()
        assert 'no migration between them' in str(e.value)
    assert proxy.instance_get_by_uuid(ctx, mine['uuid'])['host'] == 'h1'
    assert proxy.instance_update(h1, mine['uuid'], {'host': 'h1'})[
        'host'] == 'h1'
    mig = proxy.migration_create(ctx, {
        'instance_uuid': mine['uuid'], 'source_compute': 'h1',
        'dest_compute': 'h2', 'status': 'migrating'})
    with pytest.raises(exception.Forbidden):
        proxy.instance_update(h1, mine['uuid'], {'host': 'h3'})
    assert proxy.instance_update(h1, mine['uuid'], {'host': 'h2'})[
        'host'] == 'h2'
    # The destination hands it back while the migration runs (a revert),
    # and may give it up; once the migration is over, no more moves.
    h2 = compute('h2')
    assert proxy.instance_update(h2, mine['uuid'], {'host': 'h1'})[
        'host'] == 'h1'
    proxy.instance_update(ctx, mine['uuid'], {'host': 'h2'})
    proxy.migration_update(ctx, mig['id'], {'status': 'confirmed'})
    with pytest.raises(exception.Forbidden):
        proxy.instance_update(h2, mine['uuid'], {'host': 'h1'})
    assert proxy.instance_update(h2, mine['uuid'], {'host': None})[
        'host'] is None


def test_scope_can_be_turned_off(proxy, ctx, config):
    theirs = proxy.instance_create(ctx, {'host': 'h2'})
    config.set_override('enforce_host_scope', False, group='proxy')
    assert proxy.instance_update(compute('h1'), theirs['uuid'],
                                 {'progress': 1})['progress'] == 1


def test_malformed_compute_host_is_invalid(raw, ctx):
    inst = db.instance_create(ctx, {'host': 'h1'})
    for bad in (['h1'], {'h': 1}, 5):
        with pytest.raises(exception.Invalid) as e:
            raw.call({'compute_host': bad}, 'instance_get_by_uuid',
                     instance_uuid=inst['uuid'])
        assert 'compute_host' in str(e.value)


# -- instance_update_and_record -------------------------------------------

def _records(ctx, instance_uuid):
    [action] = db.actions_get_with_events(ctx, instance_uuid)
    faults = db.instance_fault_get_by_instance_uuids(
        ctx, [instance_uuid])[instance_uuid]
    return ([(e['event'], e['host'], e['result']) for e in action['events']],
            [(f['code'], f['message']) for f in faults])


@pytest.mark.parametrize('cap', [None, '1.0'])
def test_update_and_record_through_the_server(proxy, ctx, config, cap):
    """One 1.1 call, or the separate 1.0 calls under a 1.0 cap: the same
    records either way, and the compute caller's scope on every part."""
    config.set_override('compute_proxy', cap, group='upgrade_levels')
    compute = np_context.get_compute_context('h1')
    inst = db.instance_create(ctx, {'host': 'h1', 'vm_state': 'building',
                                    'task_state': 'scheduling'})
    uuid = inst['uuid']
    db.instance_action_start(ctx, {'instance_uuid': uuid,
                                   'action': 'create', 'request_id': 'r1'})
    event = {'instance_uuid': uuid, 'request_id': 'r1', 'event': 'build'}
    spawning = proxy.instance_update_and_record(
        compute, uuid, {'task_state': 'spawning',
                        'expected_task_state': 'scheduling'},
        event_start=dict(event, host='h1'),
        fault={'instance_uuid': uuid, 'message': 'warn', 'host': 'h1'})
    assert spawning['task_state'] == 'spawning'
    active = proxy.instance_update_and_record(
        compute, uuid, {'vm_state': 'active', 'task_state': None,
                        'expected_task_state': 'spawning'},
        event_finish=dict(event, result='Success'))
    assert active == db.instance_get_by_uuid(
        ctx, uuid, columns_to_join=['metadata', 'system_metadata'])
    assert _records(ctx, uuid) == ([('build', 'h1', 'Success')],
                                   [(500, 'warn')])
    # The miss raises instance_update's error, rebuilt as itself.
    with pytest.raises(exception.UnexpectedTaskStateError) as e:
        proxy.instance_update_and_record(
            compute, uuid, {'expected_task_state': 'spawning'},
            event_finish=dict(event, result='Error'))
    assert e.value.kwargs['actual'] is None
    assert _records(ctx, uuid)[0] == [('build', 'h1', 'Success')]
    # Another host may not write any part.
    with pytest.raises(exception.HostScopeViolation):
        proxy.instance_update_and_record(
            np_context.get_compute_context('h2'), uuid, {'progress': 1},
            event_start=dict(event, event='other'))
    assert _records(ctx, uuid)[0] == [('build', 'h1', 'Success')]


def test_update_and_record_checks_its_part_arguments(raw, ctx):
    with pytest.raises(exception.InvalidRequest) as e:
        raw.prepare(version='1.1').call(
            {}, 'instance_update_and_record', instance_uuid=MISSING,
            values={}, event_start='not a dict')
    assert 'event_start' in e.value.kwargs['reason']
