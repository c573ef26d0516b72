"""Medians of rounds, ratios to the floors and the issue's targets."""

import statistics

__all__ = ['summarize', 'ratio', 'targets']


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def summarize(rounds, calls_per_op=1):
    """The median over ``rounds`` (``RoundResult.as_dict()`` dicts) of each
    figure. Rates and CPU are per RPC call: an operation of several calls
    counts ``calls_per_op``."""
    roles = sorted({r for rd in rounds for r in rd['cpu_us_per_call']})
    cpu = {}
    for role in roles:
        values = [rd['cpu_us_per_call'].get(role) for rd in rounds]
        per_op = _median(values)
        cpu[role] = None if per_op is None else per_op / calls_per_op
    ops = _median([rd['rate'] for rd in rounds])
    return {
        'ops_per_s': ops,
        'calls_per_s': None if ops is None else ops * calls_per_op,
        'p50_ms': _median([rd['p50_ms'] for rd in rounds]),
        'p99_ms': _median([rd['p99_ms'] for rd in rounds]),
        'cpu_us_per_call': cpu,
        'errors': sum(rd['errors'] for rd in rounds),
        'first_error': next((rd['first_error'] for rd in rounds
                             if rd['first_error']), None),
        'rounds': len(rounds),
    }


def _get(results, scenario, callers, *keys):
    value = results.get(scenario, {}).get(str(callers))
    for key in keys:
        if value is None:
            return None
        value = value.get(key)
    return value


def targets(results):
    """The issue's targets, each with the figures it compares.

    ``results[scenario][str(callers)]`` are ``summarize()`` dicts. A target
    is ``met`` when its ratio is at most 1 (at least 1 for throughput);
    None when a figure is missing (e.g. a smoke run without 16 callers).
    """
    out = []
    rate_proxy = _get(results, 'proxy-1', 16, 'calls_per_s')
    rate_oslo = _get(results, 'oslo', 16, 'calls_per_s')
    r = ratio(rate_proxy, rate_oslo)
    out.append({'name': 'throughput, 16 callers, 1 proxy process',
                'rule': 'proxy >= 0.9 x oslo echo',
                'ratio': r, 'limit': 0.9,
                'met': None if r is None else r >= 0.9})

    p50_proxy = _get(results, 'proxy-1', 1, 'p50_ms')
    p50_oslo = _get(results, 'oslo', 1, 'p50_ms')
    p50_direct = _get(results, 'direct', 1, 'p50_ms')
    bound = None if None in (p50_oslo, p50_direct) else \
        p50_oslo + 1.2 * p50_direct
    r = ratio(p50_proxy, bound)
    out.append({'name': 'p50 latency, 1 caller',
                'rule': 'proxy <= oslo echo + 1.2 x direct',
                'ratio': r, 'limit': 1.0, 'bound_ms': bound,
                'met': None if r is None else r <= 1.0})

    for callers in (1, 16):
        for direct, note in (('direct', ''),
                             ('direct-scoped', ', scoped')):
            cpu_proxy = _get(results, 'proxy-1', callers,
                             'cpu_us_per_call', 'server')
            cpu_oslo = _get(results, 'oslo', callers, 'cpu_us_per_call',
                            'server')
            cpu_dbclient = _get(results, direct, callers,
                                'cpu_us_per_call', 'client')
            if direct != 'direct' and cpu_dbclient is None:
                continue
            bound = None if None in (cpu_oslo, cpu_dbclient) else \
                1.15 * cpu_oslo + cpu_dbclient
            r = ratio(cpu_proxy, bound)
            name = 'proxy CPU per call, %d caller(s)%s' % (callers, note)
            out.append({
                'name': name,
                'rule': 'proxy <= 1.15 x oslo echo server + %s client '
                        '(the database client share)' % direct,
                'ratio': r, 'limit': 1.0, 'bound_us': bound,
                'met': None if r is None else r <= 1.0})

    stretch = {}
    for callers in (1, 16):
        stretch['p50 proxy / amqp, %d' % callers] = ratio(
            _get(results, 'proxy-1', callers, 'p50_ms'),
            _get(results, 'amqp', callers, 'p50_ms'))
        stretch['server CPU proxy / amqp, %d' % callers] = ratio(
            _get(results, 'proxy-1', callers, 'cpu_us_per_call', 'server'),
            _get(results, 'amqp', callers, 'cpu_us_per_call', 'server'))
        stretch['p50 oslo / amqp, %d' % callers] = ratio(
            _get(results, 'oslo', callers, 'p50_ms'),
            _get(results, 'amqp', callers, 'p50_ms'))
        stretch['server CPU oslo / amqp, %d' % callers] = ratio(
            _get(results, 'oslo', callers, 'cpu_us_per_call', 'server'),
            _get(results, 'amqp', callers, 'cpu_us_per_call', 'server'))
    out.append({'name': 'stretch: gap to the raw AMQP floor',
                'rule': 'report the ratios reached', 'ratios': stretch,
                'met': None})
    return out
