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
