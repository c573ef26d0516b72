"""``tools/percall.py``: the in-process measure of the proxy's own work per
call (docs/benchmark.rst, "Judging a small change"). Its calls are served
for real: one the proxy refused (a bad signature, a scope miss) would stop
it, and so would a reply it could not build."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


@pytest.mark.parametrize('call', ['heartbeat', 'instance'])
def test_it_serves_signed_calls_and_reports_each_part(call):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'percall.py'),
         '--calls', '20', '--call', call],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert re.search(r'^%s, 20 calls: \d+ us of CPU per call$' % call,
                     result.stdout, re.MULTILINE), output[-3000:]
    parts = re.findall(r'^  (.+?) +(\d+) us$', result.stdout, re.MULTILINE)
    assert [name for name, _ in parts] == [
        'receive (decode, screen)',
        'dispatch (signature, endpoint, database)', 'reply body']
    assert all(int(us) > 0 for _, us in parts)


def test_a_call_it_does_not_know_is_one_line():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'percall.py'),
         '--call', 'nothing'], capture_output=True, text=True, timeout=60,
        cwd=ROOT)
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    assert "invalid choice: 'nothing'" in result.stderr
