"""``nova-compute-proxy-status upgrade check`` and
``nova-compute-proxy-manage status`` on a real PostgreSQL database with a
running proxy.

A second, "ghost" proxy member is made by hand in the liveness table
(kept fresh by this test's heartbeats), so that the test can give it
another release and an operation nobody drives: a live owner's
operations are left alone by the real proxy.
"""

import json
import subprocess
import sys

import sqlalchemy as sa

from nova_proxy.common import context as np_context
from nova_proxy.db import api as db_api
from nova_proxy.orchestration import journal
from nova_proxy.proxy import liveness
from nova_proxy import version
from tests import databases
from tests.functional.procs import wait_for

UUID = '11111111-2222-3333-4444-555555555555'


def run(module, conf_path, *argv):
    return subprocess.run(
        [sys.executable, '-m', module, '--config-file', conf_path] +
        list(argv), capture_output=True, text=True, timeout=120)


def upgrade_check(conf_path):
    return run('nova_proxy.cmd.status', conf_path, 'upgrade', 'check')


def manage(conf_path, *argv):
    return run('nova_proxy.cmd.manage', conf_path, *argv)


def results(output):
    """``{check name: (result, details)}`` of the check's JSON output."""
    return {c['check']: (c['result'], c['details'])
            for c in json.loads(output)['checks']}


def test_an_empty_database_fails_the_schema_check(cluster, tmp_path):
    cluster.db_url = databases.create_database('postgresql', tmp_path)
    try:
        conf_path = cluster.write_config('checker')
        result = upgrade_check(conf_path)
        assert result.returncode == 2, result.stdout + result.stderr
        assert 'Traceback' not in result.stdout + result.stderr
        assert 'Upgrade Check Results' in result.stdout
        checks = results(run('nova_proxy.cmd.status', conf_path, 'upgrade',
                             'check', '--json').stdout)
        assert checks['Database schema'] == (
            2, 'The database has no tables: run "nova-compute-proxy-manage '
               'db sync".')
        # The checks that read tables say why they did not run.
        for name in ('Proxy releases', 'Signing keys', 'Stuck operations',
                     'Compute topics'):
            assert checks[name] == (
                2, 'Not checked: the database has no tables.'), name
    finally:
        databases.drop_database(cluster.db_url)


def test_checks_and_status_screen_follow_the_fleet(pg_cluster, tmp_path):
    ctx = np_context.get_admin_context()
    # A long liveness deadline: the ghost's operations must stay its own,
    # not be taken over by p1 while the commands below take seconds.
    proxy = pg_cluster.start('proxy', 'p1', extra={
        'proxy': {'liveness_deadline': '120'}})
    wait_for(lambda: 'p1' in liveness.live_members(ctx, deadline=5),
             timeout=60, message='proxy p1 live')
    conf_path = proxy.conf_path

    result = run('nova_proxy.cmd.status', conf_path, 'upgrade', 'check',
                 '--json')
    assert result.returncode == 0, result.stdout + result.stderr
    checks = results(result.stdout)
    assert set(checks) == {'Database schema', 'Proxy releases',
                           'Signing keys', 'Stuck operations',
                           'Compute topics', 'RPC server'}
    assert all(code == 0 for code, _ in checks.values()), checks
    assert checks['Proxy releases'][1] == '1 live proxies, all on %s.' % (
        version.release())

    # A second member on an older release, owning an operation whose
    # journal row nobody has written for an hour.
    engine = sa.create_engine(pg_cluster.db_url)

    def ghost_heartbeat():
        liveness.heartbeat_once(ctx, 'ghost', 'old-host')
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE proxies SET release = '0.9.0' "
                                 "WHERE member = 'ghost'"))

    ghost_heartbeat()
    journal.create(ctx, 'op-stuck', 'migrate', UUID, 'ghost')
    journal.create(ctx, 'op-fresh', 'migrate', UUID.replace('1', '9'),
                   'ghost')
    with engine.begin() as conn:
        conn.execute(sa.text(
            "UPDATE operations SET updated_at = updated_at - interval "
            "'1 hour' WHERE id = 'op-stuck'"))

    ghost_heartbeat()
    result = upgrade_check(conf_path)
    assert result.returncode == 2, result.stdout + result.stderr
    ghost_heartbeat()
    checks = results(run('nova_proxy.cmd.status', conf_path, 'upgrade',
                         'check', '--json').stdout)
    on = sorted([(version.release(), 'p1'), ('0.9.0', 'ghost')])
    assert checks['Proxy releases'] == (
        1, 'Live proxies run different releases: %s on %s; %s on %s. '
           'Finish the rolling upgrade (restart the others on the new '
           'release) before removing [upgrade_levels] caps.'
           % (on[0][1], on[0][0], on[1][1], on[1][0]))
    code, details = checks['Stuck operations']
    assert code == 2, details
    assert details.startswith('1 operations without a journal write for '
                              'over ')
    assert 'op-stuck (migrate of %s, step None, owner ghost)' % UUID in \
        details
    assert 'op-fresh' not in details

    # The same, in one screen.
    ghost_heartbeat()
    screen = manage(conf_path, 'status')
    assert screen.returncode == 0, screen.stderr
    assert 'Proxies: 2 live, 0 stopped, 0 dead (a proxy is dead 120s' in \
        screen.stdout
    assert 'releases differ' in screen.stdout
    assert 'Operations: 2 active (2 pending, 0 running), 1 stuck' in \
        screen.stdout
    assert 'purge_deleted' in screen.stdout
    ghost_heartbeat()
    data = json.loads(manage(conf_path, 'status', '-f', 'json').stdout)
    members = {p['member']: p for p in data['proxies']}
    assert members['p1']['state'] == 'live'
    assert members['p1']['release'] == version.release()
    assert members['ghost']['release'] == '0.9.0'
    assert 0 <= members['p1']['heartbeat_age'] < 10
    stuck = {op['id']: op['stuck'] for op in data['operations']}
    assert stuck == {'op-stuck': True, 'op-fresh': False}
    assert {t['task'] for t in data['periodic']} == {
        'mark_services_down', 'heal_stuck_instances', 'confirm_resizes',
        'purge_deleted'}

    # The ghost stops: it shows as stopped, and the releases of the live
    # proxies agree again.
    liveness.heartbeat_once(ctx, 'ghost', 'old-host', stopped=True)
    data = json.loads(manage(conf_path, 'status', '-f', 'json').stdout)
    assert {p['member']: p['state'] for p in data['proxies']} == {
        'p1': 'live', 'ghost': 'stopped'}
    checks = results(run('nova_proxy.cmd.status', conf_path, 'upgrade',
                         'check', '--json').stdout)
    assert checks['Proxy releases'][0] == 0
    engine.dispose()


