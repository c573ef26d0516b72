import threading
import time

from nova_proxy.bench import load


def test_percentile_nearest_rank():
    values = list(range(1, 101))
    assert load.percentile(values, 0.5) == 50
    assert load.percentile(values, 0.99) == 99
    assert load.percentile(values, 1.0) == 100
    assert load.percentile([7], 0.99) == 7
    assert load.percentile([], 0.5) is None


class _Meter:

    def __init__(self):
        self.calls = []

    def start(self):
        self.calls.append('start')

    def stop(self):
        self.calls.append('stop')
        return {'client': 0.5}


def test_run_round_counts_calls_of_every_caller():
    seen = set()
    lock = threading.Lock()

    def call(state):
        with lock:
            seen.add(state)
        time.sleep(0.001)

    meter = _Meter()
    result = load.run_round(['a', 'b', 'c'], call, 0.2, meter=meter,
                            warmup=0.05)
    assert seen == {'a', 'b', 'c'}
    assert result.calls == len(result.latencies) > 0
    assert result.errors == 0
    assert meter.calls == ['start', 'stop']
    summary = result.as_dict()
    assert summary['rate'] > 0
    assert summary['p50_ms'] >= 1.0
    assert summary['cpu_us_per_call']['client'] == 0.5e6 / result.calls


def test_run_round_counts_errors_and_keeps_the_first():
    def call(state):
        time.sleep(0.001)
        raise ValueError('broken %s' % state)

    result = load.run_round(['x'], call, 0.1, warmup=0.01)
    assert result.calls == 0
    assert result.errors > 0
    assert result.first_error == 'ValueError: broken x'
    assert result.as_dict()['p50_ms'] is None
