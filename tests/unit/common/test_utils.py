import pytest

from nova_proxy.common import utils


def test_wait_for_returns_the_first_truthy_value():
    values = iter([0, None, 'ready'])
    assert utils.wait_for(lambda: next(values), timeout=5,
                          interval=0) == 'ready'


def test_wait_for_reports_the_last_error_on_timeout():
    def broken():
        raise ValueError('not yet')
    with pytest.raises(AssertionError) as e:
        utils.wait_for(broken, timeout=0.05, interval=0.01,
                       message='the thing', error=AssertionError)
    assert 'the thing' in str(e.value) and 'not yet' in str(e.value)


def test_write_config_leaves_out_none_values(tmp_path):
    from oslo_config import cfg
    path = utils.write_config(str(tmp_path / 'x.conf'), {
        'DEFAULT': {'host': 'h1', 'debug': None},
        'proxy': {'topic': 't'}})
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.StrOpt('host'))
    conf.register_opt(cfg.StrOpt('debug'))
    conf.register_opt(cfg.StrOpt('topic'), group='proxy')
    conf(['--config-file', path])
    assert (conf.host, conf.debug, conf.proxy.topic) == ('h1', None, 't')
