"""nova's TaskLog, VolumeUsage, ConsoleAuthToken, ShareMapping and
SecurityGroupList objects on live proxies, as nova-compute uses them (the
usage audit, volume usage on detach, console tokens, shares, the groups
of an instance), and what host scope refuses on another host's
instances.

Scenarios run in the nova object process (see conftest.py).
"""

import uuid

import sqlalchemy as sa

from nova_proxy.db import models
from tests.functional import nova as nova_tests
from tests.functional.nova import conftest


def _seed_instance(nova, host):
    """An instance of ``host`` written straight into the proxies'
    database, as nova-conductor would have made it."""
    instance_uuid = str(uuid.uuid4())
    engine = sa.create_engine(nova.cluster.db_url)
    with engine.begin() as conn:
        conn.execute(sa.insert(models.Instance.__table__).values(
            uuid=instance_uuid, host=host, node=host, project_id='p1',
            user_id='u1', deleted=0, vm_state='active'))
        group = conn.execute(sa.insert(models.SecurityGroup.__table__).values(
            name='default-' + host, description='default', user_id='u1',
            project_id='p1', deleted=0)
        ).inserted_primary_key[0]
        conn.execute(sa.insert(
            models.SecurityGroupInstanceAssociation.__table__).values(
            security_group_id=group, instance_uuid=instance_uuid, deleted=0))
    engine.dispose()
    return instance_uuid


def own_records(ctx, host, mine):
    import datetime

    from nova import exception
    from nova import objects

    facts = {}
    begin = datetime.datetime(2026, 11, 1)
    end = datetime.datetime(2026, 12, 1)
    log = objects.TaskLog(ctx, task_name='instance_usage_audit', host=host,
                          period_beginning=begin, period_ending=end,
                          task_items=3, message='Instance usage audit '
                          'started')
    log.begin_task()
    try:
        log.begin_task()
    except exception.TaskAlreadyRunning:
        facts['begin twice'] = 'TaskAlreadyRunning'
    log.errors = 1
    log.message = 'done'
    log.end_task()
    found = objects.TaskLog.get(ctx, 'instance_usage_audit', begin, end,
                                host)
    facts['task log'] = [found.state, found.errors, found.task_items,
                         found.period_beginning.isoformat()]
    facts['task logs'] = len(objects.TaskLogList.get_all(
        ctx, 'instance_usage_audit', begin, end, host=host))

    def volume_usage(reads, read_bytes):
        # A new object each time, as nova-compute makes them: the
        # refreshed times are read-only once set.
        return objects.VolumeUsage(
            ctx, volume_id='vol-' + host, instance_uuid=mine,
            project_id='p1', user_id='u1', availability_zone='az1',
            curr_reads=reads, curr_read_bytes=read_bytes, curr_writes=20,
            curr_write_bytes=200)

    volume_usage(10, 100).save()
    usage = volume_usage(4, 40)
    usage.save(update_totals=True)
    facts['volume usage'] = [usage.tot_reads, usage.tot_read_bytes,
                             usage.curr_reads, usage.reads]

    token = objects.ConsoleAuthToken(
        ctx, console_type='novnc', host=host, port=5900,
        instance_uuid=mine, access_url_base='http://console/vnc')
    secret = token.authorize(600)
    valid = objects.ConsoleAuthToken.validate(ctx, secret)
    facts['token'] = [valid.instance_uuid == mine, valid.port,
                      valid.expires > 0]
    objects.ConsoleAuthToken.clean_expired_console_auths_for_host(ctx, host)
    # nova 34's periodic cleanup: this host's expired tokens (the shim
    # sends it as such); the valid token stays.
    objects.ConsoleAuthToken.clean_expired_console_auths(ctx)
    facts['token after expired clean'] = objects.ConsoleAuthToken.validate(
        ctx, secret).port
    objects.ConsoleAuthToken.clean_console_auths_for_instance(ctx, mine)
    try:
        objects.ConsoleAuthToken.validate(ctx, secret)
    except exception.InvalidToken:
        facts['token after clean'] = 'InvalidToken'

    share = objects.ShareMapping(
        ctx, uuid=str(uuid.uuid4()), instance_uuid=mine,
        share_id=str(uuid.uuid4()), status='attaching', tag='data',
        export_location='10.0.0.1:/data', share_proto='NFS')
    share.create()
    share.status = 'active'
    share.save()
    again = objects.ShareMapping.get_by_instance_uuid_and_share_id(
        ctx, mine, share.share_id)
    facts['share'] = [again.status, again.tag, again.id == share.id]
    facts['shares by share'] = len(objects.ShareMappingList.get_by_share_id(
        ctx, share.share_id))
    share.delete()
    facts['shares after delete'] = len(
        objects.ShareMappingList.get_by_instance_uuid(ctx, mine))

    groups = objects.SecurityGroupList.get_by_instance(
        ctx, objects.Instance(uuid=mine))
    facts['groups'] = [g.name for g in groups]
    return facts


