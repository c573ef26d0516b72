"""The package as an operator installs it: an sdist and a wheel built
from this tree, the wheel installed (not editable) in a fresh virtualenv
with the ``[postgresql]`` and ``[mysql]`` extras, and the installed
console scripts run with the installed example configuration files: db
sync, a proxy, two compute services and a resize, on the real RabbitMQ
and a fresh PostgreSQL database. Then the shipped systemd units are
checked with ``systemd-analyze verify`` against the installed scripts.

The other tests import this tree (PYTHONPATH, or an editable install), so
they cannot see a module that the package leaves out: this one can. Its
processes run without PYTHONPATH, from a directory of their own.

pip reuses its cache of downloaded wheels: about 30 s in all once the
dependencies have been downloaded once.
"""

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import uuid
import zipfile

import pytest
import sqlalchemy as sa

from nova_proxy.common import utils
from tests import databases
from tests.functional import procs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
UNIT_PREFIX = '/opt/nova-compute-proxy/bin/'
UNITS = ('nova-compute-proxy.service', 'nova-compute-proxy-compute.service')
COMPUTES = ('compute-1', 'compute-2')


class Installed:

    def __init__(self, directory):
        self.directory = directory
        self.dist = os.path.join(directory, 'dist')
        self.venv = os.path.join(directory, 'venv')
        self.bin = os.path.join(self.venv, 'bin')
        self.share = os.path.join(self.venv, 'share', 'nova-compute-proxy')

    def artifact(self, suffix):
        names = [n for n in os.listdir(self.dist) if n.endswith(suffix)]
        assert len(names) == 1, names
        return os.path.join(self.dist, names[0])

    def run(self, argv, timeout=120, **kwargs):
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=timeout, cwd=self.directory,
                              env=clean_env(), **kwargs)


def clean_env():
    """This environment without what would import this tree's code."""
    env = dict(os.environ)
    env.pop('PYTHONPATH', None)
    return env


