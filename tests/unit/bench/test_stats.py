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


def _row(rate, p50, server=None, client=None):
    cpu = {}
    if server is not None:
        cpu['server'] = server
    if client is not None:
        cpu['client'] = client
    return {'calls_per_s': rate, 'p50_ms': p50, 'cpu_us_per_call': cpu}


def _results(proxy_rate, proxy_p50, proxy_cpu):
    return {
        'direct': {'1': _row(500, 1.0, client=300),
                   '16': _row(2000, 4.0, client=300)},
        'amqp': {'1': _row(1500, 0.5, server=100),
                 '16': _row(4000, 2.0, server=100)},
        'oslo': {'1': _row(600, 1.5, server=800),
                 '16': _row(1000, 8.0, server=800)},
        'proxy-1': {'1': _row(300, proxy_p50, server=proxy_cpu),
                    '16': _row(proxy_rate, 12.0, server=proxy_cpu)},
    }


def test_targets_met_and_missed():
    met = {t['name']: t for t in stats.targets(_results(950, 2.5, 1000))}
    assert met['throughput, 16 callers, 1 proxy process']['ratio'] == 0.95
    assert met['throughput, 16 callers, 1 proxy process']['met'] is True
    # bound = 1.5 + 1.2 * 1.0
    assert met['p50 latency, 1 caller']['bound_ms'] == 2.7
    assert met['p50 latency, 1 caller']['met'] is True
    # bound = 1.15 * 800 + 300 = 1220
    assert met['proxy CPU per call, 1 caller(s)']['met'] is True

    missed = {t['name']: t for t in stats.targets(_results(800, 3.0, 1300))}
    assert missed['throughput, 16 callers, 1 proxy process']['met'] is False
    assert missed['p50 latency, 1 caller']['met'] is False
    assert missed['proxy CPU per call, 16 caller(s)']['met'] is False
    # Without a direct-scoped figure there is no scoped row.
    assert 'proxy CPU per call, 1 caller(s), scoped' not in missed
    stretch = missed['stretch: gap to the raw AMQP floor']['ratios']
    assert stretch['p50 proxy / amqp, 1'] == 6.0
    assert stretch['server CPU oslo / amqp, 16'] == 8.0


def test_scoped_cpu_target():
    results = _results(950, 2.5, 1300)
    results['direct-scoped'] = {'1': _row(400, 1.2, client=500)}
    targets = {t['name']: t for t in stats.targets(results)}
    scoped = targets['proxy CPU per call, 1 caller(s), scoped']
    # bound = 1.15 * 800 + 500 = 1420
    assert scoped['bound_us'] == 1420
    assert scoped['met'] is True
    assert targets['proxy CPU per call, 1 caller(s)']['met'] is False


def test_targets_without_figures_are_not_judged():
    for target in stats.targets({}):
        assert target['met'] is None
