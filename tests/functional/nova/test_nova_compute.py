"""nova's own nova-compute, unchanged, on the proxies.

``nova-compute-proxied`` (``nova_proxy.compute.nova_compute``) is
started as a process of its own with nova's fake virt driver, a
configuration with no database and no conductor, this host's key, and
the test's placement (``placement.py``). Through the shim alone it must
register its service and keep its heartbeat, create its compute node
from what the driver reports, and finish ``update_available_resource``
(the node's inventory reaches placement); its log must hold no error.
The proxies confine it to its host, as every signed compute.
"""

import os
import subprocess
import sys

import pytest

from tests.functional.nova import conftest
from tests.functional.nova import placement as placement_api
from tests.functional.procs import wait_for

HOST = conftest.HOST


def _log_errors(path):
    try:
        with open(path) as f:
            return [line for line in f if ' ERROR ' in line]
    except FileNotFoundError:
        return []


def test_nova_compute_registers_and_reports_through_the_proxies(
        nova, tmp_path):
    placement = placement_api.Placement().start()
    log_file = str(tmp_path / 'nova-compute.log')
    conf = conftest._nova_conf(
        nova.cluster, nova.keys, HOST, str(tmp_path), extra={
            'DEFAULT': {'compute_driver': 'fake.FakeDriver',
                        'instances_path': str(tmp_path / 'instances'),
                        'log_file': log_file,
                        'report_interval': '1'},
            'placement': {'auth_type': 'none',
                          'endpoint_override': placement.url}})
    proc = subprocess.Popen(
        [sys.executable, '-m', 'nova_proxy.compute.nova_compute',
         '--config-file', conf], cwd=str(tmp_path),
        stdout=open(str(tmp_path / 'nova-compute.out'), 'w'),
        stderr=subprocess.STDOUT,
        start_new_session=True, env=dict(
            os.environ, PYTHONPATH=os.pathsep.join(filter(None, [
                conftest.REPO, os.environ.get('PYTHONPATH')]))))
    try:
        def alive_and(predicate):
            # A nova-compute that exited fails the test at once, with its
            # output.
            def check():
                if proc.poll() is not None:
                    with open(str(tmp_path / 'nova-compute.out')) as out:
                        pytest.fail('nova-compute exited: %s'
                                    % out.read()[-3000:])
                return predicate()
            return check

        def heartbeats():
            service = nova.control_plane('service_get_by_compute_host',
                                         host=HOST)
            return service if service['report_count'] >= 3 else None

        service = wait_for(alive_and(heartbeats), timeout=120,
                           interval=0.5, message='nova-compute heartbeats')
        assert service['binary'] == 'nova-compute'
        assert service['version'] > 0

        def reported():
            return [rp for rp in placement.providers.values()
                    if rp['inventories'].get('VCPU')]

        (provider,) = wait_for(alive_and(reported), timeout=120,
                               interval=0.5,
                               message='the node inventory in placement')
        (node,) = nova.control_plane('compute_node_get_all_by_host',
                                     host=HOST)
        assert node['hypervisor_hostname'] == provider['name']
        assert node['service_id'] == service['id']
        assert node['vcpus'] == provider['inventories']['VCPU']['total']
        assert node['memory_mb'] > 0 and node['uuid']
        assert _log_errors(log_file) == []
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        placement.stop()
    assert proc.returncode == 0 or proc.returncode == -15


def test_without_nova_it_ends_in_one_line(tmp_path):
    # A virtualenv's python with no nova: the module's main alone.
    script = ('import sys; sys.modules["nova"] = None; '
              'from nova_proxy.compute import nova_compute; '
              'sys.exit(nova_compute.main())')
    result = subprocess.run([sys.executable, '-c', script],
                            capture_output=True, text=True, timeout=60,
                            cwd=conftest.REPO)
    assert result.returncode == 1
    assert result.stderr.startswith('Error: nova is not installed')
    assert len(result.stderr.strip().splitlines()) == 1