def _check(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _shared_directory(tmp_path_factory):
    """A directory of this test run, the same in every pytest-xdist
    worker: the tests of this module may run in both, and one install
    serves them all."""
    run = os.environ.get('PYTEST_XDIST_TESTRUNUID')
    if run is None:
        return tmp_path_factory.mktemp('wheel')
    path = tmp_path_factory.getbasetemp().parent / ('wheel-' + run)
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    directory = _shared_directory(tmp_path_factory)
    inst = Installed(str(directory))
    with open(str(directory / 'lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = directory / 'installed'
        if not done.exists():
            # "python -m build" makes the sdist, then the wheel from the
            # unpacked sdist: a file the sdist leaves out breaks the wheel.
            _check(inst.run([sys.executable, '-m', 'build', '--outdir',
                             inst.dist, ROOT], timeout=300))
            _check(inst.run([sys.executable, '-m', 'venv', inst.venv]))
            pip = os.path.join(inst.bin, 'pip')
            _check(inst.run([pip, 'install', '-q',
                             inst.artifact('.whl') + '[postgresql,mysql]'],
                            timeout=600))
            _check(inst.run([pip, 'check']))
            done.touch()
    return inst


def _source_modules():
    """Every module of this tree, as the package should install it."""
    names = set()
    for top, prefix in (('nova_proxy', 'nova_proxy'),
                        ('migrations', 'nova_proxy/db/migrations')):
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = [d for d in dirnames if d != '__pycache__']
            if '__init__.py' not in filenames:
                continue
            rel = os.path.relpath(dirpath, os.path.join(ROOT, top))
            for name in filenames:
                if name.endswith('.py'):
                    names.add(os.path.normpath(
                        os.path.join(prefix, rel, name)))
    return names


def test_the_wheel_holds_every_module_and_a_version_from_git(installed):
    wheel = zipfile.ZipFile(installed.artifact('.whl'))
    missing = _source_modules() - set(wheel.namelist())
    assert not missing
    assert 'nova_proxy/db/migrations/alembic.ini' in wheel.namelist()
    version = _check(installed.run([
        os.path.join(installed.bin, 'python'), '-c',
        'from importlib import metadata; '
        'print(metadata.version("nova-compute-proxy"))'])).strip()
    assert version != '0.0.0'
    assert version[0].isdigit()
    # The sdist and the wheel carry the same version, git's.
    assert os.path.basename(installed.artifact('.tar.gz')) == (
        'nova_compute_proxy-%s.tar.gz' % version)
    for kind, files in (('etc', ('nova-compute-proxy.conf', 'compute.conf')),
                        ('systemd', UNITS)):
        for name in files:
            assert os.path.isfile(os.path.join(installed.share, kind, name))


def test_the_installed_scripts_sync_serve_and_resize(installed, tmp_path):
    where = _check(installed.run([
        os.path.join(installed.bin, 'python'), '-c',
        'import nova_proxy; print(nova_proxy.__file__)']))
    assert where.startswith(installed.venv), where

    db_url = databases.create_database('postgresql', tmp_path)
    suffix = uuid.uuid4().hex[:10]
    # The installed examples, with a second file for what differs here:
    # this test's own exchange and topics (not the examples' agreed
    # ones, shared by every user of the broker), database and intervals.
    names = {'DEFAULT': {'transport_url': procs.RABBIT_URL,
                         'control_exchange': 'np-wheel-%s' % suffix,
                         'debug': 'false'},
             'proxy': {'topic': 'compute_proxy_%s' % suffix},
             'compute': {'topic': 'compute_%s' % suffix,
                         'report_interval': '1',
                         'fake_copy_seconds': '0.5'}}

    # The examples sign every call: keys where this test keeps them.
    keys = tmp_path / 'keys'

    def config(kind, host, extra):
        sections = {group: dict(values) for group, values in names.items()}
        sections['DEFAULT'].update(host=host, state_path=str(
            tmp_path / ('state-' + host)))
        for group, values in extra.items():
            sections.setdefault(group, {}).update(values)
        path = utils.write_config(str(tmp_path / (host + '.conf')),
                                  sections)
        example = os.path.join(installed.share, 'etc', kind + '.conf')
        return ['--config-file', example, '--config-file', path]

    proxy_args = config('nova-compute-proxy', 'proxy-1', {
        'DEFAULT': {'rpc_response_timeout': '30'},
        'database': {'connection': db_url},
        'proxy': {'workers': '1', 'host_keys_dir': str(keys)},
        'orchestration': {'poll_interval': '0.5'}})
    manage = [os.path.join(installed.bin, 'nova-compute-proxy-manage')
              ] + proxy_args
    daemons = []
    try:
        # First start, as the unit does it: db version refuses an empty
        # database (ExecStartPre), db sync fills it.
        assert installed.run(manage + ['db', 'version']).returncode == 1
        _check(installed.run(manage + ['db', 'sync']))
        _check(installed.run(manage + ['db', 'version']))
        _check(installed.run(manage + ['key', 'create', '--proxy']))
        for host in COMPUTES:
            _check(installed.run(manage + ['key', 'create', '--host', host]))

        def start(script, host, args):
            log = open(str(tmp_path / (host + '.log')), 'w')
            daemons.append(subprocess.Popen(
                [os.path.join(installed.bin, script)] + args,
                stdout=log, stderr=subprocess.STDOUT, cwd=str(tmp_path),
                env=clean_env(), start_new_session=True))

        start('nova-compute-proxy', 'proxy-1', proxy_args)
        for host in COMPUTES:
            start('nova-compute-proxy-compute', host,
                  config('compute', host, {'proxy_client': {
                      'key_file': str(keys / (host + '.key'))}}))
        engine = sa.create_engine(db_url)
        try:
            procs.wait_for(lambda: _computes_up(engine), timeout=90,
                           message='both computes reporting')
            _check(installed.run(manage + [
                'server', 'build', 'web-1', '--flavor', 'm1.tiny',
                '--host', COMPUTES[0], '--wait']))
            instance = _instance(engine, 'web-1')
            assert (instance.host, instance.memory_mb) == (COMPUTES[0], 512)
            _check(installed.run(manage + [
                'server', 'resize', instance.uuid, '--flavor', 'm1.small',
                '--host', COMPUTES[1], '--wait']))
            _check(installed.run(manage + [
                'server', 'confirm-resize', instance.uuid, '--wait']))
            instance = _instance(engine, 'web-1')
            assert (instance.host, instance.memory_mb, instance.vm_state,
                    instance.task_state) == (COMPUTES[1], 2048, 'active',
                                             None)
            # A proxy's refusals, one line each, without its traceback.
            for argv, words in (
                    (['server', 'confirm-resize', instance.uuid],
                     'has no finished resize'),
                    (['server', 'resize', instance.uuid, '--flavor',
                      'm1.medium', '--host', 'compute-9'], 'compute-9'),
                    (['server', 'watch', 'no-such-operation'],
                     'no-such-operation')):
                refused = installed.run(manage + argv)
                assert refused.returncode == 1, refused.stderr
                assert refused.stderr.startswith('Error: ')
                assert refused.stderr.count('\n') == 1, refused.stderr
                assert words in refused.stderr
        finally:
            engine.dispose()
        for popen in daemons:
            assert popen.poll() is None, 'a daemon died: see its log'
    finally:
        for popen in reversed(daemons):
            _stop(popen)
        databases.drop_database(db_url)


def _computes_up(engine):
    with engine.connect() as conn:
        up = {row.host for row in conn.execute(sa.text(
            'SELECT host FROM services WHERE report_count > 0 '
            'AND deleted = 0'))}
        nodes = {row.host for row in conn.execute(sa.text(
            'SELECT host FROM compute_nodes WHERE deleted = 0'))}
    return set(COMPUTES) <= up & nodes


def _instance(engine, name):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            'SELECT uuid, host, memory_mb, vm_state, task_state '
            'FROM instances WHERE display_name = :name AND deleted = 0'),
            {'name': name}).one()


def _stop(popen):
    try:
        os.killpg(popen.pid, signal.SIGTERM)
        popen.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=10)


@pytest.mark.skipif(shutil.which('systemd-analyze') is None,
                    reason='systemd-analyze is not installed here')
def test_the_units_verify_with_the_installed_scripts(installed, tmp_path):
    # The units name the scripts of a virtualenv at /opt/nova-compute-proxy;
    # docs/deploying.rst says to change that prefix for another one, as
    # here for this test's virtualenv.
    for name in UNITS:
        with open(os.path.join(installed.share, 'systemd', name)) as f:
            text = f.read()
        assert UNIT_PREFIX in text
        unit = tmp_path / name
        unit.write_text(text.replace(UNIT_PREFIX, installed.bin + '/'))
        result = subprocess.run(['systemd-analyze', 'verify', str(unit)],
                                capture_output=True, text=True, timeout=60)
        output = result.stdout + result.stderr
        # Complaints about the unit (an unknown key, a script that is not
        # there) name it; those about the host's own units do not.
        assert result.returncode == 0 and name not in output, output
