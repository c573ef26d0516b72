"""The console scripts, in a subprocess: a common failure (database down,
no proxy answering, unknown revision, config file missing or malformed)
ends with status 1 and one line on stderr saying what to check, not a
traceback."""

import os
import signal
import subprocess
import sys
import time

import pytest

from nova_proxy.cmd import manage
from tests import databases

# Nothing listens on port 1: the connection is refused at once.
DOWN = 'postgresql+psycopg2://root@127.0.0.1:1/x'


def _run(tmp_path, module, argv, config=None):
    if config is not None:
        path = tmp_path / 'test.conf'
        path.write_text(config)
        argv = ['--config-file', str(path)] + argv
    return subprocess.run(
        [sys.executable, '-W', 'ignore', '-m', module] + argv,
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, OSLO_LOCK_PATH=str(tmp_path)))


def _manage(tmp_path, argv, config):
    return _run(tmp_path, 'nova_proxy.cmd.manage', argv, config)


def _one_line(result):
    lines = result.stderr.splitlines()
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(lines) == 1, result.stderr
    assert 'Traceback' not in result.stdout + result.stderr
    return lines[0]


@pytest.mark.parametrize('argv', [
    ['db', 'version'],
    ['db', 'sync'],
    ['operation', 'list'],
    ['operation', 'show', 'op-1'],
    ['periodic', 'list'],
    ['server', 'list'],
])
def test_database_down(tmp_path, argv):
    line = _one_line(_manage(tmp_path, argv,
                             '[database]\nconnection = %s\n' % DOWN))
    assert line.startswith('Error: Cannot reach the database: ')
    assert 'Connection refused' in line
    assert line.endswith('; check [database] connection')


@pytest.mark.parametrize('argv', [
    ['server', 'watch', 'op-1'],
    ['server', 'build', 'web-1', '--wait'],
])
def test_no_proxy_answers(tmp_path, argv):
    line = _one_line(_manage(
        tmp_path, argv, '[DEFAULT]\ntransport_url = fake:/\n'
                        'rpc_response_timeout = 1\n'))
    assert line == ('Error: No proxy answered within 1 s: check that '
                    'nova-compute-proxy runs and that transport_url, '
                    'control_exchange and [proxy] topic match its '
                    'configuration')


def test_db_sync_unknown_revision(tmp_path):
    from nova_proxy.db import migration
    line = _one_line(_manage(
        tmp_path, ['db', 'sync', '--version', 'bogus'],
        '[database]\nconnection = sqlite:///%s\n' % (tmp_path / 'x.db')))
    assert line == ("Error: Unknown revision 'bogus'; the newest is %s"
                    % migration.head_revision())


@pytest.mark.parametrize('module, argv', [
    ('nova_proxy.cmd.manage', ['db', 'version']),
    ('nova_proxy.cmd.compute', []),
    ('nova_proxy.cmd.proxy', []),
])
def test_config_file_not_found(tmp_path, module, argv):
    missing = str(tmp_path / 'nonexistent.conf')
    line = _one_line(_run(tmp_path, module,
                          ['--config-file', missing] + argv))
    assert line == 'Error: Config file not found: %s' % missing


def test_config_file_malformed(tmp_path):
    line = _one_line(_manage(tmp_path, ['db', 'version'], '[DEFAULT\n'))
    assert line.startswith('Error: Cannot parse config file at %s:1, '
                           % (tmp_path / 'test.conf'))


def test_unexpected_errors_keep_their_traceback():
    assert manage.explain(ValueError('a bug')) is None


@pytest.mark.parametrize('config, words', [
    ('[proxy]\nheartbeat_interval = 10\nliveness_deadline = 10\n',
     '[proxy] heartbeat_interval (10) must be below [proxy] '
     'liveness_deadline (10)'),
    ('[compute]\ncall_monitor_timeout = 90\n',
     '[compute] call_monitor_timeout (90) must be below [compute] '
     'rpc_timeout (60)'),
])
def test_options_in_the_wrong_order(tmp_path, config, words):
    line = _one_line(_run(tmp_path, 'nova_proxy.cmd.proxy', [], config))
    assert line.startswith('Error: ' + words + ': otherwise ')


@pytest.mark.parametrize('argv', [['operation', 'list'],
                                  ['periodic', 'list']])
