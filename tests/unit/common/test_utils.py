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


def test_keyed_locks_serialise_one_key_and_keep_nothing_after():
    import threading
    locks = utils.KeyedLocks()
    inside, order = threading.Event(), []

    def second():
        with locks.hold('a'):
            order.append('second')

    with locks.hold('a'):
        waiter = threading.Thread(target=second)
        waiter.start()
        with locks.hold('b'):  # another key does not wait
            inside.set()
        # The second waits on the first's lock for 'a'.
        utils.wait_for(lambda: locks._locks['a'][1] == 2, timeout=10)
        assert len(locks) == 1
        order.append('first')
    waiter.join(10)
    assert inside.is_set() and order == ['first', 'second']
    assert len(locks) == 0
