"""The run's outputs: a Markdown table, JSON and a PNG plot."""

import json

from nova_proxy.bench import stats
from nova_proxy.bench import workloads

__all__ = ['markdown', 'write_json', 'plot']

ROLES = ('client', 'server', 'broker', 'database')


def _f(value, fmt='%.0f'):
    return '-' if value is None else fmt % value


def _x(value):
    return '-' if value is None else '%.2f×' % value


def _machine_line(report):
    """The machine the run had: cores and load average, before and after
    (the run's own load is in the second)."""
    load = report.get('load_average') or {}
    parts = ['%s cores' % report['cpus']] if report.get('cpus') else []
    for when in ('start', 'end'):
        if load.get(when):
            parts.append('load average %s at the %s' % (
                ', '.join('%.2f' % value for value in load[when]), when))
    if not parts:
        return []
    return ['Machine: %s (1, 5 and 15 min averages; the run\'s own load '
            'is in the last).' % '; '.join(parts)] + _calm_line(report) + \
        _stolen_line(report) + ['']


def _stolen_line(report):
    """CPU the hypervisor took during the run: the processes were charged
    for it, floors and proxy alike, and no load average shows it."""
    stolen = report.get('stolen_cpu_s')
    if stolen is None or not report.get('elapsed_s') or \
            not report.get('cpus'):
        return []
    return ['CPU stolen by the hypervisor during the run: %.1f s, %.1f%% of '
            'the machine\'s %d cores over %.0f s (a run with much of it '
            'is no calmer than a loaded one).' % (
                stolen, 100.0 * stolen / (report['elapsed_s'] *
                                          report['cpus']),
                report['cpus'], report['elapsed_s'])]


def _calm_line(report):
    """Whether the run was calm, and so whether its targets are judged."""
    calm = report.get('calm')
    if calm is None:
        return ['Calm run: unknown (no load average): targets not judged.']
    if calm:
        return ['Calm run: yes (1 and 5 min load under %.1f per core at the '
                'start): targets judged.' % stats.CALM_LOAD_PER_CORE]
    return ['Calm run: NO (1 or 5 min load at %.1f per core or more at the '
            'start): targets NOT judged; the floors inflate more than the '
            'proxy on a loaded machine, so its ratios say nothing.'
            % stats.CALM_LOAD_PER_CORE]


def _compare_line(results, name, base_name, title):
    """``name``'s figures over ``base_name``'s, per caller count: proxy
    CPU per call, client CPU per call, p50 (per call for builds)."""
    row_of, base_of = results.get(name), results.get(base_name)
    if not row_of or not base_of:
        return []
    parts = []
    for callers, row in row_of.items():
        base = base_of.get(callers)
        if base is None:
            continue
        cpu, base_cpu = row['cpu_us_per_call'], base['cpu_us_per_call']
        parts.append('%s caller(s): proxy CPU per call %s, client %s, '
                     'p50 %s' % (
                         callers,
                         _x(stats.ratio(cpu.get('server'),
                                        base_cpu.get('server'))),
                         _x(stats.ratio(cpu.get('client'),
                                        base_cpu.get('client'))),
                         _x(stats.ratio(row['p50_ms'], base['p50_ms']))))
    if not parts:
        return []
    return ['', '%s (%s over %s): %s.' % (title, name, base_name,
                                          '; '.join(parts))]


def _comparison_lines(results):
    return (_compare_line(results, 'proxy-signed-1', 'proxy-1',
                          'Signed calls, the same processes') +
            _compare_line(results, 'proxy-nova-1', 'proxy-1',
                          "nova's Instance.save through the 2.x shim") +
            _compare_line(results, 'build-nova-1', 'build-1',
                          "nova 34's build through the 2.x shim (%d calls "
                          "against %d; CPU per call, p50 per build)" % (
                              workloads.BUILD_NOVA_CALLS,
                              workloads.BUILD_CALLS)))


def markdown(report):
    results = report['results']
    lines = _machine_line(report) + [
        '| scenario | callers | calls/s | p50 ms | p99 ms | CPU µs/call '
        'client | server | broker | database | calls/s ×oslo | p50 ×oslo | '
        'p50 ×amqp | server CPU ×oslo |',
        '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    ]
    for name, per_callers in results.items():
        for callers, row in per_callers.items():
            oslo = results.get('oslo', {}).get(callers, {})
            amqp = results.get('amqp', {}).get(callers, {})
            cpu = row['cpu_us_per_call']
            lines.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s | '
                         '%s | %s | %s | %s |' % (
                             name, callers, _f(row['calls_per_s']),
                             _f(row['p50_ms'], '%.2f'),
                             _f(row['p99_ms'], '%.2f'),
                             *[_f(cpu.get(r)) for r in ROLES],
                             _x(stats.ratio(row['calls_per_s'],
                                            oslo.get('calls_per_s'))),
                             _x(stats.ratio(row['p50_ms'],
                                            oslo.get('p50_ms'))),
                             _x(stats.ratio(row['p50_ms'],
                                            amqp.get('p50_ms'))),
                             _x(stats.ratio(cpu.get('server'),
                                            oslo.get('cpu_us_per_call',
                                                     {}).get('server')))))
            if row['errors']:
                lines.append('|  | ERRORS: %d, first: %s |' % (
                    row['errors'], row['first_error']))
    lines += [''] + targets_markdown(report['targets'])
    lines += _comparison_lines(results)
    idle = report.get('proxy_idle_cpu_cores') or {}
    if idle:
        lines += ['', 'Proxy CPU with no caller (background threads), in '
                  'cores: %s.' % ', '.join(
                      '%s process(es): %.3f' % (n, cores)
                      for n, cores in sorted(idle.items()))]
    samples = report.get('proxy_profile')
    if samples:
        lines += ['', profile_markdown(samples)]
    fleet = report.get('fleet')
    if fleet:
        lines += ['', fleet_markdown(fleet)]
    return '\n'.join(lines)


