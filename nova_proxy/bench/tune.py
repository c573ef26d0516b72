"""Which settings matter: the proxy measured under option variants.

``nova-compute-proxy-bench --tune`` starts one proxy process per variant
(``{group: {option: value}}`` on top of the defaults), measures
``instance_update`` at each caller count, and reports each variant's
throughput, latency and proxy CPU per call as ratios to the baseline
(every option at its default) measured in the same run, before and after
the variants, so that drift of a shared machine shows.
"""

from nova_proxy.bench import stats

__all__ = ['VARIANTS', 'run']

VARIANTS = [
    ('baseline', {}),
    ('executor_thread_pool_size=8',
     {'DEFAULT': {'executor_thread_pool_size': '8'}}),
    ('executor_thread_pool_size=16',
     {'DEFAULT': {'executor_thread_pool_size': '16'}}),
    ('rabbit_qos_prefetch_count=16',
     {'oslo_messaging_rabbit': {'rabbit_qos_prefetch_count': '16'}}),
    ('heartbeat_timeout_threshold=0 (no AMQP heartbeat thread)',
     {'oslo_messaging_rabbit': {'heartbeat_timeout_threshold': '0'}}),
    ('database max_pool_size=5 (oslo.db default)',
     {'database': {'max_pool_size': '5'}}),
    ('database max_pool_size=64',
     {'database': {'max_pool_size': '64'}}),
    ('enforce_host_scope=False (no scope subquery)',
     {'proxy': {'enforce_host_scope': 'False'}}),
]


def run(bench, variants=VARIANTS, callers=(1, 16)):
    """Measure each variant; returns ``[{name, overrides, results}]`` with
    the baseline first and again last."""
    from nova_proxy.bench import runner
    profile = bench.profile
    profile.callers = list(callers)
    out = []
    bench.setup()
    try:
        plan = list(variants) + [('baseline (again)', {})]
        for name, overrides in plan:
            bench.progress('variant: %s' % name)
            bench.stop_proxies()
            bench.proxy_overrides = overrides
            bench.start_proxies(1)
            measured = bench.measure('proxy-1', bench._db_states(True),
                                     runner.Bench._update, bench.proxy_pids)
            out.append({'name': name, 'overrides': overrides,
                        'results': measured})
    finally:
        bench.teardown()
    base = out[0]['results']
    for variant in out:
        variant['ratios'] = {}
        for c, row in variant['results'].items():
            b = base.get(c, {})
            variant['ratios'][c] = {
                'calls_per_s': stats.ratio(row['calls_per_s'],
                                           b.get('calls_per_s')),
                'p50_ms': stats.ratio(row['p50_ms'], b.get('p50_ms')),
                'server_cpu': stats.ratio(
                    row['cpu_us_per_call'].get('server'),
                    b.get('cpu_us_per_call', {}).get('server')),
            }
    return out


def markdown(variants):
    callers = list(variants[0]['results'])
    head = '| variant | ' + ' | '.join(
        'calls/s ×base @%s | p50 ×base @%s | proxy CPU ×base @%s' % (c, c, c)
        for c in callers) + ' |'
    lines = [head, '|---|' + '--:|' * (3 * len(callers))]
    for v in variants:
        cells = []
        for c in callers:
            r = v['ratios'][c]
            cells += ['%.2f' % r[k] if r[k] is not None else '-'
                      for k in ('calls_per_s', 'p50_ms', 'server_cpu')]
        lines.append('| %s | %s |' % (v['name'], ' | '.join(cells)))
    lines += ['', 'Absolute figures of the baseline (noisy, for scale):']
    for c, row in variants[0]['results'].items():
        lines.append('- %s callers: %.0f calls/s, p50 %.2f ms, proxy %.0f '
                     'µs/call' % (int(c), row['calls_per_s'] or 0,
                                  row['p50_ms'] or 0,
                                  row['cpu_us_per_call'].get('server') or 0))
    return '\n'.join(lines)
