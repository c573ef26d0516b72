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


def test_thread_cpu_finds_the_busy_thread():
    import threading
    pid = os.getpid()
    before = cpu.thread_cpu([pid])
    assert (pid, str(threading.get_native_id())) in before
    burnt, release = threading.Event(), threading.Event()

    def work():
        _burn(0.2)
        burnt.set()
        release.wait(30)  # a thread that ended is gone from /proc

    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert burnt.wait(30)
        after = cpu.thread_cpu([pid])
    finally:
        release.set()
        worker.join()
    split = cpu.thread_split(before, after, calls=10)
    # The burning thread ran about 0.2 s: the busiest, about 20 ms a call.
    assert split['busiest_us_per_call'] >= 0.15 / 10 * 1e6
    assert split['others_us_per_call'] < split['busiest_us_per_call']
    assert split['threads_that_ran'] >= 1
    assert cpu.thread_split(before, after, calls=0) is None


def test_thread_split_counts_threads_seen_only_at_the_end():
    before = {(1, '1'): 1.0}
    after = {(1, '1'): 1.5, (1, '2'): 0.25, (1, '3'): 0.25}
    split = cpu.thread_split(before, after, calls=100)
    assert split == {'calls': 100, 'busiest_us_per_call': 5000.0,
                     'others_us_per_call': 5000.0, 'threads_that_ran': 3}


def test_stolen_seconds_from_the_cpu_line():
    text = ('cpu  506330 0 116496 648732 8556 0 18084 5060 0 0\n'
            'cpu0 253165 0 58248 324366 4278 0 9042 2530 0 0\n')
    assert cpu.stolen_seconds(text) == 5060 / cpu._TICKS
    assert cpu.stolen_seconds('cpu0 1 2 3\n') is None
    assert cpu.stolen_seconds('cpu  1 2 3\n') is None
    # This machine's own, when it has one.
    own = cpu.stolen_seconds()
    assert own is None or own >= 0
