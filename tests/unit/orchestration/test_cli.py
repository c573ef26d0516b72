"""``nova-compute-proxy-manage operation list|show``."""

import subprocess
import sys

from nova_proxy.orchestration import journal

UUID = '11111111-2222-3333-4444-555555555555'


class Result:
    def __init__(self, proc):
        self.rc, self.out, self.err = (proc.returncode, proc.stdout,
                                       proc.stderr)


def _manage(db, tmp_path, argv):
    conf_file = tmp_path / 'manage.conf'
    conf_file.write_text('[database]\nconnection = %s\n' % db)
    return Result(subprocess.run(
        [sys.executable, '-m', 'nova_proxy.cmd.manage', '--config-file',
         str(conf_file)] + argv, capture_output=True, text=True,
        timeout=120))


def test_list_and_show(db, admin_context, tmp_path):
    record, _ = journal.create(admin_context, 'op-1', 'migrate', UUID,
                               'proxy-a')
    journal.fenced_write(admin_context, record, {
        'status': 'running', 'step': 'resize_instance', 'progress': 42,
        'error': 'oops'})
    journal.create(admin_context, 'op-2', 'build', UUID, 'proxy-b')
    result = _manage(db, tmp_path, ['operation', 'list'])
    assert result.rc == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split()[:7] == ['id', 'kind', 'instance_uuid', 'status',
                                    'step', 'progress', 'owner']
    assert len(lines) == 3
    row = [line for line in lines if line.startswith('op-1')][0].split()
    assert row[1:7] == ['migrate', UUID, 'running', 'resize_instance', '42',
                        'proxy-a']

    result = _manage(db, tmp_path,
                     ['operation', 'list', '--status', 'pending'])
    lines = result.out.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ['op-2']

    result = _manage(db, tmp_path, ['operation', 'show', 'op-1'])
    assert result.rc == 0
    assert 'resize_instance' in result.out and 'oops' in result.out
    assert 'epoch' in result.out

    result = _manage(db, tmp_path, ['operation', 'show', 'nope'])
    assert result.rc == 1
    assert 'Operation nope could not be found' in result.err
