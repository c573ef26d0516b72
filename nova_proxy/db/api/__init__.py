"""The database API that nova-compute used to call directly.

Function names and arguments follow nova's DB API. Every function takes a
request context first and returns plain, JSON-safe dicts: times are ISO 8601
UTC strings, an instance carries ``metadata`` and ``system_metadata`` as
dicts. These dicts are exactly what the proxy sends on the wire.

``instance_update`` is a compare-and-swap in one conditional UPDATE; see its
docstring. Only allow-listed fields may be written; anything else raises
``InvalidUpdate`` naming the field, before anything is written.

One module per resource, re-exported here (callers use
``from nova_proxy.db import api as db; db.instance_update(...)``):

* ``instances``: nova's calls to create, read and delete one instance
  (with ``_instance_joins``, their ``columns_to_join``);
* ``instance_lists``: the lists of instances, by nova's filters too;
* ``instance_metadata``: instances' metadata;
* ``instance_cas``: the compare-and-swap ``instance_update`` and friends;
* ``migrations``, ``services``, ``compute_nodes``;
* ``actions``: instance actions, their events, instance faults;
* ``pci_devices``: a compute node's PCI devices;
* ``instance_children``: an instance's extra, info cache and tags;
* ``block_devices``: block device mappings;
* ``purge``: hard-deleting soft-deleted rows.

The proxy's own machinery keeps its statements here too, in modules its
callers import by name (not re-exported: they are not nova's calls):
``operations`` (the orchestration journal), ``scheduling`` (the
orchestration's scheduler), ``proxies`` (liveness) and ``periodic`` (the
periodic tasks' claims, runs, clock and sweeps).

The private head they share: ``_values`` (checking and converting values,
rows to dicts), ``_scope`` (host scope in SQL), ``_dialect`` (statement
pieces that differ by dialect), ``_instance_rows`` (instance rows with
their metadata), ``_instance_reads`` (instance rows read into
nova's dicts), ``_host_rows`` (rows of the per-host tables) and
``_child_scope`` (host scope of an instance's children).
"""

from nova_proxy.db.api._instance_rows import INSTANCE_PROTECTED_FIELDS
from nova_proxy.db.api._instance_rows import INSTANCE_UPDATABLE_FIELDS
from nova_proxy.db.api.actions import action_event_finish
from nova_proxy.db.api.actions import action_event_get_by_id
from nova_proxy.db.api.actions import action_event_start
from nova_proxy.db.api.actions import action_events_get
from nova_proxy.db.api.actions import action_finish
from nova_proxy.db.api.actions import action_get_by_request_id
from nova_proxy.db.api.actions import action_start
from nova_proxy.db.api.actions import actions_get
from nova_proxy.db.api.actions import actions_get_with_events
from nova_proxy.db.api.actions import instance_action_finish
from nova_proxy.db.api.actions import instance_action_start
from nova_proxy.db.api.actions import instance_fault_create
from nova_proxy.db.api.actions import instance_fault_get_by_instance_uuids
from nova_proxy.db.api.block_devices import block_device_mapping_create
from nova_proxy.db.api.block_devices import block_device_mapping_create_uuid
from nova_proxy.db.api.block_devices import block_device_mapping_destroy
from nova_proxy.db.api.block_devices import \
    block_device_mapping_get_all_by_instance
from nova_proxy.db.api.block_devices import \
    block_device_mapping_get_all_by_instance_uuids
from nova_proxy.db.api.block_devices import \
    block_device_mapping_get_all_by_volume_id
from nova_proxy.db.api.block_devices import \
    block_device_mapping_get_by_instance_and_volume_id
from nova_proxy.db.api.block_devices import block_device_mapping_update
from nova_proxy.db.api.block_devices import \
    block_device_mapping_update_or_create
from nova_proxy.db.api.compute_nodes import compute_node_create
from nova_proxy.db.api.compute_nodes import compute_node_delete
from nova_proxy.db.api.compute_nodes import compute_node_get
from nova_proxy.db.api.compute_nodes import compute_node_get_all
from nova_proxy.db.api.compute_nodes import compute_node_get_all_by_host
from nova_proxy.db.api.compute_nodes import \
    compute_node_get_all_by_pagination
