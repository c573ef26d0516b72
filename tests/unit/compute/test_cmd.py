"""The console script, in a subprocess: it exits (status 1) when no proxy
answers, rather than leaving its launcher respawning the worker."""

import os
import subprocess
import sys


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
