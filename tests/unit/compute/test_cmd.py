"""The console script, in a subprocess: it exits (status 1) when no proxy
answers, or no broker, rather than leaving its launcher respawning the
worker."""

import os
import socket
import subprocess
import sys
import time

import pytest


def test_exits_when_no_proxy_answers(tmp_path):
    config = tmp_path / 'compute.conf'
    config.write_text('[DEFAULT]\nhost = lonely\ntransport_url = fake:/\n'
                      'state_path = %s\n[proxy_client]\n'
                      'startup_ping_timeout = 1\n'
                      '[compute]\nstartup_retry_interval = 0.1\n'
                      % (tmp_path / 'state'))
    result = subprocess.run(
        [sys.executable, '-W', 'ignore', '-m', 'nova_proxy.cmd.compute',
         '--config-file', str(config)],
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, OSLO_LOCK_PATH=str(tmp_path)))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'Direct database access is blocked' not in output  # not started
    assert 'no proxy answered ping on topic' in output
    assert 'within 1 seconds' in output
    assert not (tmp_path / 'state' / 'fake-virt').exists()


def test_exits_when_the_broker_is_unreachable(tmp_path):
    """No broker at all: oslo.messaging's rabbit driver reconnects forever
    (its call's ``retry`` does not cover the reply queue's connection), so
    the start-up ping must still give up after startup_ping_timeout."""
    with socket.socket() as closed:
        # Bound, never listening: connections to it are refused, and no
        # other process can take the port during the test.
        closed.bind(('127.0.0.1', 0))
        port = closed.getsockname()[1]
        config = tmp_path / 'compute.conf'
        config.write_text(
            '[DEFAULT]\nhost = lonely\n'
            'transport_url = rabbit://guest:guest@127.0.0.1:%d/\n'
            'state_path = %s\n[proxy_client]\nstartup_ping_timeout = 2\n'
            '[compute]\nstartup_retry_interval = 0.1\n'
            '[oslo_messaging_rabbit]\nrabbit_retry_interval = 1\n'
            % (port, tmp_path / 'state'))
        started = time.monotonic()
        try:
            result = subprocess.run(
                [sys.executable, '-W', 'ignore', '-m',
                 'nova_proxy.cmd.compute', '--config-file', str(config)],
                capture_output=True, text=True, timeout=60,
                env=dict(os.environ, OSLO_LOCK_PATH=str(tmp_path)))
        except subprocess.TimeoutExpired as e:
            pytest.fail('still running after %ss: the broker is down and '
                        'startup_ping_timeout is 2' % e.timeout)
        elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'Direct database access is blocked' not in output  # not started
    assert output.count('Cannot start: ') == 1, output
    assert 'check that nova-compute-proxy runs and that transport_url' \
        in output
    assert 'within 2 seconds' in output
    assert 'guest:guest' not in output  # no password in the log
    # A generous deadline, not a speed target: without the start-up
    # ping's own timeout it reconnects forever; with it, it ends after
    # its 2 s plus the start of a Python process, which took up to 11 s
    # on a loaded machine.
    assert elapsed < 45, elapsed
    assert not (tmp_path / 'state' / 'fake-virt').exists()


def test_the_compute_service_needs_no_nova():
    """nova is only a test extra: the service's modules, the 2.x shim
    among them, import without it (an installed wheel has no nova;
    tests/functional/test_wheel_install.py runs one there)."""
    code = ('import sys\n'
            'sys.modules["nova"] = None  # "import nova" now fails\n'
            'import nova_proxy.cmd.compute\n'
            'from nova_proxy.compute import service, manager, periodic\n'
            'from nova_proxy.compute.db import _client\n'
            'assert _client.nova_exception() is None\n'
            'print("ok")\n')
    result = subprocess.run([sys.executable, '-W', 'ignore', '-c', code],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == 'ok'
