"""``manage broker permissions``: which names each user's regular
expressions match (Python's ``re`` reads these expressions as RabbitMQ's
PCRE does), the printed commands, ``--apply`` and its one-line errors.

tests/functional/test_broker_isolation.py applies the same commands to a
real RabbitMQ node and shows the broker refusing what they do not allow.
"""

import re
import subprocess
import sys

import pytest

from nova_proxy.common import broker_cli
from nova_proxy import exception

# Names oslo.messaging declares, as the proxies' and computes' processes
# of docs/security.rst make them.
PROXY_QUEUES = ['compute_proxy', 'compute_proxy.proxy-a',
                'compute_proxy_fanout_0c1f', 'reply_' + 'a1' * 16]
COMPUTE_A = ['compute', 'compute.cmp-1', 'compute_fanout_cmp-1:compute:1',
             'reply_cmp-1:nova-compute:3']
COMPUTE_B = ['compute.cmp-2', 'compute_fanout_cmp-2:compute:1',
             'reply_cmp-2:nova-compute:1', 'compute.cmp-10',
             'compute.cmp-1x', 'reply_cmp-10:nova-compute:1']


def _matches(regex, names):
    return [name for name in names if re.search(regex, name)]


def test_a_compute_reads_and_configures_only_its_own_queues(config):
    perms = broker_cli.compute_permissions('cmp-1')
    for regex in (perms.configure, perms.read):
        assert _matches(regex, COMPUTE_A) == COMPUTE_A
        assert _matches(regex, PROXY_QUEUES + COMPUTE_B) == []
    # Bindings need write on the queue; replies go through amq.default.
    assert _matches(perms.write, COMPUTE_A + ['amq.default', 'nova']) == [
        'compute', 'compute.cmp-1', 'compute_fanout_cmp-1:compute:1',
        'amq.default', 'nova']
    assert _matches(perms.write, PROXY_QUEUES + COMPUTE_B) == []


def test_a_compute_calls_only_the_proxies_and_binds_only_its_topic(config):
    perms = broker_cli.compute_permissions('cmp-1')
    keys = ['compute_proxy', 'compute_proxy.proxy-a', 'compute',
            'compute.cmp-1', 'compute.cmp-2', '#', 'compute.*']
    assert _matches(perms.topic_write, keys) == ['compute_proxy']
    assert _matches(perms.topic_read, keys) == ['compute', 'compute.cmp-1']


def test_the_proxies_never_route_to_the_bare_compute_topic(config):
    perms = broker_cli.proxy_permissions()
    keys = ['compute_proxy', 'compute_proxy.proxy-b', 'compute.cmp-7',
            'compute', 'compute_fanout']
    assert _matches(perms.topic_write, keys) == keys[:3]
    assert _matches(perms.read, PROXY_QUEUES) == PROXY_QUEUES
    assert _matches(perms.read, COMPUTE_A + COMPUTE_B) == []


def test_the_control_plane_only_calls_the_proxies(config):
    perms = broker_cli.control_permissions()
    assert _matches(perms.write, ['nova', 'amq.default', 'compute']) == [
        'nova']
    assert _matches(perms.read, PROXY_QUEUES + COMPUTE_A) == [
        PROXY_QUEUES[-1]]
    assert _matches(perms.topic_write, ['compute_proxy', 'compute.cmp-1',
                                        'compute']) == ['compute_proxy']


def test_names_follow_the_configuration(config):
    config.set_override('control_exchange', 'nova.cell1')
    config.set_override('topic', 'cp', group='proxy')
    config.set_override('topic', 'cmp', group='compute')
    argvs = broker_cli.commands(host='h.1', vhost='/cell1')
    assert argvs[0][:5] == ['rabbitmqctl', 'set_permissions', '-p',
                            '/cell1', 'h.1']
    assert argvs[1][:6] == ['rabbitmqctl', 'set_topic_permissions', '-p',
                            '/cell1', 'h.1', 'nova.cell1']
    assert argvs[1][6:] == ['^(cp)$', r'^(cmp|cmp\.h\.1)$']
    # "." in a host or exchange name is a literal dot.
    assert not re.search(argvs[0][5], 'novaXcell1')
    assert not re.search(argvs[0][7], r'cmp.hX1')


def test_a_bad_host_name_is_refused(config):
    with pytest.raises(exception.BrokerCommandFailed) as raised:
        broker_cli.compute_permissions('../etc')
    assert 'not a host name' in str(raised.value)


def test_apply_runs_the_commands_and_reports_the_first_failure(
        config, monkeypatch):
    monkeypatch.setattr(broker_cli.shutil, 'which', lambda name: name)
    ran = []

    def runner(argv, **kwargs):
        ran.append(argv)
        failed = argv[1] == 'set_topic_permissions'
        return subprocess.CompletedProcess(
            argv, 2 if failed else 0, '',
            'Error:\nvhost /x does not exist\n' if failed else '')

    argvs = broker_cli.commands(proxy=True, vhost='/x')
    with pytest.raises(exception.BrokerCommandFailed) as raised:
        broker_cli.apply(argvs, 'user nova-compute-proxy', runner=runner)
    assert ran == argvs
    assert str(raised.value) == (
        'Broker permissions for user nova-compute-proxy: rabbitmqctl '
        'set_topic_permissions failed: vhost /x does not exist')


def _manage(tmp_path, *argv):
    path = tmp_path / 'manage.conf'
    path.write_text('[DEFAULT]\ntransport_url = fake:/\n')
    return subprocess.run(
        [sys.executable, '-W', 'ignore', '-m', 'nova_proxy.cmd.manage',
         '--config-file', str(path)] + list(argv),
        capture_output=True, text=True, timeout=60)


def test_the_command_prints_a_script_for_one_host(tmp_path):
    result = _manage(tmp_path, 'broker', 'permissions', '--host', 'cmp-1')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith('rabbitmqctl set_permissions -p / cmp-1 ')
    assert lines[2] == ("rabbitmqctl set_topic_permissions -p / cmp-1 nova "
                        "'^(compute_proxy)$' '^(compute|compute\\.cmp\\-1)$'")
    assert 'use_queue_manager = true, hostname = cmp-1' in lines[3]


def test_the_command_fails_in_one_line(tmp_path):
    result = _manage(tmp_path, 'broker', 'permissions', '--host', 'a/b')
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        'Error: Broker permissions for host \'a/b\': not a host name '
        '(letters, digits, ".", "_", "-")']


def test_a_new_host_key_names_its_broker_user_beside_it(tmp_path):
    result = _manage(tmp_path, 'key', 'create', '--host', 'cmp-1', '--dir',
                     str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        'Its broker user: nova-compute-proxy-manage broker permissions '
        '--host cmp-1')
