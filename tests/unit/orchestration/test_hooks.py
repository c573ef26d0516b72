"""The step test hook: parsing, once per process, per operation."""

import signal
from unittest import mock

import pytest

from nova_proxy.orchestration import hooks


def test_empty_hook_never_signals():
    with mock.patch('os.kill') as kill:
        hooks.StepHooks('').fire('before', 'prep_resize', 'op')
    kill.assert_not_called()


def test_hook_fires_once_at_its_point():
    h = hooks.StepHooks('after:resize_instance:kill,before:x:stop')
    with mock.patch('os.kill') as kill:
        h.fire('before', 'resize_instance', 'op')
        kill.assert_not_called()
        h.fire('after', 'resize_instance', 'op')
        h.fire('after', 'resize_instance', 'op')
        h.fire('before', 'x', 'op')
    assert [c.args[1] for c in kill.call_args_list] == [
        signal.SIGKILL, signal.SIGSTOP]


def test_hook_for_one_operation_waits_for_it():
    h = hooks.StepHooks('before:finish_resize:stop:op-2')
    with mock.patch('os.kill') as kill:
        h.fire('before', 'finish_resize', 'op-1')
        kill.assert_not_called()
        h.fire('before', 'finish_resize', 'op-2')
    kill.assert_called_once()


@pytest.mark.parametrize('spec', ['during:x:kill', 'before:x:explode',
                                  'before:x'])
def test_bad_spec_is_refused(spec):
    with pytest.raises(ValueError):
        hooks.StepHooks(spec)


def test_reads_the_environment(monkeypatch):
    monkeypatch.setenv(hooks.ENV, 'before:prep_resize:kill')
    with mock.patch('os.kill') as kill:
        hooks.StepHooks().fire('before', 'prep_resize')
    kill.assert_called_once()
