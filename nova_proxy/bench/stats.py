"""Medians of rounds, ratios to the floors, and the targets.

The targets (``targets()``), each a ratio to floors measured in the same
run, with the floors' own figures beside it:

* **proxy CPU per call**, at 1 and 16 callers: the proxy's server CPU per
  ``instance_update`` (``proxy-1``) at most 1.15x the sum of its floors,
  the oslo.messaging echo server (``oslo``, server CPU) and the same
  compare-and-swap run by the driver alone (``raw-sql``, client CPU);
  1.0x is the stretch: a proxy that adds nothing of its own;
* **database layer**, at 1 and 16 callers: the in-process scoped call
  (``direct-scoped``, client CPU) at most 2x ``raw-sql``;
* **capacity**: at most 4 proxy cores per 10,000 compute nodes in the
  fleet mix (``fleet.capacity_model``);
* **throughput** at 16 callers against the echo server: printed, no
  longer judged (retired: on a 2-core machine a proxy that adds nothing
  still shares the cores with its database, so it cannot reach it).

A target is judged only on a calm run (``calm()``): on a loaded machine
the floors inflate more than the proxy does, and ratios look better than
they are. On a loaded run every ``met`` is None and ``judged`` False.
"""

import os
import statistics
import time

# The load average (1 and 5 min) per core at the start below which a run
# counts as calm.
CALM_LOAD_PER_CORE = 1.0
# proxy server CPU per call <= CPU_LIMIT x (oslo echo server + raw-sql).
CPU_LIMIT = 1.15
CPU_STRETCH = 1.0
# direct-scoped client CPU per call <= DATABASE_LIMIT x raw-sql.
DATABASE_LIMIT = 2.0
# Proxy cores per 10,000 nodes in the fleet mix, at most.
PROXY_CORES_LIMIT = 4.0

__all__ = ['summarize', 'ratio', 'targets', 'calm', 'wait_for_calm',
           'CALM_LOAD_PER_CORE',
           'CPU_LIMIT', 'CPU_STRETCH', 'DATABASE_LIMIT',
           'PROXY_CORES_LIMIT']


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


def wait_for_calm(seconds, progress, load=os.getloadavg, cpus=None,
                  sleep=time.sleep, clock=time.monotonic, every=10.0):
    """Wait at most ``seconds`` for the machine to be calm (``calm()`` of
    the load now), telling ``progress`` how it stands every ``every``
    seconds. True when it is calm, False when the time ran out (the run
    then goes on, and its report says it was not calm). Most useful
    between two runs: the 5 minute average takes minutes to forget the
    run before."""
    cpus = cpus or os.cpu_count()
    give_up_at = clock() + seconds
    while True:
        now = load()
        if calm(now, cpus):
            return True
        left = give_up_at - clock()
        if left <= 0:
            progress('the machine is not calm after %.0f s (load %.2f, '
                     '%.2f; calm is under %.1f on %d cores): running all '
                     'the same' % (seconds, now[0], now[1],
                                   CALM_LOAD_PER_CORE * cpus, cpus))
            return False
        progress('waiting for a calm machine: load %.2f, %.2f (calm is '
                 'under %.1f on %d cores), %.0f s left' % (
                     now[0], now[1], CALM_LOAD_PER_CORE * cpus, cpus, left))
        sleep(min(every, left))


def calm(load_at_start, cpus):
    """Whether a run started calm: its 1 and 5 minute load averages
    (``os.getloadavg()`` before it) under ``CALM_LOAD_PER_CORE`` per core.
    None when either is unknown."""
    if not load_at_start or not cpus:
        return None
    return max(load_at_start[:2]) / cpus < CALM_LOAD_PER_CORE


def _beside(results, scenario, callers):
    """The p99 and the calls/s of the scenario a target judges."""
    return {'p99_ms': _get(results, scenario, callers, 'p99_ms'),
            'calls_per_s': _get(results, scenario, callers, 'calls_per_s')}


