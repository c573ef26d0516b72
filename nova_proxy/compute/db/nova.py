"""Put the shim in place of nova's database in a nova-compute process.

``enable()`` does three things, and touches no database:

1. every function of ``nova.db.main.api`` that the shim has
   (``nova_proxy.compute.db.__all__``) is replaced by the shim's, so
   nova's objects, which call ``db.<name>`` at call time, make RPC calls;
   ``get_context_manager`` among them, so the ``select_db_reader_mode``
   that nova bound at import passes through a context manager with no
   engine;
2. ``nova.db.main.api.DISABLE_DB_ACCESS`` is set, as nova-compute's own
   ``main()`` does: anything nova decorated with
   ``pick_context_manager_*`` at import and that nothing here replaces
   raises nova's ``DBNotAllowed`` instead of looking for a database;
3. the object methods that query the database themselves behind those
   decorators are replaced (``SERVED``) by proxy calls, or by a method that
   raises ``DBNotAllowed`` (``NOT_SERVED``: nova-compute does not call
   them; they count a project's resources for quotas, or are the online
   data migrations of ``nova-manage``).

``disable()`` puts nova's back (tests).
"""

import threading

from oslo_utils import uuidutils

from nova_proxy.compute import db as shim
from nova_proxy.compute.db import _client

__all__ = ['enable', 'disable', 'SERVED', 'NOT_SERVED', 'WIRE_METHODS']

# The 2.x wire methods the object patches below call, beyond the names of
# nova's DB API.
WIRE_METHODS = ('compute_node_get_all_by_uuids',
                'block_device_mapping_create_uuid', 'pci_device_create_uuid',
                'instance_get_all_by_host_and_node')


def _compute_nodes_by_uuids(context, compute_uuids):
    return _client.call(context, 'compute_node_get_all_by_uuids',
                        compute_uuids=list(compute_uuids))


def _instance_uuids_by_host_and_node(context, host, node):
    # nova's method reads the live instances' uuids; the rows' other
    # columns come along, and only the uuids are returned.
    rows = _client.call(context, 'instance_get_all_by_host_and_node',
                        host=host, node=node, columns_to_join=[])
    return [row['uuid'] for row in rows]


def _bdm_create_uuid(context, bdm_id):
    return _client.call(context, 'block_device_mapping_create_uuid',
                        bdm_id=bdm_id, uuid=uuidutils.generate_uuid())


def _pci_device_create_uuid(context, dev_id):
    return _client.call(context, 'pci_device_create_uuid', dev_id=dev_id,
                        uuid=uuidutils.generate_uuid())


def _not_served(*args, **kwargs):
    raise _client.db_not_allowed()


# (module, class or None, attribute, kind, replacement)
SERVED = (
    ('nova.objects.compute_node', 'ComputeNodeList',
     '_db_compute_node_get_all_by_uuids', staticmethod,
     _compute_nodes_by_uuids),
    ('nova.objects.instance', 'InstanceList', '_get_uuids_by_host_and_node',
     staticmethod, _instance_uuids_by_host_and_node),
    ('nova.objects.block_device', 'BlockDeviceMapping', '_create_uuid',
     staticmethod, _bdm_create_uuid),
    ('nova.objects.pci_device', 'PciDevice', '_create_uuid', staticmethod,
     _pci_device_create_uuid),
)

NOT_SERVED = (
    ('nova.objects.compute_node', 'ComputeNodeList',
     '_db_compute_node_get_by_hv_type', staticmethod, _not_served),
    ('nova.objects.instance', 'InstanceList',
     '_get_count_by_vm_state_in_db', staticmethod, _not_served),
    ('nova.objects.instance', 'InstanceList', '_get_counts_in_db',
     staticmethod, _not_served),
    ('nova.objects.instance', 'InstanceList', '_get_count_by_hosts',
     staticmethod, _not_served),
    ('nova.objects.security_group', 'SecurityGroupList',
     '_get_counts_from_db', staticmethod, _not_served),
    ('nova.objects.block_device', 'BlockDeviceMapping', 'populate_uuids',
     classmethod, _not_served),
    ('nova.objects.pci_device', 'PciDevice', 'populate_dev_uuids',
     classmethod, _not_served),
    ('nova.objects.instance', None, 'populate_missing_availability_zones',
     None, _not_served),
    ('nova.objects.instance', None, 'populate_instance_compute_id', None,
     _not_served),
    ('nova.objects.compute_node', None, 'migrate_empty_ratio', None,
     _not_served),
)

_lock = threading.Lock()
# (owner, attribute, value as found) of everything enable() replaced.
_saved = []


def _replace(owner, name, value):
    _saved.append((owner, name, owner.__dict__[name]
                   if isinstance(owner, type) else getattr(owner, name)))
    setattr(owner, name, value)


def enable():
    """Make this nova process use the proxies for its main database.
    Idempotent. Call it after ``nova.objects.register_all()``.

    :raises: ImportError without nova; AttributeError when nova no longer
        has one of the methods this replaces (another nova release).
    """
    import importlib
    from nova.db.main import api as nova_db

    with _lock:
        if _saved:
            return
        try:
            for name in shim.__all__:
                if callable(getattr(nova_db, name, None)):
                    _replace(nova_db, name, getattr(shim, name))
            _replace(nova_db, 'DISABLE_DB_ACCESS', True)
            for module, cls, name, kind, fn in SERVED + NOT_SERVED:
                owner = importlib.import_module(module)
                if cls is not None:
                    owner = getattr(owner, cls)
                getattr(owner, name)  # AttributeError: not this nova
                _replace(owner, name, kind(fn) if kind else fn)
        except BaseException:
            _restore()
            raise


def _restore():
    while _saved:
        owner, name, value = _saved.pop()
        setattr(owner, name, value)


def disable():
    """Undo ``enable()``."""
    with _lock:
        _restore()
