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


def test_calls_apart_wait_once_per_call_measured_and_only_then():
    # The waits counted where percall makes them; the CPU time must not
    # hold them (ten waits of 50 ms: 50,000 us per call if it did).
    script = """
import sys, time
sys.path.insert(0, 'tools')
import percall

waits = []
sleep = time.sleep


def counted(seconds):
    if seconds == 0.05:
        waits.append(seconds)
    sleep(seconds)


percall.time.sleep = counted
percall.main(['--calls', '10', '--gap', '50'])
print('WAITS', len(waits))
"""
    result = subprocess.run([sys.executable, '-c', script],
                            capture_output=True, text=True, timeout=300,
                            cwd=ROOT)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    line = re.search(r'^heartbeat, 10 calls 50 ms apart: (\d+) us of CPU '
                     r'per call$', result.stdout, re.MULTILINE)
    assert line, output[-3000:]
    assert int(line.group(1)) < 50000
    # One per call measured, none in the warm-up's 50 calls.
    assert re.search(r'^WAITS 10$', result.stdout, re.MULTILINE), \
        output[-3000:]


@pytest.mark.parametrize('argv, says', [
    (['--gap', '-1'], '--gap must be from 0 to 1000 milliseconds'),
    (['--gap', '1', '--callgrind'], '--gap does not change the '
                                    'instructions'),
    (['--gap', '1000', '--calls', '201'], 'must stay under 200 seconds'),
])
def test_a_gap_it_cannot_keep_is_one_line(argv, says):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'percall.py')] + argv,
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    assert says in result.stderr


def test_a_refused_call_ends_it_in_one_line():
    # Signed calls that have expired by the time they are served (a run
    # slowed down, by a profiler say): the first refusal ends the run.
    script = '''
import sys, time
sys.path.insert(0, 'tools')
import percall

signed = percall._bodies


def late(*args, **kwargs):
    bodies = signed(*args, **kwargs)
    percall.conf.CONF.set_override('signature_max_age', 1, group='proxy')
    time.sleep(2.5)
    return bodies


percall._bodies = late
percall.main(['--calls', '5'])
'''
    result = subprocess.run([sys.executable, '-c', script],
                            capture_output=True, text=True, timeout=300,
                            cwd=ROOT)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        'percall: the proxy answered a call with an error: '
        'NotAuthenticated: ')
