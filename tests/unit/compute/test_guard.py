"""In a compute process the database layer is out of reach.

Each case runs in a subprocess: blocking is for good, and must not poison
this test process.
"""

import subprocess
import sys
import textwrap

import pytest

from nova_proxy.compute import service
from nova_proxy.db import guard


def run(code):
    result = subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_importing_the_db_api_after_blocking_raises():
    out = run('''
        import nova_proxy.cmd
        import sys
        from nova_proxy.compute import service
        from nova_proxy import exception
        message = service.block_database()
        print('probe:', message)
        for name in ('nova_proxy.db.api', 'nova_proxy.db.session',
                     'nova_proxy.db.migration'):
            assert name not in sys.modules, name
            try:
                __import__(name)
            except exception.DBNotAllowed as e:
                print('import %s: %s' % (name, e))
            else:
                raise SystemExit('imported %s' % name)
    ''')
    assert 'probe: nova-compute-proxy-compute attempted direct database ' \
           'access' in out
    assert out.count('attempted direct database access') == 4


def test_calling_an_already_imported_db_api_raises():
    out = run('''
        import nova_proxy.cmd
        from nova_proxy.db import api
        from nova_proxy.common import context
        from nova_proxy.compute import service
        from nova_proxy import exception
        service.block_database()
        try:
            api.instance_get_by_uuid(context.get_admin_context(),
                                     '5f6e3d1c-0000-4000-8000-000000000001')
        except exception.DBNotAllowed as e:
            print('call refused:', e)
    ''')
    assert 'call refused: nova-compute-proxy-compute attempted direct ' \
           'database access' in out


def test_the_compute_service_module_does_not_import_the_db_layer():
    out = run('''
        import nova_proxy.cmd
        import sys
        import nova_proxy.cmd.compute
        print(sorted(m for m in sys.modules
                     if m.startswith('nova_proxy.db.')))
    ''')
    assert out.strip() == "['nova_proxy.db.guard']"


def test_console_script_blocks_before_parsing_config():
    # main() blocks, then fails on a config file that does not exist: the
    # block is already in place when the configuration is read.
    out = run('''
        import nova_proxy.cmd
        from nova_proxy.cmd import compute
        from nova_proxy.db import guard
        from nova_proxy import exception
        try:
            compute.main(['x', '--config-file', '/nonexistent/x.conf'])
        except BaseException as e:
            print('stopped by', type(e).__name__)
        try:
            guard.check_db_access()
        except exception.DBNotAllowed:
            print('blocked')
    ''')
    assert 'stopped by' in out
    assert 'blocked' in out


def test_the_service_refuses_to_start_if_the_block_does_not_hold(
        monkeypatch, db):
    monkeypatch.setattr(guard, 'block_db_access', lambda binary: None)
    with pytest.raises(RuntimeError, match='not blocked'):
        service.block_database()
