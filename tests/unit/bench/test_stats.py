from nova_proxy.bench import stats


def _round(rate, p50, p99, cpu, errors=0):
    return {'rate': rate, 'p50_ms': p50, 'p99_ms': p99,
            'cpu_us_per_call': cpu, 'errors': errors,
            'first_error': 'E' if errors else None}


def test_summarize_takes_medians_and_counts_calls_of_an_operation():
    rounds = [_round(10, 5, 9, {'server': 800}),
              _round(30, 1, 3, {'server': 400}),
              _round(20, 2, 4, {'server': 1600}, errors=2)]
    s = stats.summarize(rounds, calls_per_op=8)
    assert s['ops_per_s'] == 20
    assert s['calls_per_s'] == 160
    assert s['p50_ms'] == 2
    assert s['p99_ms'] == 4
    assert s['cpu_us_per_call'] == {'server': 100}
    assert s['errors'] == 2
    assert s['first_error'] == 'E'


def _row(rate, p50, server=None, client=None, p99=None):
    cpu = {}
    if server is not None:
        cpu['server'] = server
    if client is not None:
        cpu['client'] = client
    return {'calls_per_s': rate, 'p50_ms': p50, 'p99_ms': p99,
            'cpu_us_per_call': cpu}


def _results(proxy_rate, proxy_cpu, scoped_cpu):
    return {
        'direct-scoped': {'1': _row(500, 1.0, client=scoped_cpu),
                          '16': _row(2000, 4.0, client=scoped_cpu)},
        'raw-sql': {'1': _row(900, 0.5, client=200),
                    '16': _row(3000, 2.0, client=200)},
        'amqp': {'1': _row(1500, 0.5, server=100),
                 '16': _row(4000, 2.0, server=100)},
        'oslo': {'1': _row(600, 1.5, server=800),
                 '16': _row(1000, 8.0, server=800)},
        'proxy-1': {'1': _row(300, 2.5, server=proxy_cpu, p99=4.0),
                    '16': _row(proxy_rate, 12.0, server=proxy_cpu,
                               p99=30.0)},
    }


def _capacity(cores):
    return {'fleet': 10000, 'roles': {'proxy': {
        'cores_for_fleet': cores, 'cpu_us_per_call': 1500.0}}}


def test_targets_met_and_missed():
    # The CPU bound is 1.15 x (800 + 200) = 1150.
    met = {t['name']: t for t in stats.targets(
        _results(950, 1100, 390), capacity=_capacity(3.5))}
    cpu = met['proxy CPU per call, 1 caller(s)']
    assert cpu['floors'] == {'oslo server': 800, 'raw-sql client': 200}
    assert cpu['bound'] == 1000
    assert cpu['ratio'] == 1.1
    assert cpu['met'] is True
    # 1.1 is over the stretch (1.0).
    assert cpu['stretch_met'] is False
    assert cpu['beside'] == {'p99_ms': 4.0, 'calls_per_s': 300}
    assert met['database layer CPU per call, 16 caller(s)']['ratio'] == 1.95
    assert met['database layer CPU per call, 16 caller(s)']['met'] is True
    assert met['proxy cores per 10000 nodes, fleet mix']['met'] is True

    missed = {t['name']: t for t in stats.targets(
        _results(800, 1200, 410), capacity=_capacity(4.5))}
    assert missed['proxy CPU per call, 16 caller(s)']['met'] is False
    assert missed['database layer CPU per call, 1 caller(s)']['met'] is False
    cores = missed['proxy cores per 10000 nodes, fleet mix']
    assert (cores['value'], cores['met']) == (4.5, False)
    stretch = missed['the gap to the raw AMQP floor']['ratios']
    assert stretch['p50 proxy / amqp, 1'] == 5.0
    assert stretch['server CPU oslo / amqp, 16'] == 8.0


def test_throughput_against_the_echo_is_printed_but_never_judged():
    for proxy_rate in (950, 800):
        target = {t['name']: t for t in stats.targets(
            _results(proxy_rate, 1000, 300))}[
                'throughput, 16 callers, 1 proxy process (retired)']
        assert target['ratio'] == proxy_rate / 1000
        assert (target['met'], target['judged']) == (None, False)


def test_a_loaded_run_judges_no_target():
    for target in stats.targets(_results(950, 1000, 300),
                                capacity=_capacity(1.0), calm_run=False):
        assert target['met'] is None
        assert target['judged'] is False
        # The figures are still there to read.
        assert target.get('ratio', 1) is not None


def test_calm_is_the_load_before_the_run_per_core():
    assert stats.calm((1.5, 1.9, 5.0), 2) is True
    assert stats.calm((2.0, 1.0, 0.5), 2) is False
    assert stats.calm((0.5, 2.1, 0.5), 2) is False
    assert stats.calm((), 2) is None


class _Clock:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self):
        self.now = 0.0
        self.slept = []

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_wait_for_calm_returns_once_the_load_falls():
    clock, said = _Clock(), []
    loads = iter([(3.0, 2.5, 1.0), (1.2, 2.1, 1.0), (1.2, 1.9, 1.0)])
    assert stats.wait_for_calm(
        600, said.append, load=lambda: next(loads), cpus=2,
        sleep=clock.sleep, clock=lambda: clock.now, every=10) is True
    assert clock.slept == [10, 10]
    assert said[0] == ('waiting for a calm machine: load 3.00, 2.50 (calm '
                       'is under 2.0 on 2 cores), 600 s left')
    assert len(said) == 2


def test_wait_for_calm_gives_up_and_says_so():
    clock, said = _Clock(), []
    assert stats.wait_for_calm(
        25, said.append, load=lambda: (4.0, 3.0, 2.0), cpus=2,
        sleep=clock.sleep, clock=lambda: clock.now, every=10) is False
    # 10 + 10 + the 5 s left, never past the deadline.
    assert clock.slept == [10, 10, 5]
    assert said[-1] == ('the machine is not calm after 25 s (load 4.00, '
                        '3.00; calm is under 2.0 on 2 cores): running all '
                        'the same')


def test_wait_for_calm_does_not_wait_on_a_calm_machine():
    clock, said = _Clock(), []
    assert stats.wait_for_calm(
        600, said.append, load=lambda: (0.1, 0.2, 0.3), cpus=2,
        sleep=clock.sleep, clock=lambda: clock.now) is True
    assert (clock.slept, said) == ([], [])


def test_targets_without_figures_are_not_judged():
    for target in stats.targets({}):
        assert target['met'] is None
