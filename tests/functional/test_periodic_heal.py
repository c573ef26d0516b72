"""Healing stuck instances and confirming old resizes, by real proxies.

Every transitional task_state of the table in ``docs/periodic.rst``
(``STUCK_STATES``) gets one instance with no progress for an hour; two
proxies heal them all, each exactly once, to the state the table says,
with a fault. An unconfirmed resize past ``resize_confirm_window`` becomes
one journaled ``confirm_resize`` operation of the orchestration API.
"""

import collections
import datetime
import json
import re
import subprocess
import sys

import pytest
import sqlalchemy as sa

from nova_proxy.common import states
from nova_proxy.db import api as db_api
from nova_proxy.db import models
from nova_proxy.db import session as db_session
from nova_proxy.orchestration import journal
from nova_proxy.periodic import claims
from nova_proxy.periodic.tasks import confirm_resizes
from nova_proxy.periodic.tasks import heal_stuck_instances as heal
from nova_proxy.proxy import liveness
from tests.functional import periodic_fixtures as pf
from tests.functional.procs import wait_for

HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def pg(config, tmp_path):
    url = pf.postgresql(tmp_path)
    yield url
    pf.drop(url)


def _age(model, where, **columns):
    with db_session.get_engine().begin() as conn:
        now = conn.execute(sa.select(db_session.db_utcnow())).scalar_one()
        conn.execute(sa.update(model).where(where).values(
            **{k: now - v for k, v in columns.items()}))


def _instance(context, task_state, vm_state='active', host='src'):
    return db_api.instance_create(context, {
        'host': host, 'node': host, 'vm_state': vm_state,
        'task_state': task_state, 'memory_mb': 64, 'vcpus': 1,
        'root_gb': 1})['uuid']


def _migration(context, uuid, status):
    return db_api.migration_create(context, {
        'instance_uuid': uuid, 'source_compute': 'src', 'source_node': 'src',
        'dest_compute': 'dst', 'dest_node': 'dst', 'status': status,
        'migration_type': 'resize'})


def _expected(state):
    """(vm_state, task_state, host, migration status) the table gives."""
    action = heal.STUCK_STATES[state]
    vm_state = 'resized' if state == 'resize_confirming' else 'active'
    migration = 'error' if state in states.RESIZE_TASK_STATES else None
    if state == 'resize_confirming':
        migration = 'finished'
    if action == heal.ERROR:
        vm_state = 'error'
    host = 'dst' if state in ('resize_finish', 'resize_reverting') else 'src'
    return vm_state, None, host, migration