def test_database_without_tables(tmp_path, argv):
    config = '[database]\nconnection = sqlite:///%s\n' % (
        tmp_path / 'empty.sqlite')
    line = _one_line(_manage(tmp_path, argv, config))
    assert line == ('Error: The database has no tables: run '
                    '"nova-compute-proxy-manage db sync"')


def test_database_driver_not_installed(tmp_path):
    # SQLAlchemy's default PostgreSQL driver is psycopg (3); the project
    # installs psycopg2, which the message names.
    import importlib.util
    if importlib.util.find_spec('psycopg') is not None:
        pytest.skip('psycopg is installed here')
    config = '[database]\nconnection = postgresql://root@127.0.0.1/x\n'
    line = _one_line(_manage(tmp_path, ['db', 'version'], config))
    assert line.startswith("Error: Cannot load the database driver (No "
                           "module named 'psycopg'): install it")


def test_db_version_of_an_empty_database_fails(tmp_path):
    # The proxy unit's ExecStartPre runs "db version": it must stop there.
    config = '[database]\nconnection = sqlite:///%s\n' % (
        tmp_path / 'empty.sqlite')
    line = _one_line(_manage(tmp_path, ['db', 'version'], config))
    assert line == ('Error: The database has no tables: run '
                    '"nova-compute-proxy-manage db sync"')


@pytest.mark.parametrize('argv', [['operation', 'list'],
                                  ['server', 'list']])
def test_database_without_tables_on_postgresql(tmp_path, argv):
    # oslo.db logs the failed statement with its traceback at ERROR, on
    # PostgreSQL and MariaDB: shown with --debug only.
    url = databases.create_database('postgresql', tmp_path)
    try:
        config = '[database]\nconnection = %s\n' % url
        line = _one_line(_manage(tmp_path, argv, config))
        assert line == ('Error: The database has no tables: run '
                        '"nova-compute-proxy-manage db sync"')
        debug = _manage(tmp_path, ['--debug'] + argv, config)
        assert debug.returncode == 1
        assert 'Traceback' in debug.stderr
        assert debug.stderr.splitlines()[-1] == line
    finally:
        databases.drop_database(url)


@pytest.mark.parametrize('argv', [['server', 'build', 'web-1'],
                                  ['server', 'watch', 'op-1']])
def test_broker_unreachable(tmp_path, argv):
    # The rabbit driver reconnects forever to a broker it cannot reach.
    started = time.monotonic()
    line = _one_line(_manage(
        tmp_path, argv, '[DEFAULT]\ntransport_url = '
                        'rabbit://guest:guest@127.0.0.1:1/\n'
                        'rpc_response_timeout = 2\n'))
    assert line == ('Error: Cannot reach the message broker within 2 s: '
                    'check transport_url and that the broker runs')
    assert time.monotonic() - started < 20


UNREACHABLE_BROKER = 'rabbit://guest:guest@127.0.0.1:1/'


def _synced_sqlite(tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'proxy.sqlite')
    config = '[database]\nconnection = %s\n' % url
    assert _manage(tmp_path, ['db', 'sync'], config).returncode == 0
    return config


def test_proxy_with_an_unreachable_broker_cannot_start(tmp_path):
    config = _synced_sqlite(tmp_path) + (
        '[DEFAULT]\ntransport_url = %s\n[proxy]\nstart_check_timeout = 3\n'
        % UNREACHABLE_BROKER)
    started = time.monotonic()
    result = _run(tmp_path, 'nova_proxy.cmd.proxy', [], config)
    assert time.monotonic() - started < 20
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'Traceback' not in output
    assert output.splitlines()[-1].endswith(
        'Cannot start: Message broker rabbit://127.0.0.1:1/: no connection '
        'within 3s: check transport_url (host, port, user, password, '
        'virtual host) and that the broker runs')


@pytest.mark.parametrize('module', ['nova_proxy.cmd.proxy',
                                    'nova_proxy.cmd.compute'])
def test_a_missing_key_file_stops_a_daemon_at_start(tmp_path, module):
    missing = tmp_path / 'keys' / 'nope.key'
    config = _synced_sqlite(tmp_path) + (
        '[DEFAULT]\ntransport_url = %s\n[proxy_client]\nkey_file = %s\n'
        % (UNREACHABLE_BROKER, missing))
    result = _run(tmp_path, module, [], config)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'Traceback' not in output
    last = output.splitlines()[-1]
    assert 'Cannot start: ' in last and str(missing) in last
    assert last.endswith('check [proxy_client] key_file')