def _met(target, key='met'):
    if not target.get('judged', True):
        return 'not judged'
    return {True: 'yes', False: 'NO', None: 'n/a'}[target.get(key)]


def targets_markdown(targets):
    """The targets: the figure, its floors' own figures, the ratio to
    their sum, the limit, the verdict, and p99 and calls/s beside."""
    lines = ['Targets (ratios from this run; CPU in µs per call):', '',
             '| target | rule | figure | floors | ratio | limit | met | '
             'stretch met | p99 ms | calls/s |',
             '|---|---|--:|---|--:|--:|---|---|--:|--:|']
    notes = []
    for target in targets:
        if 'ratios' in target:
            notes.append('%s (%s): %s.' % (
                target['name'], target['rule'], ', '.join(
                    '%s: %s' % (k, _x(v))
                    for k, v in target['ratios'].items())))
            continue
        floors = ' + '.join('%s %s' % (label, _f(value))
                            for label, value in target['floors'].items())
        beside = target['beside']
        lines.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |'
                     % (target['name'], target['rule'],
                        _f(target['value'], '%.1f'
                           if (target['value'] or 0) < 100 else '%.0f'),
                        floors or '-', _x(target['ratio']),
                        _x(target['limit']), _met(target),
                        _met(target, 'stretch_met')
                        if target['stretch'] is not None else '',
                        _f(beside.get('p99_ms'), '%.2f'),
                        _f(beside.get('calls_per_s'))))
    return lines + [''] + notes if notes else lines


def profile_markdown(samples):
    if samples.get('error'):
        return 'Proxy profile: not taken (%s).' % samples['error']
    lines = ['Proxy profile (py-spy, samples holding the GIL, proxy-1 at '
             '%d callers, %d samples; a sample may count in several '
             'parts):' % (samples['callers'], samples['samples']), '',
             '| part | share of samples |', '|---|--:|']
    for part, share in samples['shares'].items():
        lines.append('| %s | %s |' % (
            part, '-' if share is None else '%.0f%%' % (share * 100)))
    threads = samples.get('threads')
    if threads:
        lines += ['', 'Proxy CPU by thread (/proc, the same rounds): the '
                  'busiest thread (AMQP polling and decoding) %.0f µs per '
                  'call; the %d other threads that ran (executor threads '
                  'serving the calls, background threads) %.0f µs per '
                  'call.' % (threads['busiest_us_per_call'],
                             threads['threads_that_ran'] - 1,
                             threads['others_us_per_call'])]
    return '\n'.join(lines)


def fleet_markdown(fleet):
    lines = ['Fleet simulation: p99 bound %.0f ms, %.3f calls/s per node '
             '(%s); every call signed as its node, as the proxies require '
             'by default ("signed": the nonces the proxies recorded in the '
             'step, warm-up and drain included).' % (
                 fleet['bound_ms'], fleet['calls_per_node_per_s'],
                 ', '.join('%s every %.0f s' % (t['name'], t['interval_s'])
                           for t in fleet['tasks'])), '',
             '| nodes | offered calls/s | calls/s | p50 ms | p99 ms | '
             'proxy µs/call | broker µs/call | database µs/call | signed '
             '| ok |',
             '|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|']
    for step in fleet['steps']:
        cpu = step['cpu_us_per_call']
        lines.append('| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
            step['nodes'], _f(step['offered_calls_per_s']),
            _f(step['calls_per_s']),
            _f(step['p50_ms'], '%.1f'), _f(step['p99_ms'], '%.1f'),
            _f(cpu.get('server')), _f(cpu.get('broker')),
            _f(cpu.get('database')), _f(step.get('nonces_recorded'), '%d'),
            'yes' if step['good'] else 'no'))
    best = fleet['best']
    if best:
        lines += ['', 'Largest fleet under the bound: %d nodes (%d proxy '
                  'processes)%s.' % (
                      best['nodes'], best['proxy_processes'],
                      ' (the largest tried)'
                      if fleet['limited_by_max_nodes'] else '')]
    proxy_us = best and best['cpu_us_per_call'].get('server')
    for key, server in (('echo', 'the oslo.messaging echo server'),
                        ('amqp_echo', 'the raw AMQP echo server')):
        echo = fleet.get(key)
        if not (best and echo):
            continue
        echo_us = echo['cpu_us_per_call'].get('server')
        lines += ['', 'Its floor: the same %d nodes, tasks and calls, each '
                  'call made to %s (%d processes): %s calls/s, p99 %s ms, '
                  '%s µs of echo server CPU per call%s.' % (
                      echo['nodes'], server, echo['echo_processes'],
                      _f(echo['calls_per_s']), _f(echo['p99_ms'], '%.1f'),
                      _f(echo_us),
                      '; the proxy\'s is %s that' % _x(proxy_us / echo_us)
                      if proxy_us and echo_us else '')]
    lines += _driver_floor_lines(fleet, proxy_us)
    model = fleet.get('capacity')
    if model:
        lines += ['', '| role | CPU µs/call | nodes per core | cores for '
                  '%d nodes at %d%% |' % (model['fleet'],
                                          model['utilisation'] * 100),
                  '|---|--:|--:|--:|']
        for role, row in model['roles'].items():
            lines.append('| %s | %.0f | %.0f | %.1f |' % (
                role, row['cpu_us_per_call'], row['nodes_per_core'],
                row['cores_for_fleet']))
    return '\n'.join(lines)