from nova_proxy.db.api.compute_nodes import compute_node_get_all_by_uuids
from nova_proxy.db.api.compute_nodes import \
    compute_node_get_all_mapped_less_than
from nova_proxy.db.api.compute_nodes import compute_node_get_by_host_and_node
from nova_proxy.db.api.compute_nodes import \
    compute_node_get_by_host_and_nodename
from nova_proxy.db.api.compute_nodes import compute_node_get_by_nodename
from nova_proxy.db.api.compute_nodes import compute_node_search_by_hypervisor
from nova_proxy.db.api.compute_nodes import compute_node_update
from nova_proxy.db.api.compute_nodes import compute_nodes_get_by_service_id
from nova_proxy.db.api.instance_cas import instance_update
from nova_proxy.db.api.instance_cas import instance_update_and_get_original
from nova_proxy.db.api.instance_cas import instance_update_and_record
from nova_proxy.db.api.instance_children import \
    instance_extra_get_by_instance_uuid
from nova_proxy.db.api.instance_children import instance_extra_update_by_uuid
from nova_proxy.db.api.instance_children import instance_info_cache_delete
from nova_proxy.db.api.instance_children import instance_info_cache_get
from nova_proxy.db.api.instance_children import instance_info_cache_update
from nova_proxy.db.api.instance_children import instance_tag_add
from nova_proxy.db.api.instance_children import instance_tag_delete
from nova_proxy.db.api.instance_children import instance_tag_delete_all
from nova_proxy.db.api.instance_children import instance_tag_exists
from nova_proxy.db.api.instance_children import \
    instance_tag_get_by_instance_uuid
from nova_proxy.db.api.instance_children import instance_tag_set
from nova_proxy.db.api.instance_lists import \
    instance_get_active_by_window_joined
from nova_proxy.db.api.instance_lists import instance_get_all
from nova_proxy.db.api.instance_lists import instance_get_all_by_filters
from nova_proxy.db.api.instance_lists import instance_get_all_by_filters_sort
from nova_proxy.db.api.instance_lists import instance_get_all_by_host
from nova_proxy.db.api.instance_lists import instance_get_all_by_host_and_node
from nova_proxy.db.api.instance_lists import \
    instance_get_all_by_host_and_not_type
from nova_proxy.db.api.instance_lists import instance_get_all_hung_in_rebooting
from nova_proxy.db.api.instance_lists import instance_get_all_uuids_by_hosts
from nova_proxy.db.api.instance_metadata import instance_metadata_delete
from nova_proxy.db.api.instance_metadata import instances_fill_metadata
from nova_proxy.db.api.instances import instance_create
from nova_proxy.db.api.instances import instance_destroy
from nova_proxy.db.api.instances import instance_get
from nova_proxy.db.api.instances import instance_get_by_uuid
from nova_proxy.db.api.migrations import migration_create
from nova_proxy.db.api.migrations import migration_get
from nova_proxy.db.api.migrations import migration_get_all_by_filters
from nova_proxy.db.api.migrations import migration_get_by_id_and_instance
from nova_proxy.db.api.migrations import migration_get_by_instance
from nova_proxy.db.api.migrations import \
    migration_get_by_instance_and_status
from nova_proxy.db.api.migrations import migration_get_by_uuid
from nova_proxy.db.api.migrations import \
    migration_get_in_progress_and_error_by_host_and_node
from nova_proxy.db.api.migrations import \
    migration_get_in_progress_by_host_and_node
from nova_proxy.db.api.migrations import \
    migration_get_in_progress_by_instance
from nova_proxy.db.api.migrations import \
    migration_get_unconfirmed_by_dest_compute
