"""``nova-compute-proxy-manage operation list|show`` in every format."""

import csv
import io
import json
import subprocess
import sys

import yaml

from nova_proxy.orchestration import journal

UUID = '11111111-2222-3333-4444-555555555555'
LONG_ERROR = 'oops ' * 30


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


def _journal(admin_context):
    record, _ = journal.create(admin_context, 'op-1', 'migrate', UUID,
                               'proxy-a')
    journal.fenced_write(admin_context, record, {
        'status': 'running', 'step': 'resize_instance', 'progress': 42,
        'error': LONG_ERROR})
    journal.create(admin_context, 'op-2', 'build', UUID, 'proxy-b')


def test_list_formats(db, admin_context, tmp_path):
    _journal(admin_context)

    table = _manage(db, tmp_path, ['operation', 'list'])
    assert table.rc == 0, table.err
    lines = table.out.splitlines()
    # A bordered table: border, header, border, two rows, border.
    assert len(lines) == 6 and lines[0].startswith('+-')
    assert [c.strip() for c in lines[1].strip('|').split('|')][:7] == [
        'id', 'kind', 'instance_uuid', 'status', 'step', 'progress',
        'owner']
    row = [line for line in lines if '| op-1 ' in line][0]
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[1:7] == ['migrate', UUID, 'running', 'resize_instance',
                          '42', 'proxy-a']
    # The table cuts a long error; the other formats carry it whole.
    assert cells[-1].endswith('...') and len(cells[-1]) == 60

    records = json.loads(_manage(db, tmp_path, ['operation', 'list', '-f',
                                                'json']).out)
    by_id = {r['id']: r for r in records}
    assert set(by_id) == {'op-1', 'op-2'}
    assert by_id['op-1']['progress'] == 42
    assert by_id['op-1']['error'] == LONG_ERROR

    assert yaml.safe_load(_manage(db, tmp_path, [
        'operation', 'list', '-f', 'yaml']).out) == records

    rows = list(csv.reader(io.StringIO(_manage(db, tmp_path, [
        'operation', 'list', '-f', 'csv', '-c', 'id', '-c', 'status',
        '-c', 'progress']).out)))
    assert rows[0] == ['id', 'status', 'progress']
    assert sorted(rows[1:]) == [['op-1', 'running', '42'],
                                ['op-2', 'pending', '0']]

    value = _manage(db, tmp_path, ['operation', 'list', '--status',
                                   'pending', '-f', 'value', '-c', 'id'])
    assert value.out == 'op-2\n'

    bad = _manage(db, tmp_path, ['operation', 'list', '-c', 'nope'])
    assert bad.rc == 1
    assert bad.err.strip().startswith('Error: no column nope; the columns')


def test_show_formats(db, admin_context, tmp_path):
    _journal(admin_context)
    table = _manage(db, tmp_path, ['operation', 'show', 'op-1'])
    assert table.rc == 0, table.err
    assert '| Field ' in table.out and '| Value ' in table.out
    assert '| epoch ' in table.out and 'resize_instance' in table.out

    shown = json.loads(_manage(db, tmp_path, ['operation', 'show', 'op-1',
                                              '-f', 'json']).out)
    assert shown['step'] == 'resize_instance'
    assert shown['params'] == {} and shown['state'] == {}
    assert yaml.safe_load(_manage(db, tmp_path, [
        'operation', 'show', 'op-1', '-f', 'yaml']).out) == shown
    value = _manage(db, tmp_path, ['operation', 'show', 'op-1', '-f',
                                   'value', '-c', 'status', '-c', 'owner'])
    assert value.out == 'running\nproxy-a\n'

    missing = _manage(db, tmp_path, ['operation', 'show', 'nope'])
    assert missing.rc == 1
    assert 'Operation nope could not be found' in missing.err