def test_proxy_stops_at_once_on_sigterm_while_it_waits_for_the_broker(
        tmp_path):
    config = _synced_sqlite(tmp_path) + (
        '[DEFAULT]\ntransport_url = %s\n' % UNREACHABLE_BROKER)
    path = tmp_path / 'proxy.conf'
    path.write_text(config)
    proxy = subprocess.Popen(
        [sys.executable, '-W', 'ignore', '-m', 'nova_proxy.cmd.proxy',
         '--config-file', str(path)], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, OSLO_LOCK_PATH=str(tmp_path)))
    try:
        # Past the database check, in the broker's.
        line = proxy.stdout.readline()
        while 'Connection failed' not in line:
            assert line, 'the proxy ended before it tried the broker'
            line = proxy.stdout.readline()
        proxy.send_signal(signal.SIGTERM)
        started = time.monotonic()
        proxy.wait(timeout=10)
        assert time.monotonic() - started < 5
    finally:
        proxy.kill()
        proxy.wait()


@pytest.mark.parametrize('module, config, words', [
    ('nova_proxy.cmd.proxy', '[proxy]\nworkers = -3\n',
     '[proxy] workers in %s: Should be greater than or equal to 1'),
    ('nova_proxy.cmd.proxy', '[proxy]\nworkers = abc\n',
     "[proxy] workers in %s: invalid literal for int() with base 10: 'abc'"),
    # Before anything else: the compute would wait for a proxy first.
    ('nova_proxy.cmd.compute', '[compute]\nreport_interval = abc\n',
     "[compute] report_interval in %s: invalid literal for int() with "
     "base 10: 'abc'"),
    ('nova_proxy.cmd.manage', '[orchestration]\npoll_interval = 0\n',
     '[orchestration] poll_interval in %s: Should be greater than or '
     'equal to 0.05'),
])
def test_invalid_option_values(tmp_path, module, config, words):
    argv = ['db', 'version'] if module.endswith('manage') else []
    started = time.monotonic()
    line = _one_line(_run(tmp_path, module, argv, config))
    assert line == 'Error: Invalid value for ' + words % (
        tmp_path / 'test.conf')
    assert time.monotonic() - started < 20


def test_an_error_of_a_proxy_is_explained_without_its_traceback():
    from oslo_messaging._drivers import common as driver_common
    from nova_proxy.common import rpc
    from nova_proxy import exception
    try:
        raise exception.OperationInProgress(
            instance_uuid='u-1', operation_id='op-1', kind='migrate')
    except exception.OperationInProgress:
        wire = driver_common.serialize_remote_exception(sys.exc_info())
    error = driver_common.deserialize_remote_exception(
        wire, rpc.ALLOWED_EXMODS)
    assert 'Traceback' in str(error)
    problem = manage.explain(error)
    assert 'Traceback' not in problem
    assert problem == exception.OperationInProgress(
        instance_uuid='u-1', operation_id='op-1', kind='migrate').message


@pytest.mark.parametrize('argv', [['server', 'build', 'web-1'],
                                  ['server', 'resize', 'u-1']])
def test_unknown_flavor(tmp_path, argv):
    line = _one_line(_manage(tmp_path, argv + ['--flavor', 'm1.huge'],
                             '[DEFAULT]\ntransport_url = fake:/\n'))
    assert line == ('Error: Unknown flavor m1.huge; known: m1.large, '
                    'm1.medium, m1.small, m1.tiny')


def test_a_reader_gone_ends_quietly(tmp_path):
    """``nova-compute-proxy-manage status | head -1``: once the reader has
    gone, the command stops with status 1 and nothing on stderr, where it
    used to print a traceback."""
    path = tmp_path / 'test.conf'
    path.write_text('[database]\nconnection = sqlite:///%s\n'
                    % (tmp_path / 'x.db'))
    argv = [sys.executable, '-W', 'ignore', '-m', 'nova_proxy.cmd.manage',
            '--config-file', str(path)]
    env = dict(os.environ, OSLO_LOCK_PATH=str(tmp_path))
    subprocess.run(argv + ['db', 'sync'], check=True, capture_output=True,
                   timeout=120, env=env)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        result = subprocess.run(argv + ['status'], stdout=write_end,
                                stderr=subprocess.PIPE, text=True,
                                timeout=120, env=env)
    finally:
        os.close(write_end)
    assert result.returncode == 1
    assert result.stderr == ''
