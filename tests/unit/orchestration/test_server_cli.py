"""``nova-compute-proxy-manage server ...`` maps its arguments onto the
compute_task API exactly, and ``--wait`` follows the operation."""

import io
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
    assert 'op-1' in capsys.readouterr().out


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
    assert 'm9.huge' in str(e.value)
    api.migrate_server.assert_not_called()


def test_watch_prints_each_change_and_returns_the_final_record(api):
    api.operation_get.side_effect = [
        _record('running', 'prep_resize', 0),
        _record('running', 'prep_resize', 0),
        _record('running', 'resize_instance', 40),
        _record('done', None, 100)]
    out = io.StringIO()
    final = server_cli.watch('op-1', interval=0, out=out)
    assert final['status'] == 'done'
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert 'resize_instance' in lines[1] and ' 40%' in lines[1]


def test_wait_exits_non_zero_when_the_operation_rolls_back(api):
    api.confirm_resize.return_value = _record()
    api.operation_get.return_value = dict(_record('rolled_back'),
                                          error='boom')
    with mock.patch.object(server_cli.time, 'sleep'):
        with pytest.raises(SystemExit) as e:
            _run(['server', 'confirm-resize', 'uuid-1', '--wait'])
    assert e.value.code == 1
