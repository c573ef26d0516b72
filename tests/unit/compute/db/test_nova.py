"""The shim inside a nova process: nova's options untouched, and
``nova.enable()`` putting the shim under nova's unchanged objects.

Each case runs in a subprocess: nova registers its options on the global
CONF, where this test process has ours (the same names, other options).
The proxies are replaced by a client that records the calls and answers
from a table, at the point where a call would leave the process.
"""

import json
import subprocess
import sys
import textwrap

import pytest

# Runs first in each subprocess: nova's own first line, then a fake wire.
_PRELUDE = '''
from nova import monkey_patch; monkey_patch.patch(backend='threading')
import json
from nova_proxy.compute.db import _client
from nova_proxy.proxy import rpcapi

SENT = []
ANSWERS = {}


class FakeClient:
    def prepare(self, version=None, **deadline):
        # rpc.call_within prepares each attempt's timeout and retry=0.
        if version is not None:
            self.version = version
        return self

    def call(self, context, method, **kwargs):
        SENT.append([method, self.version, context.get('compute_host'),
                     kwargs])
        answer = ANSWERS[method]
        if isinstance(answer, Exception):
            raise answer
        return answer


rpcapi.NOVA_METHODS = dict(getattr(rpcapi, 'NOVA_METHODS', {}), **{
    name: ('2.0', True) for name in (
        'service_get_by_compute_host', 'compute_node_get_all_by_uuids',
        'instance_get_all_by_host_and_node',
        'block_device_mapping_create_uuid', 'pci_device_create_uuid')})
_client._get_client = lambda: FakeClient()
'''