def test_missing_keys_fail_when_signing_is_required(pg_cluster, tmp_path):
    ctx = np_context.get_admin_context()
    db_api.service_create(ctx, {'host': 'cmp-1', 'binary': 'nova-compute',
                                'topic': 'compute'})
    keys = tmp_path / 'keys'
    keys.mkdir()
    conf_path = pg_cluster.write_config('checker', {'proxy': {
        'require_signed_context': 'true', 'host_keys_dir': str(keys)}})
    result = run('nova_proxy.cmd.status', conf_path, 'upgrade', 'check',
                 '--json')
    checks = results(result.stdout)
    code, details = checks['Signing keys']
    assert code == 2
    assert 'the proxy key' in details and 'cmp-1' in details

    for argv in (['--proxy'], ['--host', 'cmp-1']):
        created = manage(conf_path, 'key', 'create', *argv)
        assert created.returncode == 0, created.stderr
    checks = results(run('nova_proxy.cmd.status', conf_path, 'upgrade',
                         'check', '--json').stdout)
    assert checks['Signing keys'] == (
        0, 'The proxy key and the keys of 1 compute hosts are present.')


def test_an_unreachable_database_fails_every_check_in_one_line(cluster):
    cluster.db_url = 'postgresql+psycopg2://postgres@127.0.0.1:1/nowhere'
    conf_path = cluster.write_config('checker')
    result = run('nova_proxy.cmd.status', conf_path, 'upgrade', '--json',
                 'check')
    assert result.returncode == 2, result.stderr
    assert 'Traceback' not in result.stderr
    checks = results(result.stdout)
    # Read from the configuration alone.
    assert checks.pop('RPC server')[0] == 0
    for code, details in checks.values():
        assert code == 2
        assert details.startswith('Cannot reach the database: ')
        assert details.endswith('; check [database] connection')


def test_an_option_the_rpc_server_does_not_support_fails_its_check(
        cluster):
    """Before an upgrade that makes ``direct`` the default: an option it
    does not support is named (the proxies would refuse to start), and
    choosing oslo.messaging's server passes. The database is not needed
    for this check."""
    cluster.db_url = 'postgresql+psycopg2://postgres@127.0.0.1:1/nowhere'
    rabbit = {'oslo_messaging_rabbit': {'kombu_compression': 'gzip'}}
    checks = results(run('nova_proxy.cmd.status', cluster.write_config(
        'checker', dict(rabbit, proxy={'rpc_server': 'direct'})),
        'upgrade', 'check', '--json').stdout)
    code, details = checks['RPC server']
    assert code == 2
    assert details == (
        'The proxies would not start: [proxy] rpc_server = direct does not '
        'support [oslo_messaging_rabbit] kombu_compression yet: use '
        'rpc_server = oslo.messaging.')
    checks = results(run('nova_proxy.cmd.status', cluster.write_config(
        'checker', dict(rabbit, proxy={'rpc_server': 'oslo.messaging'})),
        'upgrade', 'check', '--json').stdout)
    assert checks['RPC server'] == (
        0, "oslo.messaging's RPC server ([proxy] rpc_server = "
           "oslo.messaging).")


def test_the_rpc_server_check_reads_any_transport_url_in_one_line(
        cluster):
    """A transport other than RabbitMQ (whose client library this host
    may lack), a port that is no number, and no prefetch limit: each
    gives the "RPC server" check a result of its own, and every other
    check still runs."""
    cluster.db_url = 'postgresql+psycopg2://postgres@127.0.0.1:1/nowhere'
    direct = {'proxy': {'rpc_server': 'direct'}}
    cases = [
        ('kafka://k1:9092/', {}, 2,
         'The proxies would not start: [proxy] rpc_server = direct serves '
         'RabbitMQ only and transport_url is kafka://: use rpc_server = '
         'oslo.messaging.'),
        ('rabbit://guest:guest@127.0.0.1:notaport/', {}, 2,
         'The proxies would not start: transport_url is not usable ('),
        (None, {'oslo_messaging_rabbit': {'rabbit_qos_prefetch_count': '0'}},
         1, '[oslo_messaging_rabbit] rabbit_qos_prefetch_count is 0'),
    ]
    for url, extra, code, details in cases:
        sections = dict(direct, **extra)
        if url is not None:
            sections['DEFAULT'] = {'transport_url': url}
        result = run('nova_proxy.cmd.status', cluster.write_config(
            'checker', sections), 'upgrade', 'check', '--json')
        assert 'Traceback' not in result.stderr, result.stderr
        checks = results(result.stdout)
        assert len(checks) == 6, checks
        assert checks['RPC server'][0] == code, (url, checks)
        assert checks['RPC server'][1].startswith(details), (url, checks)
