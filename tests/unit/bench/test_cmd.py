import pytest

from nova_proxy.cmd import bench


def test_defaults_are_the_full_run_on_postgresql():
    args = bench.parse_args([])
    assert args.profile == 'full'
    assert args.database == 'postgresql'
    assert args.overrides == {}
    assert args.fleet is True
    assert args.sample is False


def test_profile_samples_and_keeps_the_mode():
    args = bench.parse_args(['--quick', '--profile'])
    assert args.profile == 'quick'
    assert args.sample is True


def test_options():
    args = bench.parse_args([
        '--quick', '--database', 'sqlite', '--callers', '1,4',
        '--set', 'DEFAULT.executor_thread_pool_size=16',
        '--set', 'oslo_messaging_rabbit.rabbit_qos_prefetch_count=8',
        '--set', 'debug=true', '--scenarios', 'direct,oslo', '--no-fleet'])
    assert args.profile == 'quick'
    assert args.callers == [1, 4]
    assert args.overrides == {
        'DEFAULT': {'executor_thread_pool_size': '16', 'debug': 'true'},
        'oslo_messaging_rabbit': {'rabbit_qos_prefetch_count': '8'}}
    assert args.scenarios == ['direct', 'oslo']
    assert args.fleet is False


@pytest.mark.parametrize('argv', [
    ['--set', 'no-equals-sign'],
    ['--scenarios', 'direct,warp-drive'],
    ['--quick', '--smoke'],
    ['--database', 'oracle'],
])
def test_bad_arguments_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as e:
        bench.parse_args(argv)
    assert e.value.code == 2


def test_a_run_without_matplotlib_writes_its_figures_and_says_so(
        tmp_path, monkeypatch, capsys):
    # An operator's install without the bench extra: the run's tables
    # are written, bench.png is not, and the run says so up front in
    # one line instead of ending in a traceback.
    import sys

    from nova_proxy.bench import runner
    from tests.unit.bench import test_report

    class _Bench:
        def __init__(self, *args, **kwargs):
            pass

        def run(self):
            return dict(test_report._report(), elapsed_s=1.0)

    monkeypatch.setattr(runner, 'Bench', _Bench)
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    assert bench.main(['--output-dir', str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "bench.png is not drawn: matplotlib is not installed "
        "(pip install 'nova-compute-proxy[bench]')"]
    assert (tmp_path / 'bench.md').exists()
    assert (tmp_path / 'bench.json').exists()
    assert not (tmp_path / 'bench.png').exists()


def test_wait_calm_waits_before_the_run_starts(tmp_path, monkeypatch,
                                               capsys):
    # --wait-calm: the wait comes before the run reads its load at the
    # start, so a run that waited long enough is judged.
    from nova_proxy.bench import runner
    from nova_proxy.bench import stats
    from tests.unit.bench import test_report
    order = []

    class _Bench:
        def __init__(self, *args, **kwargs):
            pass

        def run(self):
            order.append('run')
            return dict(test_report._report(), elapsed_s=1.0)

    def wait_for_calm(seconds, progress):
        order.append(('wait', seconds))
        progress('waiting')
        return True

    monkeypatch.setattr(runner, 'Bench', _Bench)
    monkeypatch.setattr(stats, 'wait_for_calm', wait_for_calm)
    assert bench.main(['--wait-calm', '900', '--output-dir',
                       str(tmp_path)]) == 0
    assert order == [('wait', 900.0), 'run']
    assert 'waiting' in capsys.readouterr().err.splitlines()
    # Without it, no wait.
    del order[:]
    assert bench.main(['--output-dir', str(tmp_path)]) == 0
    assert order == ['run']
