"""nova's console auth token, share mapping and security group calls of
the DB API (wire 2.x), on SQLite, PostgreSQL and MariaDB."""

import time
import uuid

import pytest
import sqlalchemy as sa

from nova_proxy.db import api
from nova_proxy.db import models
from nova_proxy.db import session as db_session
from nova_proxy import exception

MISSING = '2c7c3c5e-0000-4000-8000-000000000000'


def _instance(ctx, host='h1'):
    return api.instance_create(ctx, {'host': host, 'node': host + '-n',
                                     'project_id': 'p1'})


def _token(ctx, instance, token_hash, expires_in=600, host='h1',
           scope_host=None):
    return api.console_auth_token_create(ctx, {
        'token_hash': token_hash, 'console_type': 'novnc', 'host': host,
        'port': 5900, 'instance_uuid': instance['uuid'],
        'expires': int(time.time()) + expires_in,
        'access_url_base': 'http://x/vnc_auto.html'},
        scope_host=scope_host)


def test_console_tokens(db_all, admin_context):
    mine, theirs = _instance(admin_context), _instance(admin_context, 'h2')
    token = _token(admin_context, mine, 'a' * 64)
    assert (token['console_type'], token['port'], token['instance_uuid']) \
        == ('novnc', 5900, mine['uuid'])
    _token(admin_context, mine, 'b' * 64, expires_in=-5)
    _token(admin_context, theirs, 'c' * 64, host='h2', expires_in=-5)
    _token(admin_context, theirs, 'd' * 64, host='h2')
    with pytest.raises(exception.TokenInUse):
        _token(admin_context, mine, 'a' * 64)
    valid = api.console_auth_token_get_valid(admin_context, 'a' * 64)
    assert valid['id'] == token['id']
    assert api.console_auth_token_get_valid(
        admin_context, 'a' * 64, mine['uuid'])['id'] == token['id']
    assert api.console_auth_token_get_valid(
        admin_context, 'a' * 64, theirs['uuid']) is None
    assert api.console_auth_token_get_valid(admin_context, 'b' * 64) is None
    with pytest.raises(exception.InstanceNotFound):
        api.console_auth_token_get_valid(admin_context, 'a' * 64, MISSING)
    # A confined caller finds only its instances' tokens.
    assert api.console_auth_token_get_valid(
        admin_context, 'd' * 64, scope_host='h1') is None
    with pytest.raises(exception.HostScopeViolation):
        api.console_auth_token_get_valid(admin_context, 'd' * 64,
                                         theirs['uuid'], scope_host='h1')
    api.console_auth_token_destroy_expired_by_host(admin_context, 'h1')
    left = _hashes()
    assert left == ['a' * 64, 'c' * 64, 'd' * 64]
    api.console_auth_token_destroy_expired(admin_context)
    assert _hashes() == ['a' * 64, 'd' * 64]
    with pytest.raises(exception.HostScopeViolation):
        api.console_auth_token_destroy_all_by_instance(
            admin_context, theirs['uuid'], scope_host='h1')
    api.console_auth_token_destroy_all_by_instance(admin_context,
                                                   mine['uuid'],
                                                   scope_host='h1')
    assert _hashes() == ['d' * 64]


def test_console_tokens_of_a_destroyed_instance_can_be_cleaned(
        db_all, admin_context):
    mine = _instance(admin_context)
    _token(admin_context, mine, 'e' * 64)
    api.instance_destroy(admin_context, mine['uuid'])
    api.console_auth_token_destroy_all_by_instance(
        admin_context, mine['uuid'], scope_host='h1')
    assert _hashes() == []


def test_console_token_create_is_confined(db_all, admin_context):
    mine, theirs = _instance(admin_context), _instance(admin_context, 'h2')
    # A token living longer than [proxy] console_token_max_ttl: refused to
    # a compute host (its host and port are the compute's word).
    with pytest.raises(exception.InvalidUpdate) as raised:
        _token(admin_context, mine, 'g' * 64, expires_in=3600,
               scope_host='h1')
    assert raised.value.kwargs['field'] == 'expires'
    assert _token(admin_context, mine, 'g' * 64, expires_in=590,
                  scope_host='h1')['token_hash'] == 'g' * 64
    with pytest.raises(exception.HostScopeViolation):
        _token(admin_context, theirs, 'f' * 64, scope_host='h1')
    with pytest.raises(exception.InstanceNotFound):
        _token(admin_context, {'uuid': MISSING}, 'f' * 64)
    with pytest.raises(exception.InvalidUpdate):
        api.console_auth_token_create(admin_context, {'token_hash': 'x',
                                                      'port': 'many'})
    assert _hashes() == ['g' * 64]


def _hashes():
    table = models.ConsoleAuthToken.__table__
    with db_session.get_engine().connect() as conn:
        return sorted(conn.execute(sa.select(table.c.token_hash)).scalars())


def _map(ctx, instance, share, tag='t1', status='attaching',
         scope_host=None):
    return api.share_mapping_update(
        ctx, str(uuid.uuid5(uuid.NAMESPACE_OID, instance['uuid'] + share)),
        instance['uuid'], share, status, tag, 'nfs://x/' + share, 'NFS',
        scope_host=scope_host)


