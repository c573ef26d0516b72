"""``nova-compute-proxy-manage service list|set-topic``, as an operator
runs them: a subprocess on a configuration file, against the database."""

import json
import subprocess
import sys

from nova_proxy.db import api as db_api


def _manage(db, tmp_path, argv, topic='compute'):
    conf_file = tmp_path / 'manage.conf'
    conf_file.write_text('[database]\nconnection = %s\n[compute]\ntopic = %s\n'
                         % (db, topic))
    return subprocess.run(
        [sys.executable, '-m', 'nova_proxy.cmd.manage', '--config-file',
         str(conf_file)] + argv, capture_output=True, text=True, timeout=120)


def _services(admin_context):
    """Two computes, one registered on another topic at its first start,
    and a service of another binary."""
    made = {}
    for host, binary, topic in (('cn-1', 'nova-compute', 'compute'),
                                ('cn-2', 'nova-compute', 'old_compute'),
                                ('cn-2', 'nova-scheduler', 'scheduler')):
        made[host, binary] = db_api.service_create(admin_context, {
            'host': host, 'binary': binary, 'topic': topic})
    return made


def test_list_names_the_computes_on_another_topic(db, admin_context,
                                                  tmp_path):
    _services(admin_context)
    table = _manage(db, tmp_path, ['service', 'list'])
    assert table.returncode == 0, table.stderr
    rows = [[c.strip() for c in line.strip('|').split('|')]
            for line in table.stdout.splitlines() if line.startswith('| ')]
    assert [r[1:4] for r in rows[1:]] == [
        ['cn-1', 'nova-compute', 'compute'],
        ['cn-2', 'nova-compute', 'old_compute'],
        ['cn-2', 'nova-scheduler', 'scheduler']]
    assert ("1 compute service names another topic than 'compute'"
            in table.stdout)
    assert 'cn-2;' in table.stdout and 'cn-1' not in table.stdout.split(
        'another topic')[1]

    computes = json.loads(_manage(db, tmp_path, [
        'service', 'list', '--binary', 'nova-compute', '-f', 'json']).stdout)
    assert [(s['host'], s['topic']) for s in computes] == [
        ('cn-1', 'compute'), ('cn-2', 'old_compute')]
    # A binary no record has (a typo, say) says so.
    none = _manage(db, tmp_path, ['service', 'list', '--binary',
                                  'nova-comput'])
    assert (none.returncode, none.stdout) == (
        0, "No service records of binary 'nova-comput'.\n")


def test_set_topic_writes_the_configured_topic(db, admin_context, tmp_path):
    made = _services(admin_context)
    cn2 = made['cn-2', 'nova-compute']
    done = _manage(db, tmp_path, ['service', 'set-topic', '--host', 'cn-2'])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "Service %d (nova-compute on cn-2): topic 'compute', was "
        "'old_compute'." % cn2['id'])
    assert db_api.service_get(admin_context, cn2['id'])['topic'] == 'compute'
    # Nothing else changed, and the listing has nothing left to name.
    assert db_api.service_get(
        admin_context, made['cn-2', 'nova-scheduler']['id'])['topic'] == \
        'scheduler'
    assert 'another topic' not in _manage(db, tmp_path,
                                          ['service', 'list']).stdout

    again = _manage(db, tmp_path, ['service', 'set-topic', '--host', 'cn-2'])
    assert again.returncode == 0
    assert 'has topic \'compute\' already' in again.stdout

    named = _manage(db, tmp_path, ['service', 'set-topic', '--host', 'cn-1',
                                   '--topic', 'compute_b'])
    assert named.returncode == 0, named.stderr
    assert db_api.service_get(
        admin_context, made['cn-1', 'nova-compute']['id'])['topic'] == \
        'compute_b'


def test_set_topic_mistakes_end_in_one_line(db, admin_context, tmp_path):
    made = _services(admin_context)
    # Only a nova-compute record: a scheduler's would otherwise get the
    # compute topic.
    other = _manage(db, tmp_path, ['service', 'set-topic', '--host', 'cn-2',
                                   '--binary', 'nova-scheduler'])
    assert other.returncode == 2
    assert other.stderr.splitlines()[-1].endswith(
        'error: unrecognized arguments: --binary nova-scheduler')
    for argv, expected in (
            (['--host', 'cn-9'],
             'Error: Could not find binary nova-compute on host cn-9.'),
            # The host's scheduler has that topic: nova's unique key.
            (['--host', 'cn-2', '--topic', 'scheduler'],
             'Error: Service with host cn-2 topic scheduler exists.'),
            (['--host', 'cn-2', '--topic', ' '],
             'Error: Field topic cannot be updated: empty')):
        result = _manage(db, tmp_path, ['service', 'set-topic'] + argv)
        assert result.returncode == 1, argv
        assert result.stderr.strip().splitlines() == [expected], \
            result.stderr
    assert db_api.service_get(
        admin_context, made['cn-2', 'nova-compute']['id'])['topic'] == \
        'old_compute'
