"""``nova-compute-proxy-bench``: the proxy beside its floors, in one run.

``nova-compute-proxy-bench`` (full, a few minutes), ``--quick`` (about a
minute) or ``--smoke`` (seconds, for CI); results go to ``--output-dir``
as ``bench.md``, ``bench.json`` and ``bench.png``. See docs/benchmark.rst.
"""

import argparse
import os
import signal
import sys
import warnings

from nova_proxy import cmd  # noqa: F401  (selects the threading backend)

# The banner eventlet prints when futurist imports it starts with a
# newline, which the filter of ``nova_proxy.cmd`` does not match.
warnings.filterwarnings('ignore', message='(?s).*Eventlet is deprecated')


def _overrides(values):
    """``group.option=value`` items as ``{group: {option: value}}``."""
    result = {}
    for item in values or ():
        key, sep, value = item.partition('=')
        group, dot, option = key.rpartition('.')
        if not sep or not option:
            raise argparse.ArgumentTypeError(
                'expected group.option=value, got %r' % item)
        result.setdefault(group or 'DEFAULT', {})[option] = value
    return result


def _int_list(text):
    return [int(x) for x in text.split(',')]


def parse_args(argv):
    from nova_proxy.bench import database
    from nova_proxy.bench import runner
    parser = argparse.ArgumentParser(
        prog='nova-compute-proxy-bench', description=__doc__.split('\n')[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--quick', action='store_const', dest='profile',
                      const='quick', help='one short round per point')
    mode.add_argument('--smoke', action='store_const', dest='profile',
                      const='smoke', help='a few calls of everything (CI)')
    parser.set_defaults(profile='full')
    parser.add_argument('--database', choices=database.BACKENDS,
                        default='postgresql',
                        help='backend of the fresh database (default '
                             'postgresql at 127.0.0.1:5432; mariadb at '
                             '127.0.0.1:3306)')
    parser.add_argument('--callers', type=_int_list,
                        help='comma-separated caller counts (default '
                             '1,16,64)')
    parser.add_argument('--rounds', type=int,
                        help='rounds per point, one in each pass over '
                             'the scenarios (with --tune: repeats of each '
                             'variant)')
    parser.add_argument('--duration', type=float,
                        help='seconds per round')
    parser.add_argument('--scenarios',
                        help='comma-separated subset of: %s' % ', '.join(
                            name for name, _, _ in runner.SCENARIOS))
    parser.add_argument('--tune', action='store_true',
                        help='instead of the comparison, measure the proxy '
                             'under option variants (see '
                             'nova_proxy.bench.tune)')
    parser.add_argument('--profile', action='store_true', dest='sample',
                        help='sample the proxy with py-spy during proxy-1 at '
                             '16 callers and report where its CPU goes')
    parser.add_argument('--no-fleet', dest='fleet', action='store_false',
                        help='skip the fleet simulation')
    parser.add_argument('--fleet-bound-ms', type=float, default=100.0,
                        help='p99 latency bound of the fleet simulation')
    parser.add_argument('--set', dest='overrides', action='append',
                        metavar='GROUP.OPTION=VALUE',
                        help='an option for the proxy processes, e.g. '
                             'DEFAULT.executor_thread_pool_size=16 '
                             '(repeatable)')
    parser.add_argument('--wait-calm', type=float, default=0,
                        metavar='SECONDS',
                        help='wait up to SECONDS for the machine to be calm '
                             '(1 and 5 min load under 1 per core) before '
                             'starting: only a calm run judges its targets, '
                             'and after another run the 5 min average takes '
                             'minutes to fall (default 0: start at once)')
    parser.add_argument('--output-dir', default='.',
                        help='where bench.md, bench.json and bench.png go')
    args = parser.parse_args(argv)
    try:
        args.overrides = _overrides(args.overrides)
    except argparse.ArgumentTypeError as e:
        parser.error(str(e))
    if args.scenarios:
        args.scenarios = args.scenarios.split(',')
        unknown = set(args.scenarios) - set(runner.SCENARIO_CALLS)
        if unknown:
            parser.error('unknown scenarios: %s' % ', '.join(sorted(unknown)))
    return args


def _exit_on_sigterm(signum, frame):
    # SIGTERM (kill, timeout, a CI runner giving up) ends the run as
    # Ctrl-C does: the run's servers are stopped and its database dropped
    # on the way out, instead of being left behind.
    raise SystemExit(128 + signum)


def main(argv=None):
    import logging

    from nova_proxy.bench import report
    from nova_proxy.bench import runner

    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING)
    base = runner.PROFILES[args.profile]
    profile = runner.Profile(
        base.name, args.callers or base.callers,
        args.rounds or base.rounds, args.duration or base.duration,
        base.fleet_duration, base.fleet_max_nodes, base.warmup)

    def progress(message):
        print(message, file=sys.stderr, flush=True)
    bench = runner.Bench(
        profile, backend=args.database, proxy_overrides=args.overrides,
        scenarios=args.scenarios, fleet=args.fleet,
        fleet_bound_ms=args.fleet_bound_ms, sample=args.sample,
        progress=progress)
    os.makedirs(args.output_dir, exist_ok=True)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    # Said before the run, not found after it: the figures are written
    # all the same.
    no_plot = report.cannot_plot()
    if no_plot and not args.tune:
        print(no_plot, file=sys.stderr, flush=True)
    if args.tune:
        from nova_proxy.bench import tune
        variants = tune.run(bench, callers=args.callers or (1, 16),
                            repeats=args.rounds or 2)
        table = tune.markdown(variants)
        with open(os.path.join(args.output_dir, 'tune.md'), 'w') as f:
            f.write(table + '\n')
        report.write_json(variants,
                          os.path.join(args.output_dir, 'tune.json'))
        print(table)
        return 0
    if args.wait_calm > 0:
        from nova_proxy.bench import stats
        stats.wait_for_calm(args.wait_calm, progress)
    result = bench.run()
    table = report.markdown(result)
    with open(os.path.join(args.output_dir, 'bench.md'), 'w') as f:
        f.write(table + '\n')
    report.write_json(result, os.path.join(args.output_dir, 'bench.json'))
    if not no_plot:
        report.plot(result, os.path.join(args.output_dir, 'bench.png'))
    print(table)
    print('\n(%.0f s; outputs in %s)' % (result['elapsed_s'],
                                         os.path.abspath(args.output_dir)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