def test_share_mappings(db_all, admin_context):
    mine, theirs = _instance(admin_context), _instance(admin_context, 'h2')
    first = _map(admin_context, mine, 's1')
    assert (first['status'], first['tag'], first['share_proto']) == (
        'attaching', 't1', 'NFS')
    again = _map(admin_context, mine, 's1', status='active')
    # An upsert: the same row, its uuid kept.
    assert (again['id'], again['uuid'], again['status']) == (
        first['id'], first['uuid'], 'active')
    _map(admin_context, mine, 's2', tag='t2')
    _map(admin_context, theirs, 's1')
    ids = lambda rows: sorted(r['share_id'] for r in rows)  # noqa: E731
    assert ids(api.share_mapping_get_by_instance_uuid(
        admin_context, mine['uuid'])) == ['s1', 's2']
    assert len(api.share_mapping_get_by_share_id(admin_context, 's1')) == 2
    assert [m['instance_uuid'] for m in api.share_mapping_get_by_share_id(
        admin_context, 's1', scope_host='h1')] == [mine['uuid']]
    assert len(api.share_mapping_get_by_instance_uuids(
        admin_context, [mine['uuid'], theirs['uuid']])) == 3
    assert len(api.share_mapping_get_by_instance_uuids(
        admin_context, [mine['uuid'], theirs['uuid']],
        scope_host='h1')) == 2
    assert api.share_mapping_get_by_instance_uuid_and_share_id(
        admin_context, mine['uuid'], 's2')['tag'] == 't2'
    assert api.share_mapping_get_by_instance_uuid_and_share_id(
        admin_context, mine['uuid'], 's9') is None
    delete = api.share_mapping_delete_by_instance_uuid_and_share_id
    for call in (lambda: api.share_mapping_get_by_instance_uuid(
                     admin_context, theirs['uuid'], scope_host='h1'),
                 lambda: _map(admin_context, theirs, 's3', scope_host='h1'),
                 lambda: delete(admin_context, theirs['uuid'], 's1',
                                scope_host='h1')):
        with pytest.raises(exception.HostScopeViolation):
            call()
    api.share_mapping_delete_by_instance_uuid_and_share_id(
        admin_context, mine['uuid'], 's1', scope_host='h1')
    assert ids(api.share_mapping_get_by_instance_uuid(
        admin_context, mine['uuid'])) == ['s2']
    assert len(api.share_mapping_get_by_share_id(admin_context, 's1')) == 1


def _group(name, project='p1', instances=()):
    groups = models.SecurityGroup.__table__
    members = models.SecurityGroupInstanceAssociation.__table__
    with db_session.get_engine().begin() as conn:
        group_id = conn.execute(sa.insert(groups).values(
            name=name, description=name + ' group', project_id=project,
            user_id='u1', deleted=0)).inserted_primary_key[0]
        for instance_uuid in instances:
            conn.execute(sa.insert(members).values(
                security_group_id=group_id, instance_uuid=instance_uuid,
                deleted=0))
    return group_id


def test_security_groups(db_all, admin_context):
    mine = _instance(admin_context)
    default = _group('default', instances=[mine['uuid']])
    web = _group('web', instances=[mine['uuid']])
    other = _group('default', project='p2')
    assert [g['name'] for g in api.security_group_get_by_instance(
        admin_context, mine['uuid'])] == ['default', 'web']
    group = api.security_group_get(admin_context, web,
                                   columns_to_join=['instances'])
    assert group['name'] == 'web'
    assert [i['uuid'] for i in group['instances']] == [mine['uuid']]
    assert api.security_group_get_by_name(admin_context, 'p2',
                                          'default')['id'] == other
    with pytest.raises(exception.SecurityGroupNotFoundForProject):
        api.security_group_get_by_name(admin_context, 'p2', 'web')
    with pytest.raises(exception.SecurityGroupNotFound):
        api.security_group_get(admin_context, 9999)
    assert [g['id'] for g in api.security_group_get_by_project(
        admin_context, 'p1')] == [default, web]
    assert len(api.security_group_get_all(admin_context)) == 3
    assert api.security_group_in_use(admin_context, web)
    assert not api.security_group_in_use(admin_context, other)
    renamed = api.security_group_update(admin_context, web,
                                        {'description': 'http'})
    assert renamed['description'] == 'http'
    with pytest.raises(exception.SecurityGroupExists):
        api.security_group_update(admin_context, web, {'name': 'default'})
    api.instance_destroy(admin_context, mine['uuid'])
    assert not api.security_group_in_use(admin_context, web)
    with pytest.raises(exception.HostScopeViolation):
        api.security_group_get_by_instance(admin_context, mine['uuid'],
                                           scope_host='h2')


def test_a_tag_used_twice_is_nova_s_share_mapping_already_exists(
        db_all, admin_context):
    mine = _instance(admin_context)
    _map(admin_context, mine, 's1', tag='data')
    other = _map(admin_context, mine, 's2', tag='logs')
    # A new share with a tag the instance has, and a share retagged so.
    for share in ('s3', 's2'):
        with pytest.raises(exception.ShareMappingAlreadyExists) as raised:
            _map(admin_context, mine, share, tag='data')
        assert raised.value.kwargs == {'share_id': share, 'tag': 'data'}
    assert [(m['share_id'], m['tag']) for m in
            api.share_mapping_get_by_instance_uuid(
                admin_context, mine['uuid'])] == [('s1', 'data'),
                                                  ('s2', 'logs')]
    assert other['tag'] == 'logs'
