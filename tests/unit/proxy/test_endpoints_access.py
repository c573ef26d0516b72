"""nova's task log, volume usage, console token, share mapping and
security group calls (wire 2.x) behind a real RPC server on the fake
driver: what a compute host may do, and what it is refused on another
host's data."""

import time

import pytest
import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy.db import api as db
from nova_proxy.db import models
from nova_proxy.db import session as db_session
from nova_proxy import exception
from nova_proxy.proxy import rpcapi

ADMIN = np_context.get_admin_context()
BEGIN, END = '2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z'
RESOURCES = ('task_log_', 'vol_usage_', 'console_auth_token_',
             'share_mapping_', 'security_group_')


def compute(host):
    return np_context.get_compute_context(host)


@pytest.fixture
def world(nova):
    """h1's and h2's instances, with a token, a share and a group each."""
    found = {}
    for host in ('h1', 'h2'):
        inst = db.instance_create(ADMIN, {'host': host, 'node': host})
        found[host] = inst['uuid']
        nova.call(ADMIN, 'console_auth_token_create', values={
            'token_hash': host * 32, 'console_type': 'novnc',
            'host': host, 'port': 5900, 'instance_uuid': inst['uuid'],
            'expires': int(time.time()) + 600})
        nova.call(ADMIN, 'share_mapping_update', uuid=None,
                  instance_uuid=inst['uuid'], share_id='s-' + host,
                  status='active', tag='t', export_location='x',
                  share_proto='NFS')
        nova.call(ADMIN, 'task_log_begin_task', task_name='audit',
                  period_beginning=BEGIN, period_ending=END, host=host)
    groups = models.SecurityGroup.__table__
    with db_session.get_engine().begin() as conn:
        found['group'] = conn.execute(sa.insert(groups).values(
            name='default', project_id='p1', deleted=0)
        ).inserted_primary_key[0]
    return found


def test_a_compute_host_serves_its_own(nova, world):
    ctx, mine = compute('h1'), world['h1']
    nova.call(ctx, 'task_log_begin_task', task_name='other',
              period_beginning=BEGIN, period_ending=END, host='h1',
              task_items=3, message='m')
    nova.call(ctx, 'task_log_end_task', task_name='other',
              period_beginning=BEGIN, period_ending=END, host='h1',
              errors=0)
    assert nova.call(ctx, 'task_log_get', task_name='other',
                     period_beginning=BEGIN, period_ending=END,
                     host='h1')['state'] == 'DONE'
    assert len(nova.call(ctx, 'task_log_get_all', task_name='audit',
                         period_beginning=BEGIN, period_ending=END,
                         host='h1')) == 1
    usage = nova.call(ctx, 'vol_usage_update', id='v1', rd_req=1,
                      rd_bytes=2, wr_req=3, wr_bytes=4, instance_id=mine,
                      project_id='p', user_id='u', availability_zone='az')
    assert usage['curr_write_bytes'] == 4
    assert nova.call(ctx, 'console_auth_token_get_valid',
                     token_hash='h1' * 32)['instance_uuid'] == mine
    assert nova.call(ctx, 'console_auth_token_get_valid',
                     token_hash='h2' * 32) is None
    nova.call(ctx, 'console_auth_token_destroy_expired_by_host', host='h1')
    assert [m['instance_uuid'] for m in nova.call(
        ctx, 'share_mapping_get_by_share_id', share_id='s-h2')] == []
    assert len(nova.call(ctx, 'share_mapping_get_by_instance_uuid',
                         instance_uuid=mine)) == 1
    assert nova.call(ctx, 'security_group_get_by_instance',
                     instance_uuid=mine) == []
    nova.call(ctx, 'console_auth_token_destroy_all_by_instance',
              instance_uuid=mine)
    assert nova.call(ctx, 'console_auth_token_get_valid',
                     token_hash='h1' * 32) is None


REFUSED = [
    ('task_log_begin_task', lambda w: dict(
        task_name='x', period_beginning=BEGIN, period_ending=END,
        host='h2')),
    ('task_log_end_task', lambda w: dict(
        task_name='audit', period_beginning=BEGIN, period_ending=END,
        host='h2', errors=0)),
    ('task_log_get', lambda w: dict(
        task_name='audit', period_beginning=BEGIN, period_ending=END,
        host='h2')),
    ('task_log_get_all', lambda w: dict(
        task_name='audit', period_beginning=BEGIN, period_ending=END)),
    ('vol_usage_update', lambda w: dict(
        id='v2', rd_req=1, rd_bytes=1, wr_req=1, wr_bytes=1,
        instance_id=w['h2'], project_id='p', user_id='u',
        availability_zone='az')),
    ('console_auth_token_create', lambda w: dict(values={
        'token_hash': 'z' * 64, 'console_type': 'novnc', 'host': 'h1',
        'port': 1, 'instance_uuid': w['h2'], 'expires': 2 ** 31 - 1})),
    ('console_auth_token_get_valid', lambda w: dict(
        token_hash='h2' * 32, instance_uuid=w['h2'])),
    ('console_auth_token_destroy_all_by_instance', lambda w: dict(
        instance_uuid=w['h2'])),
    ('console_auth_token_destroy_expired', lambda w: {}),
    ('console_auth_token_destroy_expired_by_host', lambda w: dict(
        host='h2')),
    ('share_mapping_get_by_instance_uuid', lambda w: dict(
        instance_uuid=w['h2'])),
    ('share_mapping_get_by_instance_uuid_and_share_id', lambda w: dict(
        instance_uuid=w['h2'], share_id='s-h2')),
    ('share_mapping_delete_by_instance_uuid_and_share_id', lambda w: dict(
        instance_uuid=w['h2'], share_id='s-h2')),
    ('share_mapping_update', lambda w: dict(
        uuid=None, instance_uuid=w['h2'], share_id='s-h2', status='x',
        tag='t', export_location='x', share_proto='NFS')),
    ('security_group_get_by_instance', lambda w: dict(
        instance_uuid=w['h2'])),
    ('security_group_get', lambda w: dict(security_group_id=w['group'])),
    ('security_group_get_all', lambda w: {}),
    ('security_group_get_by_name', lambda w: dict(
        project_id='p1', group_name='default')),
    ('security_group_get_by_project', lambda w: dict(project_id='p1')),
    ('security_group_in_use', lambda w: dict(group_id=w['group'])),
    ('security_group_update', lambda w: dict(
        security_group_id=w['group'], values={'name': 'x'})),
]
# Filtered, not refused: a compute host gets the rows of its own
# instances only (tested above).
FILTERED = {'share_mapping_get_by_share_id',
            'share_mapping_get_by_instance_uuids'}