def test_each_stuck_state_ends_as_the_table_says(cluster, pg,
                                                 admin_context):
    cluster.db_url = pg
    stuck, migrations = {}, {}
    for state in sorted(heal.STUCK_STATES):
        vm_state = 'resized' if state == 'resize_confirming' else 'active'
        host = 'dst' if state in ('resize_finish',
                                  'resize_reverting') else 'src'
        uuid = _instance(admin_context, state, vm_state, host)
        stuck[state] = uuid
        if state in states.RESIZE_TASK_STATES or \
                state == 'resize_confirming':
            migrations[state] = _migration(
                admin_context, uuid,
                'confirming' if state == 'resize_confirming'
                else 'migrating')['id']
    # Recently active: not stuck yet, so left alone.
    busy = _instance(admin_context, 'spawning')

    options = pf.periodic_options(['heal_stuck_instances'], 1,
                                  stuck_instance_timeout=600)
    for name in ('h1', 'h2'):
        cluster.start('proxy', name, extra=options)
    wait_for(lambda: len(liveness.live_members(admin_context)) == 2,
             timeout=60, message='two live proxies')
    # Only now do the instances become stuck: both proxies are in the ring
    # before the first sweep that sees them, so the work is shared (an
    # early sweep of the first proxy alone could otherwise take it all).
    _age(models.Instance, models.Instance.uuid.in_(list(stuck.values())),
         updated_at=HOUR)
    _age(models.Migration, sa.true(), updated_at=HOUR)

    def healed():
        left = db_api.instance_get_all_by_filters(
            admin_context, {'deleted': False,
                            'task_state': sorted(heal.STUCK_STATES)})
        return [i['uuid'] for i in left] == [busy]
    wait_for(healed, timeout=60, interval=0.5, message='every stuck '
             'instance healed')

    faults = db_api.instance_fault_get_by_instance_uuids(
        admin_context, list(stuck.values()) + [busy])
    for state, uuid in stuck.items():
        instance = db_api.instance_get_by_uuid(admin_context, uuid)
        vm_state, task_state, host, migration = _expected(state)
        assert (instance['vm_state'], instance['task_state'],
                instance['host']) == (vm_state, task_state, host), state
        if state in migrations:
            assert db_api.migration_get(
                admin_context, migrations[state])['status'] == migration
        fault, = faults[uuid]
        assert state in fault['message']
        assert heal.STUCK_STATES[state] in fault['message']
    assert faults[busy] == []
    assert db_api.instance_get_by_uuid(admin_context,
                                       busy)['task_state'] == 'spawning'

    # Each instance was healed by one proxy, once. (A sweep that overran
    # its period may meet, in the next period, an instance it is healing
    # at the same moment; the row lock makes the later one find it
    # "progressed" and leave it.)
    runs = claims.run_list(admin_context, task='heal_stuck_instances')
    healed = collections.Counter()
    for run in runs:
        for item, outcome in run['details']['outcomes'].items():
            if outcome in (heal.ERROR, heal.CLEAR, heal.ROLLBACK):
                healed[item] += 1
            else:
                assert outcome == heal.PROGRESSED, (item, outcome)
    assert healed == collections.Counter(stuck.values()), runs
    owners = {run['owner'] for run in claims.run_list(
        admin_context, task='heal_stuck_instances')}
    assert owners == {'h1', 'h2'}

    # What an operator sees.
    out = subprocess.run(
        [sys.executable, '-m', 'nova_proxy.cmd.manage', '--config-file',
         cluster.processes[0].conf_path, 'periodic', 'list', '--task',
         'heal_stuck_instances', '-f', 'json'], capture_output=True,
        text=True, timeout=60, check=True).stdout
    listed = json.loads(out)
    assert list(listed[0]) == ['task', 'period', 'proxy', 'started_at',
                               'items', 'result', 'handled']
    assert {r['task'] for r in listed} == {'heal_stuck_instances'}
    assert sum(r['items'] for r in listed) == sum(r['items'] for r in runs)
    tasks = subprocess.run(
        [sys.executable, '-m', 'nova_proxy.cmd.manage', '--config-file',
         cluster.processes[0].conf_path, 'periodic', 'tasks'],
        capture_output=True, text=True, timeout=60, check=True).stdout
    assert 'live proxies (2): h1, h2' in tasks
    assert re.search(r'\| heal_stuck_instances +\| per-item +\| +1 \| '
                     r'True +\|', tasks)
    bad = subprocess.run(
        [sys.executable, '-m', 'nova_proxy.cmd.manage', '--config-file',
         cluster.processes[0].conf_path, 'periodic', 'list', '--task',
         'nope'], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
    assert 'unknown periodic task' in bad.stderr


def test_an_unconfirmed_resize_is_confirmed_through_the_journal(
        cluster, pg, admin_context):
    cluster.db_url = pg
    uuid = _instance(admin_context, None, vm_state='resized', host='dst')
    migration = _migration(admin_context, uuid, 'finished')
    _age(models.Migration, sa.true(), updated_at=HOUR)
    options = pf.periodic_options(['confirm_resizes'], 1,
                                  resize_confirm_window=60)
    for name in ('c1', 'c2'):
        cluster.start('proxy', name, extra=options)
    op_id = confirm_resizes.operation_id_for(migration['uuid'])
    op = wait_for(lambda: journal.get(admin_context, op_id), timeout=60,
                  interval=0.5, message='the confirm operation')
    assert op['kind'] == 'confirm_resize'
    assert op['instance_uuid'] == uuid
    # Later periods do not start a second confirmation.
    wait_for(lambda: len({r['period'] for r in claims.run_list(
        admin_context, task='confirm_resizes')}) >= 1, timeout=30)
    first = pf.current_period(admin_context, 1)
    wait_for(lambda: pf.current_period(admin_context, 1) > first + 2,
             timeout=30, message='three more periods')
    ops = journal.get_all(admin_context, instance_uuid=uuid)
    assert [o['id'] for o in ops] == [op_id]
