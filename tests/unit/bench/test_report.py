import json
import sys

from nova_proxy.bench import fleet
from nova_proxy.bench import report
from nova_proxy.bench import stats


def _summary(rate, p50, p99, server):
    return {'ops_per_s': rate, 'calls_per_s': rate, 'p50_ms': p50,
            'p99_ms': p99, 'errors': 0, 'first_error': None, 'rounds': 1,
            'cpu_us_per_call': {'client': 100.0, 'server': server,
                                'broker': 50.0, 'database': 40.0}}


def _report():
    results = {
        'oslo': {'1': _summary(500, 2.0, 3.0, 800.0),
                 '16': _summary(900, 16.0, 30.0, 800.0)},
        'proxy-1': {'1': _summary(250, 4.0, 6.0, 1600.0),
                    '16': _summary(450, 30.0, 60.0, 1600.0)},
    }
    step = {'simulated': 200, 'speedup': 1.0, 'nodes': 200,
            'offered_calls_per_s': 36.0, 'released_calls_per_s': 36.5,
            'calls_per_s': 35.5, 'p50_ms': 3.0, 'p99_ms': 20.0, 'errors': 0,
            'first_error': None, 'proxy_processes': 2, 'good': True,
            'cpu_us_per_call': {'server': 2000.0, 'broker': 400.0,
                                'database': 500.0}}
    return {
        'backend': 'postgresql', 'profile': {'name': 'smoke'},
        'cpus': 2, 'load_average': {'start': [0.5, 0.25, 0.125],
                                    'end': [2.0, 1.5, 1.0]},
        'results': results, 'calm': True,
        'targets': stats.targets(results),
        'proxy_idle_cpu_cores': {'1': 0.02},
        'fleet': {'bound_ms': 100.0, 'speedup': 1.0,
                  'calls_per_node_per_s': 0.18, 'steps': [step],
                  'tasks': [{'name': 'heartbeat', 'interval_s': 10.0,
                             'calls': 1}],
                  'best': step, 'limited_by_max_nodes': True,
                  'capacity': fleet.capacity_model(step, 0.18)},
    }


def test_markdown_has_rows_ratios_targets_and_fleet():
    text = report.markdown(_report())
    assert '| proxy-1 | 16 | 450 | 30.00 | 60.00 | 100 | 1600 | 50 | 40 | ' \
        '0.50× | 1.88× | - | 2.00× |' in text
    assert '| throughput, 16 callers, 1 proxy process (retired) | proxy ' \
        '>= 0.9 x oslo echo calls/s: printed, not judged | 450 | oslo ' \
        'calls/s 900 | 0.50× | 0.90× | not judged |  | - | - |' in text
    # Without raw-sql, the CPU target has its oslo floor and no verdict.
    assert '| proxy CPU per call, 16 caller(s) | proxy-1 server <= 1.15 x ' \
        '(oslo server + raw-sql client), stretch 1.0 x | 1600 | oslo ' \
        'server 800 + raw-sql client - | - | 1.15× | n/a | n/a | 60.00 | ' \
        '450 |' in text
    assert '\nCalm run: yes' in text
    assert 'Largest fleet under the bound: 200 nodes' in text
    assert '(heartbeat every 10 s)' in text
    # Reports from before the fleet signed have no nonces: '-'.
    assert '| 200 | 36 | 36 | 3.0 | 20.0 | 2000 | 400 | 500 | - | yes |' \
        in text
    step = _report()
    step['fleet']['steps'][0]['nonces_recorded'] = 181
    assert '| 200 | 36 | 36 | 3.0 | 20.0 | 2000 | 400 | 500 | 181 | yes |' \
        in report.markdown(step)
    assert '| proxy | 2000 | 2778 | 7.2 |' in text
    # No echo floor in this report: no line for it.
    assert 'Its floor' not in text
    with_floor = _report()
    echo = dict(with_floor['fleet']['steps'][0], proxy_processes=0,
                echo_processes=2, calls_per_s=36.0, p99_ms=9.5,
                cpu_us_per_call={'server': 500.0, 'broker': 300.0})
    with_floor['fleet']['echo'] = echo
    with_floor['fleet']['capacity'] = fleet.capacity_model(
        with_floor['fleet']['best'], 0.18, echo)
    text_with_floor = report.markdown(with_floor)
    assert 'Its floor: the same 200 nodes, tasks and calls, each call ' \
        'made to the oslo.messaging echo server (2 processes): 36 calls/s, ' \
        'p99 9.5 ms, 500 µs of echo server CPU per call; the proxy\'s is ' \
        '4.00× that.' in text_with_floor
    assert '| oslo echo (floor) | 500 | 11111 | 1.8 |' in text_with_floor
    # Without its raw AMQP floor: no line, no row.
    assert 'raw AMQP echo' not in text_with_floor
    raw = dict(echo, p99_ms=2.5, calls_per_s=35.0,
               cpu_us_per_call={'server': 250.0, 'broker': 200.0})
    with_floor['fleet']['amqp_echo'] = raw
    with_floor['fleet']['capacity'] = fleet.capacity_model(
        with_floor['fleet']['best'], 0.18, echo, raw)
    text_with_floors = report.markdown(with_floor)
    assert 'Its floor: the same 200 nodes, tasks and calls, each call ' \
        'made to the raw AMQP echo server (2 processes): 35 calls/s, ' \
        'p99 2.5 ms, 250 µs of echo server CPU per call; the proxy\'s is ' \
        '8.00× that.' in text_with_floors
    # After the oslo.messaging floor's line.
    assert text_with_floors.index('the raw AMQP echo server') > \
        text_with_floors.index('the oslo.messaging echo server')
    assert '| raw AMQP echo (floor) | 250 | 22222 | 0.9 |' in \
        text_with_floors
    # Without the database's floor: no line for it.
    assert 'database\'s floor' not in text_with_floors
    with_floor['fleet']['driver'] = dict(
        echo, proxy_processes=2, driver_operations_per_call=2.5, errors=0,
        driver_background_operations_per_call=0.25,
        cpu_us_per_call={'server': 2100.0, 'driver': 250.0,
                         'driver_background': 20.0})
    with_floor['fleet']['capacity'] = fleet.capacity_model(
        with_floor['fleet']['best'], 0.18, echo, raw,
        with_floor['fleet']['driver'])
    text_with_driver = report.markdown(with_floor)
    assert 'Its database\'s floor: the same 200 nodes on 2 proxy processes ' \
        'with their psycopg2 timed (``drivercpu``): 36 calls/s, p99 9.5 ' \
        'ms, 0 errors; 250 µs of the ' \
        'driver\'s own CPU per call in the threads serving the calls ' \
        '(2.50 statements, commits and rollbacks per call), 20 µs more in ' \
        'their other threads (0.25 operations), of 2100 µs of those ' \
        'proxies\' CPU per call ' \
        '(timing included); the proxy\'s CPU per call is 2.67× (oslo echo ' \
        '+ psycopg2, 750 µs) and 4.00× (raw AMQP echo + psycopg2, 500 µs).' \
        in text_with_driver
    assert '| psycopg2 in the proxies (floor) | 250 | 22222 | 0.9 |' in \
        text_with_driver
    assert '| raw AMQP echo + psycopg2 (floor) | 500 | 11111 | 1.8 |' in \
        text_with_driver
    # A floor's run over the bound says so; one that could not be taken
    # says why, and gives no row.
    with_floor['fleet']['driver']['good'] = False
    assert '0 errors (over the bound: the floor is read all the same); ' \
        '250 µs' in report.markdown(with_floor)
    with_floor['fleet']['driver'] = {'problem': 'RuntimeError: no proxy'}
    with_floor['fleet']['capacity'] = fleet.capacity_model(
        with_floor['fleet']['best'], 0.18, echo, raw,
        with_floor['fleet']['driver'])
    text_without = report.markdown(with_floor)
    assert 'Its database\'s floor: not measured: RuntimeError: no proxy.' \
        in text_without
    assert 'psycopg2 in the proxies' not in text_without
    assert '1 process(es): 0.020' in text
    assert text.startswith(
        'Machine: 2 cores; load average 0.50, 0.25, 0.12 at the start; '
        'load average 2.00, 1.50, 1.00 at the end')