def test_every_call_is_refused_or_filtered():
    names = {n for n in rpcapi.NOVA_METHODS if n.startswith(RESOURCES)}
    assert {name for name, _ in REFUSED} | FILTERED == names


@pytest.mark.parametrize('method, kwargs', REFUSED,
                         ids=[name for name, _ in REFUSED])
def test_refused_for_another_host(nova, world, method, kwargs):
    with pytest.raises(exception.Forbidden):
        nova.call(compute('h1'), method, **kwargs(world))
    # h2's own records are as they were.
    assert nova.call(ADMIN, 'console_auth_token_get_valid',
                     token_hash='h2' * 32)['instance_uuid'] == world['h2']
    assert nova.call(ADMIN, 'task_log_get', task_name='audit',
                     period_beginning=BEGIN, period_ending=END,
                     host='h2')['state'] == 'RUNNING'
    assert nova.call(ADMIN, 'share_mapping_get_by_instance_uuid_and_share_id',
                     instance_uuid=world['h2'],
                     share_id='s-h2')['status'] == 'active'


def test_list_arguments_are_checked_item_by_item(nova, world):
    # A list of the wrong items is the caller's named error, not a
    # database error: list[str] annotations check each item.
    for bad in ([{}], [['x']], [1], ['ok', None], ['a\x00b']):
        with pytest.raises(exception.InvalidRequest) as raised:
            nova.call(ADMIN, 'share_mapping_get_by_instance_uuids',
                      instance_uuids=bad)
        assert 'instance_uuids' in str(raised.value)
    assert nova.call(ADMIN, 'share_mapping_get_by_instance_uuids',
                     instance_uuids=[world['h1']])[0]['share_id'] == 's-h1'


@pytest.mark.parametrize('method,kwargs', [
    ('console_auth_token_destroy_all_by_instance', {}),
    ('console_auth_token_get_valid', {'token_hash': 'h'}),
    ('security_group_get_by_instance', {}),
    ('share_mapping_get_by_instance_uuid', {}),
    ('share_mapping_get_by_instance_uuid_and_share_id', {'share_id': 's'}),
])
def test_an_instance_uuid_that_is_no_string_is_refused_by_name(
        nova, method, kwargs):
    # The fuzzer sent a dict and a list: they reached the SQL and came
    # back as ProxyInternalError.
    for bad in ({'k0': 1}, [1]):
        with pytest.raises(exception.InvalidRequest):
            nova.call(ADMIN, method, instance_uuid=bad, **kwargs)


@pytest.mark.parametrize('method,kwargs', [
    ('share_mapping_get_by_instance_uuids', {'instance_uuids': [0]}),
    ('share_mapping_get_by_instance_uuids', {'instance_uuids': ['a\x00']}),
    ('service_get_minimum_version', {'binaries': ['nova-compute', 7]}),
    ('service_get_minimum_version', {'binaries': ['x' * 300 + '\x00']}),
    ('compute_node_get_all_by_uuids', {'compute_uuids': [None]}),
])
def test_list_items_of_the_wrong_type_are_refused_by_name(
        nova, method, kwargs):
    # The fuzzer's ints and NULs inside lists reached the SQL and came
    # back as ProxyInternalError.
    with pytest.raises(exception.InvalidRequest):
        nova.call(ADMIN, method, **kwargs)


def test_a_share_tag_used_twice_arrives_named(nova):
    inst = db.instance_create(ADMIN, {'host': 'h1', 'node': 'n1'})
    args = dict(instance_uuid=inst['uuid'], status='active', tag='t',
                export_location='x', share_proto='NFS')
    nova.call(compute('h1'), 'share_mapping_update', uuid=None,
              share_id='s1', **args)
    with pytest.raises(exception.ShareMappingAlreadyExists) as raised:
        nova.call(compute('h1'), 'share_mapping_update', uuid=None,
                  share_id='s2', **args)
    assert raised.value.kwargs == {'share_id': 's2', 'tag': 't'}