def _target(name, rule, value, floors, limit, stretch=None, beside=None,
            higher_is_better=False, bound=None):
    """A target's dict: ``value`` against ``limit`` x the sum of
    ``floors`` (``{label: figure}``; a single floor for a plain ratio),
    or against a fixed ``bound``."""
    if bound is None and floors and None not in floors.values():
        bound = sum(floors.values())
    r = ratio(value, bound)

    def within(limit):
        if r is None or limit is None:
            return None
        return r >= limit if higher_is_better else r <= limit
    return {'name': name, 'rule': rule, 'value': value, 'floors': floors,
            'bound': bound, 'ratio': r, 'limit': limit, 'stretch': stretch,
            'met': within(limit), 'stretch_met': within(stretch),
            'beside': beside or {}, 'judged': True}


def targets(results, capacity=None, calm_run=True):
    """The targets (see the module docstring), each with the figures it
    compares.

    ``results[scenario][str(callers)]`` are ``summarize()`` dicts;
    ``capacity`` is the fleet's ``capacity_model()`` (or None);
    ``calm_run`` False (a loaded run) leaves every target unjudged. A
    target is None (``met``) when a figure is missing (e.g. a smoke run
    without 16 callers).
    """
    out = []
    for callers in (1, 16):
        out.append(_target(
            'proxy CPU per call, %d caller(s)' % callers,
            'proxy-1 server <= %.2f x (oslo server + raw-sql client), '
            'stretch %.1f x' % (CPU_LIMIT, CPU_STRETCH),
            _get(results, 'proxy-1', callers, 'cpu_us_per_call', 'server'),
            {'oslo server': _get(results, 'oslo', callers,
                                 'cpu_us_per_call', 'server'),
             'raw-sql client': _get(results, 'raw-sql', callers,
                                    'cpu_us_per_call', 'client')},
            CPU_LIMIT, CPU_STRETCH, _beside(results, 'proxy-1', callers)))
    for callers in (1, 16):
        out.append(_target(
            'database layer CPU per call, %d caller(s)' % callers,
            'direct-scoped client <= %.0f x raw-sql client'
            % DATABASE_LIMIT,
            _get(results, 'direct-scoped', callers, 'cpu_us_per_call',
                 'client'),
            {'raw-sql client': _get(results, 'raw-sql', callers,
                                    'cpu_us_per_call', 'client')},
            DATABASE_LIMIT, beside=_beside(results, 'direct-scoped',
                                           callers)))
    proxy = ((capacity or {}).get('roles') or {}).get('proxy')
    fleet = (capacity or {}).get('fleet', 10000)
    out.append(_target(
        'proxy cores per %d nodes, fleet mix' % fleet,
        'cores <= %.0f (the capacity model)' % PROXY_CORES_LIMIT,
        proxy and proxy['cores_for_fleet'], {}, 1.0,
        beside={'proxy_us_per_call': proxy and proxy['cpu_us_per_call']},
        bound=PROXY_CORES_LIMIT))
    retired = _target(
        'throughput, 16 callers, 1 proxy process (retired)',
        'proxy >= 0.9 x oslo echo calls/s: printed, not judged',
        _get(results, 'proxy-1', 16, 'calls_per_s'),
        {'oslo calls/s': _get(results, 'oslo', 16, 'calls_per_s')},
        0.9, higher_is_better=True)
    retired.update(met=None, judged=False, retired=True)
    if not calm_run:
        for target in out:
            target.update(met=None, stretch_met=None, judged=False)
    out.append(retired)

    stretch = {}
    for callers in (1, 16):
        stretch['p50 proxy / amqp, %d' % callers] = ratio(
            _get(results, 'proxy-1', callers, 'p50_ms'),
            _get(results, 'amqp', callers, 'p50_ms'))
        stretch['server CPU proxy / amqp, %d' % callers] = ratio(
            _get(results, 'proxy-1', callers, 'cpu_us_per_call', 'server'),
            _get(results, 'amqp', callers, 'cpu_us_per_call', 'server'))
        stretch['server CPU oslo / amqp, %d' % callers] = ratio(
            _get(results, 'oslo', callers, 'cpu_us_per_call', 'server'),
            _get(results, 'amqp', callers, 'cpu_us_per_call', 'server'))
    out.append({'name': 'the gap to the raw AMQP floor',
                'rule': 'reported, not a target', 'ratios': stretch,
                'met': None, 'judged': False})
    return out
