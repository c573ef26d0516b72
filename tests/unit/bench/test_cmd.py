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