from nova_proxy.db.api.migrations import migration_update
from nova_proxy.db.api.pci_devices import pci_device_create_uuid
from nova_proxy.db.api.pci_devices import pci_device_destroy
from nova_proxy.db.api.pci_devices import \
    pci_device_get_all_by_instance_uuid
from nova_proxy.db.api.pci_devices import pci_device_get_all_by_node
from nova_proxy.db.api.pci_devices import pci_device_get_all_by_parent_addr
from nova_proxy.db.api.pci_devices import pci_device_get_by_addr
from nova_proxy.db.api.pci_devices import pci_device_get_by_id
from nova_proxy.db.api.pci_devices import pci_device_update
from nova_proxy.db.api.purge import purge_deleted_instances
from nova_proxy.db.api.services import service_create
from nova_proxy.db.api.services import service_destroy
from nova_proxy.db.api.services import service_get
from nova_proxy.db.api.services import service_get_all
from nova_proxy.db.api.services import service_get_all_by_binary
from nova_proxy.db.api.services import service_get_all_by_host
from nova_proxy.db.api.services import service_get_all_by_topic
from nova_proxy.db.api.services import service_get_all_computes_by_hv_type
from nova_proxy.db.api.services import service_get_by_compute_host
from nova_proxy.db.api.services import service_get_by_host_and_binary
from nova_proxy.db.api.services import service_get_by_host_and_topic
from nova_proxy.db.api.services import service_get_by_uuid
from nova_proxy.db.api.services import service_get_minimum_version
from nova_proxy.db.api.services import service_heartbeat
from nova_proxy.db.api.services import service_update
from nova_proxy.db.api.console_auth_tokens import console_auth_token_create
from nova_proxy.db.api.console_auth_tokens import \
    console_auth_token_destroy_all_by_instance
from nova_proxy.db.api.console_auth_tokens import \
    console_auth_token_destroy_expired
from nova_proxy.db.api.console_auth_tokens import \
    console_auth_token_destroy_expired_by_host
from nova_proxy.db.api.console_auth_tokens import console_auth_token_get_valid
from nova_proxy.db.api.security_groups import security_group_get
from nova_proxy.db.api.security_groups import security_group_get_all
from nova_proxy.db.api.security_groups import security_group_get_by_instance
from nova_proxy.db.api.security_groups import security_group_get_by_name
from nova_proxy.db.api.security_groups import security_group_get_by_project
from nova_proxy.db.api.security_groups import security_group_in_use
from nova_proxy.db.api.security_groups import security_group_update
from nova_proxy.db.api.share_mappings import \
    share_mapping_delete_by_instance_uuid_and_share_id
from nova_proxy.db.api.share_mappings import share_mapping_get_by_instance_uuid
from nova_proxy.db.api.share_mappings import \
    share_mapping_get_by_instance_uuid_and_share_id
from nova_proxy.db.api.share_mappings import \
    share_mapping_get_by_instance_uuids
from nova_proxy.db.api.share_mappings import share_mapping_get_by_share_id
from nova_proxy.db.api.share_mappings import share_mapping_update
from nova_proxy.db.api.task_log import task_log_begin_task
from nova_proxy.db.api.task_log import task_log_end_task
from nova_proxy.db.api.task_log import task_log_get
from nova_proxy.db.api.task_log import task_log_get_all
from nova_proxy.db.api.volume_usage import vol_usage_update