def _driver_floor_lines(fleet, proxy_us):
    """The database's floor of the fleet (``fleet.run_driver_fleet``), and
    the proxy's CPU per call against each echo server's with it."""
    best, driver = fleet['best'], fleet.get('driver')
    if not (best and driver):
        return []
    if driver.get('problem'):
        return ['', 'Its database\'s floor: not measured: %s.'
                % driver['problem']]
    driver_us = driver['cpu_us_per_call'].get('driver')
    against = []
    for key, label in (('echo', 'oslo echo'), ('amqp_echo', 'raw AMQP echo')):
        echo_us = (fleet.get(key) or {}).get('cpu_us_per_call', {}).get(
            'server')
        if proxy_us and echo_us and driver_us:
            against.append('%s (%s + psycopg2, %s µs)' % (
                _x(proxy_us / (echo_us + driver_us)), label,
                _f(echo_us + driver_us)))
    return ['', 'Its database\'s floor: the same %d nodes on %d proxy '
            'processes with their psycopg2 timed (``drivercpu``): %s '
            'calls/s, p99 %s ms, %d errors%s; %s µs of the driver\'s own '
            'CPU per call in the threads serving the calls (%s statements, '
            'commits and rollbacks per call), %s µs more in their other '
            'threads (%s operations), of %s µs of those proxies\' CPU per '
            'call (timing included)%s.' % (
                driver['nodes'], driver['proxy_processes'],
                _f(driver['calls_per_s']), _f(driver['p99_ms'], '%.1f'),
                driver['errors'],
                '' if driver.get('good', True) else
                ' (over the bound: the floor is read all the same)',
                _f(driver_us),
                _f(driver.get('driver_operations_per_call'), '%.2f'),
                _f(driver['cpu_us_per_call'].get('driver_background')),
                _f(driver.get('driver_background_operations_per_call'),
                   '%.2f'),
                _f(driver['cpu_us_per_call'].get('server')),
                '; the proxy\'s CPU per call is ' + ' and '.join(against)
                if against else '')]


def write_json(report, path):
    with open(path, 'w') as f:
        json.dump(report, f, indent=1, sort_keys=True, default=str)


def cannot_plot():
    """Why ``plot()`` cannot draw here (one line), or None: matplotlib
    comes with the ``bench`` extra, which an operator's install may not
    have."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return ("bench.png is not drawn: matplotlib is not installed "
                "(pip install 'nova-compute-proxy[bench]')")
    return None


def plot(report, path):
    """Throughput and latency against callers, one line per scenario."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    results = report['results']
    fig, (left, right) = pyplot.subplots(1, 2, figsize=(12, 4.8))
    # More scenarios than the default cycle's 10 colours: one each.
    colours = pyplot.cm.tab20.colors
    for index, (name, per_callers) in enumerate(results.items()):
        callers = [int(c) for c in per_callers]
        rates = [row['calls_per_s'] for row in per_callers.values()]
        p50 = [row['p50_ms'] for row in per_callers.values()]
        p99 = [row['p99_ms'] for row in per_callers.values()]
        line, = left.plot(callers, rates, marker='o', label=name,
                          color=colours[index % len(colours)])
        right.plot(callers, p50, marker='o', color=line.get_color(),
                   label='%s p50' % name)
        right.plot(callers, p99, marker='x', linestyle='--',
                   color=line.get_color())
    left.set_xscale('log', base=2)
    left.set_xlabel('concurrent callers')
    left.set_ylabel('RPC calls/s (builds: calls of the build)')
    left.set_title('Throughput')
    left.grid(True, alpha=0.3)
    left.legend(fontsize=8)
    right.set_xscale('log', base=2)
    right.set_yscale('log')
    right.set_xlabel('concurrent callers')
    right.set_ylabel('latency per operation, ms (solid p50, dashed p99)')
    right.set_title('Latency')
    right.grid(True, alpha=0.3)
    fig.suptitle('nova-compute-proxy benchmark (%s, %s, one run)' % (
        report['backend'], report['profile']['name']))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    pyplot.close(fig)
