"""Closed-loop load: ``callers`` threads, each calling as fast as answers
come back, for a fixed time.

Each caller gets its own state from ``setup(index)`` (its instance, its
AMQP connection...) and calls ``call(state)`` in a loop. Latencies are
recorded per call; errors are counted and the first is kept, so a broken
workload shows as such instead of as a fast one.
"""

import math
import threading
import time

__all__ = ['percentile', 'RoundResult', 'run_round']


def percentile(values, fraction):
    """The ``fraction`` quantile (0..1) of ``values``, nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered))
    return ordered[max(0, min(len(ordered), rank) - 1)]


class RoundResult:

    def __init__(self, calls, elapsed, latencies, errors, first_error,
                 cpu=None):
        self.calls = calls
        self.elapsed = elapsed
        self.latencies = latencies
        self.errors = errors
        self.first_error = first_error
        self.cpu = cpu or {}

    @property
    def rate(self):
        return self.calls / self.elapsed if self.elapsed else 0.0

    def as_dict(self):
        return {
            'calls': self.calls,
            'elapsed': self.elapsed,
            'rate': self.rate,
            'p50_ms': _ms(percentile(self.latencies, 0.50)),
            'p99_ms': _ms(percentile(self.latencies, 0.99)),
            'errors': self.errors,
            'first_error': self.first_error,
            'cpu_us_per_call': {
                role: (seconds * 1e6 / self.calls if self.calls else None)
                for role, seconds in self.cpu.items()},
        }


def _ms(seconds):
    return None if seconds is None else seconds * 1000.0


def run_round(states, call, duration, meter=None, warmup=0.3):
    """Run ``call(state)`` in one thread per state for ``duration`` s.

    The first ``warmup`` seconds are not counted; ``meter`` (a
    ``cpu.CpuMeter``) covers exactly the counted time.
    """
    lock = threading.Lock()
    latencies = []
    counters = {'errors': 0, 'first': None}
    phase = {'measure': False, 'stop': False}
    go = threading.Event()

    def worker(state):
        mine = []
        errors = 0
        first = None
        go.wait()
        while not phase['stop']:
            measured = phase['measure']
            t0 = time.perf_counter()
            try:
                call(state)
            except Exception as e:
                errors += 1
                if first is None:
                    first = '%s: %s' % (type(e).__name__, e)
                continue
            if measured and not phase['stop']:
                mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)
            counters['errors'] += errors
            counters['first'] = counters['first'] or first

    threads = [threading.Thread(target=worker, args=(s,), daemon=True)
               for s in states]
    for t in threads:
        t.start()
    go.set()
    time.sleep(warmup)
    if meter is not None:
        meter.start()
    started = time.perf_counter()
    phase['measure'] = True
    time.sleep(duration)
    phase['stop'] = True
    elapsed = time.perf_counter() - started
    cpu = meter.stop() if meter is not None else None
    for t in threads:
        t.join(timeout=120)
    return RoundResult(len(latencies), elapsed, latencies,
                       counters['errors'], counters['first'], cpu)