def test_cpu_stolen_by_the_hypervisor_is_shown_when_known():
    data = _report()
    assert 'stolen' not in report.markdown(data)
    data.update(stolen_cpu_s=12.5, elapsed_s=250.0)
    assert '\nCPU stolen by the hypervisor during the run: 12.5 s, 2.5% ' \
        'of the machine\'s 2 cores over 250 s' in report.markdown(data)


def test_a_loaded_run_says_so_and_judges_nothing():
    data = _report()
    data['calm'] = False
    data['targets'] = stats.targets(data['results'], calm_run=False)
    text = report.markdown(data)
    assert '\nCalm run: NO' in text
    assert '| n/a |' not in text.partition('Targets')[2]
    assert 'not judged' in text


def test_markdown_compares_signed_and_nova_calls_with_the_1x_ones():
    data = _report()
    assert 'Signed calls' not in report.markdown(data)
    signed = _summary(200, 5.0, 8.0, 2000.0)
    signed['cpu_us_per_call']['client'] = 150.0
    data['results']['proxy-signed-1'] = {'1': signed}
    assert 'Signed calls, the same processes (proxy-signed-1 over ' \
        'proxy-1): 1 caller(s): proxy CPU per call 1.25×, client 1.50×, ' \
        'p50 1.25×.' in report.markdown(data)
    data['results']['proxy-nova-1'] = {'16': _summary(400, 35.0, 70.0,
                                                      1760.0)}
    assert "nova's Instance.save through the 2.x shim (proxy-nova-1 over " \
        "proxy-1): 16 caller(s): proxy CPU per call 1.10×" \
        in report.markdown(data)


def test_json_and_plot(tmp_path):
    data = _report()
    report.write_json(data, str(tmp_path / 'bench.json'))
    with open(tmp_path / 'bench.json') as f:
        assert json.load(f)['results']['oslo']['1']['p50_ms'] == 2.0
    report.plot(data, str(tmp_path / 'bench.png'))
    with open(tmp_path / 'bench.png', 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_profile_section_with_thread_split():
    data = _report()
    data['proxy_profile'] = {
        'samples': 10, 'callers': 16,
        'shares': {'database API (nova_proxy.db, SQLAlchemy, driver)': 0.5},
        'threads': {'calls': 100, 'busiest_us_per_call': 812.4,
                    'others_us_per_call': 2047.6, 'threads_that_ran': 65}}
    text = report.markdown(data)
    assert '| database API (nova_proxy.db, SQLAlchemy, driver) | 50% |' \
        in text
    assert 'the busiest thread (AMQP polling and decoding) 812 µs per ' \
        'call; the 64 other threads that ran' in text
    assert '2048 µs per call.' in text


def test_cannot_plot_says_why_in_one_line(monkeypatch):
    assert report.cannot_plot() is None
    # An install without the bench extra: matplotlib cannot be imported.
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    assert report.cannot_plot() == (
        "bench.png is not drawn: matplotlib is not installed "
        "(pip install 'nova-compute-proxy[bench]')")
