"""``nova-compute-proxy-manage server ...`` maps its arguments onto the
compute_task API exactly, and ``--wait`` follows the operation."""

import io
import json
from unittest import mock

from oslo_config import cfg
import pytest

from nova_proxy.cmd import manage
from nova_proxy.orchestration import server_cli

CONF = cfg.CONF


def _record(status='pending', step=None, progress=0, op_id='op-1'):
    return {'id': op_id, 'kind': 'migrate', 'instance_uuid': 'u', 'status':
            status, 'step': step, 'progress': progress, 'owner': 'p',
            'epoch': 1, 'attempts': 1, 'error': None, 'created_at': None,
            'updated_at': None, 'params': {}, 'state': {}}


@pytest.fixture
def api():
    with mock.patch.object(server_cli.rpcapi, 'ComputeTaskAPI') as cls:
        yield cls.return_value


def _run(argv):
    CONF.clear()  # forget the parsed command line; options stay registered
    CONF.register_cli_opt(manage.command_opt)
    try:
        CONF(argv, project='nova-compute-proxy')
        CONF.command.func()
    finally:
        CONF.clear()
        CONF.unregister_opt(manage.command_opt)
        CONF([], project='nova-compute-proxy')


def test_build_passes_name_flavor_and_host(api, capsys):
    api.build_instance.return_value = _record()
    _run(['server', 'build', 'web-1', '--flavor', 'm1.small', '--host',
          'cmp-2'])
    (_, values), kwargs = api.build_instance.call_args
    assert values['display_name'] == 'web-1'
    assert values['instance_type_name'] == 'm1.small'
    assert (values['memory_mb'], values['vcpus'], values['root_gb']) == (
        2048, 1, 20)
    assert kwargs == {'host': 'cmp-2'}
    # One line, not the record.
    assert capsys.readouterr().out == (
        'Accepted migrate of instance u as operation op-1 (pending on p); '
        'follow it with: nova-compute-proxy-manage server watch op-1\n')


def test_build_prints_the_record_in_a_format_for_scripts(api, capsys):
    api.build_instance.return_value = _record()
    _run(['server', 'build', 'web-1', '-f', 'value', '-c', 'id'])
    assert capsys.readouterr().out == 'op-1\n'
    _run(['server', 'build', 'web-1', '-f', 'json'])
    shown = json.loads(capsys.readouterr().out)
    assert shown['id'] == 'op-1' and shown['status'] == 'pending'


def test_resize_sends_the_named_flavor_and_destination(api):
    api.migrate_server.return_value = _record()
    _run(['server', 'resize', 'uuid-1', '--flavor', 'm1.large'])
    api.migrate_server.assert_called_once_with(
        mock.ANY, 'uuid-1', dest_host=None,
        flavor=server_cli.FLAVORS['m1.large'])


def test_migrate_without_flavor(api):
    api.migrate_server.return_value = _record()
    _run(['server', 'migrate', 'uuid-1', '--host', 'cmp-3'])
    api.migrate_server.assert_called_once_with(mock.ANY, 'uuid-1',
                                               dest_host='cmp-3')


def test_unknown_flavor_is_a_clear_error(api):
    with pytest.raises(SystemExit) as e:
        _run(['server', 'resize', 'uuid-1', '--flavor', 'm9.huge'])
    assert str(e.value).startswith('Error: Unknown flavor m9.huge')
    api.migrate_server.assert_not_called()


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _changes(api):
    api.operation_get.side_effect = [
        _record('running', 'prep_resize', 0),
        _record('running', 'prep_resize', 0),
        _record('running', 'resize_instance', 40),
        _record('done', None, 100)]


def _ticks():
    """A clock that moves one second per reading."""
    seconds = iter(range(100))
    return lambda: next(seconds)


def test_watch_piped_prints_a_line_per_change(api):
    _changes(api)
    out = io.StringIO()
    final = server_cli.watch('op-1', interval=0, out=out, clock=_ticks())
    assert final['status'] == 'done'
    assert out.getvalue().splitlines() == [
        'op-1 migrate of u: running, step prep_resize, 0%, on p',
        'op-1 migrate of u: running, step resize_instance, 40%, on p',
        'op-1 migrate of u: done',
        'Operation op-1 done after 1.0 s']
    assert '\r' not in out.getvalue()


def test_watch_on_a_terminal_rewrites_one_line(api):
    _changes(api)
    out = Terminal()
    server_cli.watch('op-1', interval=0, out=out, clock=_ticks())
    text = out.getvalue()
    # One line, rewritten with a carriage return at each poll, ended once.
    assert text.count('\n') == 1 and text.endswith('\n')
    updates = text.rstrip('\n').split('\r')[1:]
    assert [u.rstrip() for u in updates] == [
        'op-1 migrate of u: running, step prep_resize, 0%, on p (1 s)',
        'op-1 migrate of u: running, step prep_resize, 0%, on p (2 s)',
        'op-1 migrate of u: running, step resize_instance, 40%, on p (3 s)',
        'op-1 migrate of u: done (4 s)',
        'Operation op-1 done after 5.0 s']
    # A shorter line blanks what the longer one before it left.
    assert len(updates[3]) == len(updates[2].rstrip())


def test_wait_with_a_format_keeps_stdout_for_the_record(api, capsys):
    api.migrate_server.return_value = _record()
    api.operation_get.return_value = _record('done', None, 100)
    with mock.patch.object(server_cli.time, 'sleep'):
        _run(['server', 'migrate', 'uuid-1', '--wait', '-f', 'json'])
    captured = capsys.readouterr()
    assert json.loads(captured.out)['status'] == 'done'
    assert 'Operation op-1 done after' in captured.err


def test_wait_exits_non_zero_when_the_operation_rolls_back(api):
    api.confirm_resize.return_value = _record()
    api.operation_get.return_value = dict(_record('rolled_back'),
                                          error='boom')
    with mock.patch.object(server_cli.time, 'sleep'):
        with pytest.raises(SystemExit) as e:
            _run(['server', 'confirm-resize', 'uuid-1', '--wait'])
    assert e.value.code == 1