def others_records(ctx, host, theirs, other_host):
    import datetime

    from nova import objects

    begin = datetime.datetime(2026, 11, 1)
    end = datetime.datetime(2026, 12, 1)
    attempts = {
        'task log of another host': lambda: objects.TaskLog(
            ctx, task_name='audit', host=other_host,
            period_beginning=begin, period_ending=end, task_items=0,
            message='started').begin_task(),
        'all hosts\' task logs': lambda: objects.TaskLogList.get_all(
            ctx, 'audit', begin, end),
        'volume usage': lambda: objects.VolumeUsage(
            ctx, volume_id='v', instance_uuid=theirs, project_id='p1',
            user_id='u1', availability_zone='az', curr_reads=1,
            curr_read_bytes=1, curr_writes=1, curr_write_bytes=1).save(),
        'token': lambda: objects.ConsoleAuthToken(
            ctx, console_type='novnc', host=host, port=1,
            instance_uuid=theirs).authorize(60),
        'clean tokens': lambda: (
            objects.ConsoleAuthToken.clean_console_auths_for_instance(
                ctx, theirs)),
        'share': lambda: objects.ShareMapping(
            ctx, uuid=str(uuid.uuid4()), instance_uuid=theirs,
            share_id=str(uuid.uuid4()), status='attaching', tag='t',
            export_location='x', share_proto='NFS').create(),
        'shares': lambda: objects.ShareMappingList.get_by_instance_uuid(
            ctx, theirs),
        'groups': lambda: objects.SecurityGroupList.get_by_instance(
            ctx, objects.Instance(uuid=theirs)),
        'all groups': lambda: objects.SecurityGroupList.get_all(ctx),
    }
    return nova_tests.refusals(attempts)


def test_nova_compute_keeps_its_own_records(nova):
    mine = _seed_instance(nova, conftest.HOST)
    facts = nova.run(own_records, host=conftest.HOST, mine=mine)
    assert facts == {
        'begin twice': 'TaskAlreadyRunning',
        'task log': ['DONE', 1, 3, '2026-11-01T00:00:00+00:00'],
        'task logs': 1,
        # Detach: the current counters (10, 100) were higher than the
        # given ones, so they went to the totals with the given ones.
        'volume usage': [14, 140, 0, 14],
        'token': [True, 5900, True],
        'token after expired clean': 5900,
        'token after clean': 'InvalidToken',
        'share': ['active', 'data', True],
        'shares by share': 1,
        'shares after delete': 0,
        'groups': ['default-' + conftest.HOST],
    }


def test_a_compute_is_refused_another_hosts_records(nova):
    theirs = _seed_instance(nova, conftest.OTHER_HOST)
    refused = nova.run(others_records, host=conftest.HOST, theirs=theirs,
                       other_host=conftest.OTHER_HOST)
    assert refused == {
        'task log of another host': 'HostScopeViolation',
        'all hosts\' task logs': 'HostScopeViolation',
        'volume usage': 'HostScopeViolation',
        'token': 'HostScopeViolation',
        'clean tokens': 'HostScopeViolation',
        'share': 'HostScopeViolation',
        'shares': 'HostScopeViolation',
        'groups': 'HostScopeViolation',
        'all groups': 'Forbidden',
    }