__all__ = [
    # instances
    'instance_create', 'instance_destroy', 'instance_get',
    'instance_get_active_by_window_joined', 'instance_get_all',
    'instance_get_all_by_filters', 'instance_get_all_by_filters_sort',
    'instance_get_all_by_host', 'instance_get_all_by_host_and_node',
    'instance_get_all_by_host_and_not_type',
    'instance_get_all_hung_in_rebooting', 'instance_get_all_uuids_by_hosts',
    'instance_get_by_uuid', 'instance_metadata_delete',
    'instances_fill_metadata',
    'INSTANCE_PROTECTED_FIELDS', 'INSTANCE_UPDATABLE_FIELDS',
    # instance_cas
    'instance_update', 'instance_update_and_get_original',
    'instance_update_and_record',
    # migrations
    'migration_create', 'migration_get', 'migration_get_all_by_filters',
    'migration_get_by_id_and_instance', 'migration_get_by_instance',
    'migration_get_by_instance_and_status', 'migration_get_by_uuid',
    'migration_get_in_progress_and_error_by_host_and_node',
    'migration_get_in_progress_by_host_and_node',
    'migration_get_in_progress_by_instance',
    'migration_get_unconfirmed_by_dest_compute', 'migration_update',
    # services
    'service_create', 'service_destroy', 'service_get', 'service_get_all',
    'service_get_all_by_binary', 'service_get_all_by_host',
    'service_get_all_by_topic', 'service_get_all_computes_by_hv_type',
    'service_get_by_compute_host', 'service_get_by_host_and_binary',
    'service_get_by_host_and_topic', 'service_get_by_uuid',
    'service_get_minimum_version', 'service_heartbeat', 'service_update',
    # compute_nodes
    'compute_node_create', 'compute_node_delete', 'compute_node_get',
    'compute_node_get_all', 'compute_node_get_all_by_host',
    'compute_node_get_all_by_pagination', 'compute_node_get_all_by_uuids',
    'compute_node_get_all_mapped_less_than',
    'compute_node_get_by_host_and_node',
    'compute_node_get_by_host_and_nodename', 'compute_node_get_by_nodename',
    'compute_node_search_by_hypervisor', 'compute_node_update',
    'compute_nodes_get_by_service_id',
    # actions
    'action_event_finish', 'action_event_get_by_id', 'action_event_start',
    'action_events_get', 'action_finish', 'action_get_by_request_id',
    'action_start', 'actions_get', 'actions_get_with_events',
    'instance_action_finish', 'instance_action_start',
    'instance_fault_create', 'instance_fault_get_by_instance_uuids',
    # pci_devices
    'pci_device_create_uuid', 'pci_device_destroy',
    'pci_device_get_all_by_instance_uuid', 'pci_device_get_all_by_node',
    'pci_device_get_all_by_parent_addr', 'pci_device_get_by_addr',
    'pci_device_get_by_id', 'pci_device_update',
    # instance_children
    'instance_extra_get_by_instance_uuid', 'instance_extra_update_by_uuid',
    'instance_info_cache_delete', 'instance_info_cache_get',
    'instance_info_cache_update', 'instance_tag_add', 'instance_tag_delete',
    'instance_tag_delete_all', 'instance_tag_exists',
    'instance_tag_get_by_instance_uuid', 'instance_tag_set',
    # block_devices
    'block_device_mapping_create', 'block_device_mapping_create_uuid',
    'block_device_mapping_destroy', 'block_device_mapping_get_all_by_instance',
    'block_device_mapping_get_all_by_instance_uuids',
    'block_device_mapping_get_all_by_volume_id',
    'block_device_mapping_get_by_instance_and_volume_id',
    'block_device_mapping_update', 'block_device_mapping_update_or_create',
    # console_auth_tokens
    'console_auth_token_create', 'console_auth_token_destroy_all_by_instance',
    'console_auth_token_destroy_expired',
    'console_auth_token_destroy_expired_by_host',
    'console_auth_token_get_valid',
    # security_groups
    'security_group_get', 'security_group_get_all',
    'security_group_get_by_instance', 'security_group_get_by_name',
    'security_group_get_by_project', 'security_group_in_use',
    'security_group_update',
    # share_mappings
    'share_mapping_delete_by_instance_uuid_and_share_id',
    'share_mapping_get_by_instance_uuid',
    'share_mapping_get_by_instance_uuid_and_share_id',
    'share_mapping_get_by_instance_uuids', 'share_mapping_get_by_share_id',
    'share_mapping_update',
    # task_log
    'task_log_begin_task', 'task_log_end_task', 'task_log_get',
    'task_log_get_all',
    # volume_usage
    'vol_usage_update',
    # purge
    'purge_deleted_instances',
]
