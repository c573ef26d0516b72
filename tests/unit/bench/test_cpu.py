import os
import subprocess
import sys
import time

from nova_proxy.bench import cpu


def _burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_parse_stat_with_spaces_and_parentheses_in_the_name():
    ticks = os.sysconf('SC_CLK_TCK')
    fields = ['S', '77'] + ['0'] * 9 + [str(3 * ticks), str(ticks)] + \
        ['0'] * 10
    data = '1234 (proxy.py: worker (0)) %s\n' % ' '.join(fields)
    assert cpu.parse_stat(data) == (77, 4.0)


def test_process_cpu_grows_with_work_and_is_zero_for_a_dead_pid():
    before = cpu.process_cpu(os.getpid())
    _burn(0.05)
    assert cpu.process_cpu(os.getpid()) > before
    child = subprocess.Popen([sys.executable, '-c', 'pass'])
    child.wait()
    assert cpu.process_cpu(child.pid) == 0.0


def test_descendants_include_forked_children():
    child = subprocess.Popen([sys.executable, '-c',
                              'import time; time.sleep(30)'])
    try:
        assert child.pid in cpu.descendants([os.getpid()])
        assert cpu.descendants([child.pid]) == [child.pid]
    finally:
        child.kill()
        child.wait()


def test_find_pids_by_command_name():
    with open('/proc/self/comm') as f:
        name = f.read().strip()
    assert os.getpid() in cpu.find_pids(name)
    assert cpu.find_pids('no-such-command-xyz') == []


def test_meter_counts_each_role_and_survives_a_failing_finder():
    def broken():
        raise RuntimeError('gone')

    meter = cpu.CpuMeter([cpu.CpuProbe('me', lambda: [os.getpid()]),
                          cpu.CpuProbe('nobody', lambda: []),
                          cpu.CpuProbe('broken', broken)])
    meter.start()
    _burn(0.05)
    used = meter.stop()
    assert used['me'] > 0
    assert used['nobody'] == 0
    assert used['broken'] == 0
