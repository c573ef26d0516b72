"""Which settings matter: the proxy measured under option variants.

``nova-compute-proxy-bench --tune`` starts one proxy process per variant
(``{group: {option: value}}`` on top of the defaults), measures
``instance_update`` at each caller count, and reports each variant's
throughput, latency and proxy CPU per call as ratios to the baseline
(every option at its default) measured in the same run. Variants are
measured round-robin, ``repeats`` times each, and the medians compared, so
that the drift of a shared machine spreads over all of them.
"""

import statistics

from nova_proxy.bench import stats

__all__ = ['VARIANTS', 'run']

VARIANTS = [
    ('baseline', {}),
    # The proxy's default is 8 (nova_proxy.common.rpc).
    ('executor_thread_pool_size=64 (oslo.messaging default)',
     {'DEFAULT': {'executor_thread_pool_size': '64'}}),
    ('executor_thread_pool_size=4',
     {'DEFAULT': {'executor_thread_pool_size': '4'}}),
    ('executor_thread_pool_size=16',
     {'DEFAULT': {'executor_thread_pool_size': '16'}}),
    # The proxy's default server is direct, which has no executor
    # option; oslo.messaging's server defaults to receiver-first
    # (nova_proxy.common.executor).
    ('rpc_server=oslo.messaging (executor receiver-first)',
     {'proxy': {'rpc_server': 'oslo.messaging'}}),
    ('rpc_server=oslo.messaging, executor=last-idle',
     {'proxy': {'rpc_server': 'oslo.messaging', 'executor': 'last-idle'}}),
    ('rpc_server=oslo.messaging, executor=threading (its own pool)',
     {'proxy': {'rpc_server': 'oslo.messaging',
                'executor': 'threading'}}),
    ('rabbit_qos_prefetch_count=16',
     {'oslo_messaging_rabbit': {'rabbit_qos_prefetch_count': '16'}}),
    ('heartbeat_timeout_threshold=0 (no AMQP heartbeat thread)',
     {'oslo_messaging_rabbit': {'heartbeat_timeout_threshold': '0'}}),
    ('database max_pool_size=64',
     {'database': {'max_pool_size': '64'}}),
    ('enforce_host_scope=False (no scope subquery)',
     {'proxy': {'enforce_host_scope': 'False'}}),
]


def run(bench, variants=VARIANTS, callers=(1, 16), repeats=2):
    """Measure each variant ``repeats`` times, round-robin so that drift of
    the machine spreads over all of them; returns ``[{name, overrides,
    results, ratios}]``, results being medians over the repeats."""
    from nova_proxy.bench import runner
    bench.profile.callers = list(callers)
    measured = {name: [] for name, _ in variants}
    bench.setup()
    try:
        for repeat in range(repeats):
            for name, overrides in variants:
                bench.progress('variant %d/%d: %s' % (repeat + 1, repeats,
                                                      name))
                bench.stop_proxies()
                bench.proxy_overrides = overrides
                bench.start_proxies(1)
                measured[name].append(bench.measure(
                    'proxy-1', bench._db_states(True), runner.Bench._update,
                    bench.proxy_pids))
    finally:
        bench.teardown()
    out = []
    for name, overrides in variants:
        results = {}
        for c in measured[name][0]:
            rows = [m[c] for m in measured[name]]
            results[c] = {
                'calls_per_s': _median(r['calls_per_s'] for r in rows),
                'p50_ms': _median(r['p50_ms'] for r in rows),
                'cpu_us_per_call': {'server': _median(
                    r['cpu_us_per_call'].get('server') for r in rows)},
            }
        out.append({'name': name, 'overrides': overrides,
                    'results': results, 'repeats': measured[name]})
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


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


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