def run(code):
    result = subprocess.run(
        [sys.executable, '-W', 'ignore', '-c',
         _PRELUDE + textwrap.dedent(code)],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('shim_first', [True, False])
def test_nova_and_the_shim_share_a_process_with_novas_options(shim_first):
    facts = run('''
        if %r:
            from nova_proxy.compute.db import nova as proxy_db
            import nova.conf
        else:
            import nova.conf
            from nova_proxy.compute.db import nova as proxy_db
        from nova_proxy.conf import default
        CONF = nova.conf.CONF
        CONF(['--config-file', '/dev/null'], project='nova')
        print(json.dumps({
            'connection': CONF.database.connection,
            'host_is_novas': CONF._get_opt_info('host')['opt'] not in
                default.default_opts,
            'state_path_is_novas': CONF._get_opt_info('state_path')['opt']
                not in default.default_opts,
            'compute_upgrade_level': 'compute' in CONF.upgrade_levels,
            'proxy_client': CONF.proxy_client.rpc_timeout,
            'topic': CONF.proxy.topic,
            'cap': CONF.upgrade_levels.compute_proxy,
        }))
    ''' % shim_first)
    assert facts == {'connection': None, 'host_is_novas': True,
                     'compute_upgrade_level': True,
                     'state_path_is_novas': True, 'proxy_client': 60,
                     'topic': 'compute_proxy', 'cap': None}


def test_enable_puts_the_shim_under_novas_objects():
    out = run('''
        import nova.conf
        from nova import context
        from nova.db.main import api as nova_db
        from nova import exception
        from nova import objects
        from nova_proxy.compute import db as shim
        from nova_proxy.compute.db import nova as proxy_db
        nova.conf.CONF([], project='nova')
        objects.register_all()
        original = nova_db.service_get_by_compute_host
        proxy_db.enable()
        proxy_db.enable()  # idempotent
        ctx = context.get_admin_context()
        facts = {
            'replaced': nova_db.service_get_by_compute_host is
                shim.service_get_by_compute_host,
            'db_access': nova_db.DISABLE_DB_ACCESS,
        }
        # An object reading through nova's API, and nova's error class.
        row = {'id': 3, 'uuid': 'c4f0ee4e-0000-4000-8000-000000000003',
               'host': 'h1', 'binary': 'nova-compute', 'topic': 'compute',
               'report_count': 1, 'disabled': False,
               'disabled_reason': None, 'last_seen_up': None,
               'forced_down': False, 'version': 66,
               'created_at': '2026-01-02T03:04:05+00:00',
               'updated_at': None, 'deleted_at': None, 'deleted': 0}
        ANSWERS['service_get_by_compute_host'] = row
        service = objects.Service.get_by_compute_host(ctx, 'h1')
        facts['service'] = [service.id, service.host,
                            service.created_at.isoformat()]
        ANSWERS['service_get_by_compute_host'] = _client.exception \\
            .ComputeHostNotFound(host='h2')
        try:
            objects.Service.get_by_compute_host(ctx, 'h2')
        except exception.ComputeHostNotFound as e:
            facts['not_found'] = e.kwargs['host']
        # The methods that query the database themselves.
        ANSWERS['compute_node_get_all_by_uuids'] = []
        objects.ComputeNodeList.get_all_by_uuids(ctx, ['cn-1'])
        ANSWERS['instance_get_all_by_host_and_node'] = [
            {'uuid': 'i-1', 'host': 'h1'}, {'uuid': 'i-2', 'host': 'h1'}]
        facts['uuids'] = objects.InstanceList.get_uuids_by_host_and_node(
            ctx, 'h1', 'n1')
        ANSWERS['block_device_mapping_create_uuid'] = 'bdm-uuid'
        facts['bdm_uuid'] = objects.BlockDeviceMapping._create_uuid(ctx, 5)
        ANSWERS['pci_device_create_uuid'] = 'pci-uuid'
        facts['pci_uuid'] = objects.PciDevice._create_uuid(ctx, 6)
        refused = []
        for call in (
                lambda: objects.InstanceList.get_counts(ctx, 'p'),
                lambda: objects.InstanceList.get_count_by_hosts(ctx, ['h']),
                lambda: objects.InstanceList.get_count_by_vm_state(
                    ctx, 'p', 'u', 'active'),
                lambda: objects.ComputeNodeList.get_by_hypervisor_type(
                    ctx, 'qemu'),
                lambda: objects.SecurityGroupList._get_counts_from_db(
                    ctx, 'p'),
                lambda: objects.BlockDeviceMapping.populate_uuids(ctx, 5),
                lambda: objects.PciDevice.populate_dev_uuids(ctx, 5),
                lambda: objects.instance.populate_instance_compute_id(
                    ctx, 5),
                # Not in the shim (nova-compute does not call it):
                # nova's own, refused by its flag.
                lambda: nova_db.virtual_interface_get_all(ctx)):
            try:
                call()
            except exception.DBNotAllowed:
                refused.append(True)
        facts['refused'] = len(refused)
        manager = nova_db.get_context_manager(ctx)
        with manager.writer.independent.using(ctx):
            with manager.reader.using(ctx):
                facts['no_database'] = True
        facts['sent'] = SENT
        proxy_db.disable()
        facts['restored'] = (nova_db.service_get_by_compute_host is
                             original and not nova_db.DISABLE_DB_ACCESS)
        print(json.dumps(facts))
    ''')
    sent = out.pop('sent')
    assert out == {
        'replaced': True, 'db_access': True,
        'service': [3, 'h1', '2026-01-02T03:04:05+00:00'],
        'not_found': 'h2', 'uuids': ['i-1', 'i-2'],
        'bdm_uuid': 'bdm-uuid', 'pci_uuid': 'pci-uuid', 'refused': 9,
        'no_database': True, 'restored': True,
    }
    by_method = {method: (version, host, args)
                 for method, version, host, args in sent}
    host = by_method['service_get_by_compute_host'][1]
    assert host  # [DEFAULT] host, nova's option
    assert by_method['compute_node_get_all_by_uuids'] == (
        '2.0', host, {'compute_uuids': ['cn-1']})
    assert by_method['instance_get_all_by_host_and_node'] == (
        '2.0', host, {'host': 'h1', 'node': 'n1', 'columns_to_join': []})
    version, _, args = by_method['block_device_mapping_create_uuid']
    assert args['bdm_id'] == 5 and len(args['uuid']) == 36
    version, _, args = by_method['pci_device_create_uuid']
    assert args['dev_id'] == 6 and len(args['uuid']) == 36


def test_every_function_has_novas_signature():
    mismatched = run('''
        import inspect
        from nova.db.main import api as nova_db
        from nova_proxy.compute import db as shim
        bad = {}
        for name in shim.__all__:
            ours = getattr(shim, name)
            if not inspect.isfunction(ours):
                continue  # nova's helper classes
            theirs = getattr(nova_db, name, None)
            if theirs is None:
                bad[name] = 'not in nova.db.main.api'
            elif inspect.signature(ours) != inspect.signature(theirs):
                bad[name] = [str(inspect.signature(ours)),
                             str(inspect.signature(theirs))]
        print(json.dumps(bad))
    ''')
    assert mismatched == {}
