"""The compute_task endpoints behind a real RPC server (fake driver):
the control plane's calls, refused to a caller confined to a host."""

import oslo_messaging as messaging
import pytest

from nova_proxy.common import context as np_context
from nova_proxy.common import rpc
from nova_proxy.db import api as db_api
from nova_proxy import exception
from nova_proxy.orchestration import engine as op_engine
from nova_proxy.orchestration import journal
from nova_proxy.orchestration import manager
from nova_proxy.orchestration import rpcapi
from tests.unit.orchestration import conftest as oc


@pytest.fixture
def api(orch, compute):
    # The engine is not started: an accepted operation stays pending.
    endpoint = manager.ComputeTaskManager(
        op_engine.Engine('me', 'me', compute_api=compute))
    target = messaging.Target(topic='compute_proxy', server='me')
    server = rpc.get_server(target, [endpoint])
    server.start()
    yield rpcapi.ComputeTaskAPI(timeout=10)
    server.stop()
    server.wait()


def test_a_compute_host_may_not_start_or_read_operations(orch, api,
                                                         config):
    theirs = oc.add_instance(orch, host='cmp1')
    accepted = api.migrate_server(orch, oc.add_instance(orch)['uuid'],
                                  operation_id='by-operator')
    # cmp2 asks to have cmp1's instance moved to itself, among others.
    cmp2 = np_context.get_compute_context('cmp2')
    refused = [
        lambda: api.migrate_server(cmp2, theirs['uuid'], dest_host='cmp2'),
        lambda: api.build_instance(cmp2, {'memory_mb': 512, 'vcpus': 1,
                                          'root_gb': 1}, host='cmp2'),
        lambda: api.confirm_resize(cmp2, theirs['uuid']),
        lambda: api.revert_resize(cmp2, theirs['uuid']),
        lambda: api.operation_get(cmp2, 'by-operator'),
        lambda: api.operation_list(cmp2),
    ]
    for call in refused:
        with pytest.raises(exception.Forbidden) as e:
            call()
        assert 'compute host cmp2 may not' in str(e.value)
    assert [r['id'] for r in journal.get_all(orch)] == [accepted['id']]
    after = db_api.instance_get_by_uuid(orch, theirs['uuid'])
    assert (after['host'], after['task_state']) == ('cmp1', None)
    # The refusal is the host scope's: with it off (debugging only) the
    # same call is accepted.
    config.set_override('enforce_host_scope', False, group='proxy')
    assert api.migrate_server(cmp2, theirs['uuid'])['kind'] == 'migrate'


def test_no_second_operation_while_one_is_active(orch, api):
    """The last step of an operation frees the instance; the operation's
    DONE is written after it. An operation accepted in between would run
    beside it (and a takeover of the first could undo its work)."""
    inst = oc.add_instance(orch)
    journal.create(orch, 'first', 'migrate', inst['uuid'], 'me')
    assert db_api.instance_get_by_uuid(orch, inst['uuid'])[
        'task_state'] is None
    with pytest.raises(exception.OperationInProgress) as e:
        api.migrate_server(orch, inst['uuid'], operation_id='second')
    assert e.value.kwargs['operation_id'] == 'first'
    assert [r['id'] for r in journal.get_all(orch)] == ['first']
    # Nothing of the refused operation stays: the instance is as it was.
    assert db_api.instance_get_by_uuid(orch, inst['uuid']) == inst


@pytest.mark.parametrize('start', [
    lambda api, ctx, inst: api.migrate_server(
        ctx, inst['uuid'], dest_host='cmp9', flavor=oc.BIG),
    lambda api, ctx, inst: api.migrate_server(ctx, inst['uuid'],
                                              dest_host='cmp9'),
    lambda api, ctx, inst: api.build_instance(
        ctx, {'memory_mb': 512, 'vcpus': 1, 'root_gb': 1}, host='cmp9'),
])
def test_a_destination_that_does_not_exist_is_refused(orch, api, start):
    # Accepted, it would wait for cmp9 at its first step, then undo it:
    # minutes before the caller learns anything.
    inst = oc.add_instance(orch)
    with pytest.raises(exception.ComputeHostNotFound) as e:
        start(api, orch, inst)
    assert 'cmp9' in e.value.format_message()
    assert journal.get_all(orch) == []
    assert db_api.instance_get_by_uuid(orch, inst['uuid']) == inst


@pytest.mark.parametrize('finish', ['confirm_resize', 'revert_resize'])
def test_confirm_or_revert_during_a_resize_names_the_resize(
        orch, api, finish):
    inst = oc.add_instance(orch)
    resize = api.migrate_server(orch, inst['uuid'], dest_host='cmp2',
                                flavor=oc.BIG, operation_id='resize-1')
    with pytest.raises(exception.OperationInProgress) as e:
        getattr(api, finish)(orch, inst['uuid'])
    assert e.value.kwargs['operation_id'] == resize['id']
    assert [r['id'] for r in journal.get_all(orch)] == ['resize-1']


def test_confirm_without_a_resize_is_invalid(orch, api):
    inst = oc.add_instance(orch)
    with pytest.raises(exception.Invalid) as e:
        api.confirm_resize(orch, inst['uuid'])
    assert 'has no finished resize' in e.value.format_message()
