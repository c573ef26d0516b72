"""Client of the proxy's database API: topic ``[proxy] topic``
(``compute_proxy``), default namespace.

Any oslo.messaging client can call these methods: the context is an
oslo.context ``RequestContext`` dict (plus ``compute_host``), arguments and
results are plain JSON (dicts, lists, strings, numbers; times as ISO 8601
UTC strings). An instance is a dict of its columns plus ``metadata`` and
``system_metadata`` dicts.

API version history:

* 1.0 (2026.2) - Initial version: ping; instance_create,
  instance_get_by_uuid, instance_get_all_by_host, instance_update,
  instance_update_and_get_original, instance_destroy; migration_create,
  migration_get, migration_update,
  migration_get_in_progress_by_host_and_node; service_get_by_host_and_binary,
  service_create, service_update, service_heartbeat;
  compute_node_get_by_host_and_node, compute_node_create,
  compute_node_update; instance_fault_create, instance_action_start,
  instance_action_finish, action_event_start, action_event_finish.
* 1.1 (2026.2) - Added instance_update_and_record

* 2.0 (2027.1) - nova's database API: the methods of ``NOVA_METHODS``, with
  the names, arguments, result shapes and errors of nova 34's
  ``nova.db.main.api`` (docs/wire.rst has the table, with each method's
  host-scope rule). They are served beside the 1.x methods, which keep
  their 1.x contract for 1.x clients: oslo.messaging dispatches a call to
  the endpoint of its major version, so a 1.x client of a 2.x proxy gets
  exactly what a 1.1 proxy gave it, but where a 1.x method has nova's
  name and nova's behaviour is now the contract of both: 1.x
  ``action_event_finish`` of an event never started raises
  ``InstanceActionEventNotFound`` (1.1 recorded it finished), and
  ``InstanceActionNotFound`` carries nova's kwargs (``request_id``,
  ``instance_uuid``; no ``action``). The 1.x methods go at 3.0.
  exactly what a 1.1 proxy gave it. The 1.x methods go at 3.0.
  Where a 1.x method shares its name with nova's, both run nova's DB
  function, so a 1.x client sees nova's semantics there: migration_get
  finds a deleted migration, compute_node_create/update take any of
  nova's columns and keep node and hypervisor_hostname equal, a new
  compute node has no updated_at, and ComputeHostNotFound's message is
  nova's.
  Where the 1.x instance methods share a name with nova's, they run
  nova's code with the 1.x result shapes and errors, and take nova's
  behaviour where it is the contract now: ``instance_destroy`` leaves
  ``updated_at`` as it was and soft-deletes the instance's info cache,
  extra, faults, block device mappings and migrations with it (and
  deletes its tags); ``instance_create`` accepts every column of nova's
  ``instances`` table (``created_at`` among them) and writes the
  instance's info cache and extra rows.
"""

from oslo_log import log as logging
import oslo_messaging as messaging

from nova_proxy.common import rpc
from nova_proxy import conf

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['ProxyAPI', 'RPC_API_VERSION', 'METHODS', 'NOVA_API_VERSION',
           'NOVA_METHODS']

# The 1.x methods (``METHODS``, ``ProxyAPI``).
RPC_API_VERSION = '1.1'
# The 2.x methods: nova's database API (``NOVA_METHODS``,
# ``nova_proxy.compute.db``).
NOVA_API_VERSION = '2.0'

# Every method of the wire, with the version that introduced it and whether
# a call may be repeated after a timeout without changing its effect.
# The proxy's endpoints must expose exactly these (a test checks it).
# One exception is accepted: a repeated service_heartbeat adds 2 to the
# service's report_count (a counter only; liveness reads the time), so
# that a lost answer never costs a compute node its heartbeat.
METHODS = {
    'ping': ('1.0', True),
    'instance_create': ('1.0', False),
    'instance_get_by_uuid': ('1.0', True),
    'instance_get_all_by_host': ('1.0', True),
    'instance_update': ('1.0', False),
    'instance_update_and_get_original': ('1.0', False),
    'instance_destroy': ('1.0', False),
    'migration_create': ('1.0', False),
    'migration_get': ('1.0', True),
    'migration_update': ('1.0', True),
    'migration_get_in_progress_by_host_and_node': ('1.0', True),
    'service_get_by_host_and_binary': ('1.0', True),
    'service_create': ('1.0', False),
    'service_update': ('1.0', True),
    'service_heartbeat': ('1.0', True),
    'compute_node_get_by_host_and_node': ('1.0', True),
    'compute_node_create': ('1.0', False),
    'compute_node_update': ('1.0', True),
    'instance_fault_create': ('1.0', False),
    'instance_action_start': ('1.0', False),
    'instance_action_finish': ('1.0', True),
    'action_event_start': ('1.0', False),
    'action_event_finish': ('1.0', True),
    'instance_update_and_record': ('1.1', False),
}

# The 2.x methods, as ``METHODS``: name -> (version that introduced it,
# whether a call may be repeated after a timeout without changing its
# effect). Each has the name, arguments and semantics of nova's DB API
# function of that name; the proxy's 2.x endpoints
# (``nova_proxy.proxy.endpoints``) expose exactly these (a test checks).
NOVA_METHODS = {
    'service_create': ('2.0', False),
    'service_destroy': ('2.0', False),
    'service_get': ('2.0', True),
    'service_get_all': ('2.0', True),
    'service_get_all_by_binary': ('2.0', True),
    'service_get_all_by_host': ('2.0', True),
    'service_get_all_by_topic': ('2.0', True),
    'service_get_all_computes_by_hv_type': ('2.0', True),
    'service_get_by_compute_host': ('2.0', True),
    'service_get_by_host_and_binary': ('2.0', True),
    'service_get_by_host_and_topic': ('2.0', True),
    'service_get_by_uuid': ('2.0', True),
    'service_get_minimum_version': ('2.0', True),
    # A repeated update writes the same values; nova's own
    # servicegroup driver sends report_count as a value, not an increment.
    'service_update': ('2.0', True),
    # -- actions, events, faults --
    # A repeat records a second action.
    'action_start': ('2.0', False),
    # Sets the values nova's object sends again.
    'action_finish': ('2.0', True),
    'action_get_by_request_id': ('2.0', True),
    'actions_get': ('2.0', True),
    # A repeat restarts the same event (one event of a name per action).
    'action_event_start': ('2.0', True),
    'action_event_finish': ('2.0', True),
    'action_events_get': ('2.0', True),
    'action_event_get_by_id': ('2.0', True),
    # A repeat records a second fault.
    'instance_fault_create': ('2.0', False),
    'instance_fault_get_by_instance_uuids': ('2.0', True),
    # -- PCI devices --
    'pci_device_get_by_addr': ('2.0', True),
    'pci_device_get_by_id': ('2.0', True),
    'pci_device_get_all_by_node': ('2.0', True),
    'pci_device_get_all_by_parent_addr': ('2.0', True),
    'pci_device_get_all_by_instance_uuid': ('2.0', True),
    # A repeat after the first deleted it raises PciDeviceNotFound.
    'pci_device_destroy': ('2.0', False),
    # An upsert by node and address: a repeat writes the same values.
    'pci_device_update': ('2.0', True),
    # Not nova's: compare-and-swap of a missing uuid, for enable().
    'pci_device_create_uuid': ('2.0', True),
    # -- instances --
    'instance_create': ('2.0', False),
    # A repeat finds the instance deleted: InstanceNotFound.
    'instance_destroy': ('2.0', False),
    'instance_get': ('2.0', True),
    'instance_get_active_by_window_joined': ('2.0', True),
    'instance_get_all': ('2.0', True),
    'instance_get_all_by_filters': ('2.0', True),
    'instance_get_all_by_filters_sort': ('2.0', True),
    'instance_get_all_by_host': ('2.0', True),
    'instance_get_all_by_host_and_node': ('2.0', True),
    'instance_get_all_by_host_and_not_type': ('2.0', True),
    'instance_get_all_hung_in_rebooting': ('2.0', True),
    'instance_get_all_uuids_by_hosts': ('2.0', True),
    'instance_get_by_uuid': ('2.0', True),
    # The original it returns is the state a repeat would see changed, and
    # an expected state fails its own compare-and-swap the second time.
    'instance_update_and_get_original': ('2.0', False),
    'instances_fill_metadata': ('2.0', True),
    'instance_metadata_delete': ('2.0', True),
    # -- instance children: extra, info cache, tags --
    'instance_extra_get_by_instance_uuid': ('2.0', True),
    # Sets values (and makes the row once).
    'instance_extra_update_by_uuid': ('2.0', True),
    'instance_info_cache_get': ('2.0', True),
    'instance_info_cache_update': ('2.0', True),
    'instance_info_cache_delete': ('2.0', True),
    # A tag the instance has is no error.
    'instance_tag_add': ('2.0', True),
    'instance_tag_set': ('2.0', True),
    'instance_tag_get_by_instance_uuid': ('2.0', True),
    # A repeat after the first deleted it raises InstanceTagNotFound.
    'instance_tag_delete': ('2.0', False),
    'instance_tag_delete_all': ('2.0', True),
    'instance_tag_exists': ('2.0', True),
    # -- block device mappings --
    # A repeat creates a second mapping (nova's object sends no uuid).
    'block_device_mapping_create': ('2.0', False),
    'block_device_mapping_update': ('2.0', True),
    # Not idempotent: without a uuid or device name a repeat creates
    # another mapping.
    'block_device_mapping_update_or_create': ('2.0', False),
    'block_device_mapping_get_all_by_instance_uuids': ('2.0', True),
    'block_device_mapping_get_all_by_instance': ('2.0', True),
    'block_device_mapping_get_all_by_volume_id': ('2.0', True),
    'block_device_mapping_get_by_instance_and_volume_id': ('2.0', True),
    'block_device_mapping_destroy': ('2.0', True),
    # Not nova's: compare-and-swap of a missing uuid, for enable().
    'block_device_mapping_create_uuid': ('2.0', True),
    # -- migrations --
    'migration_create': ('2.0', False),
    'migration_get': ('2.0', True),
    'migration_get_all_by_filters': ('2.0', True),
    'migration_get_by_id_and_instance': ('2.0', True),
    'migration_get_by_instance_and_status': ('2.0', True),
    'migration_get_by_uuid': ('2.0', True),
    'migration_get_in_progress_and_error_by_host_and_node': ('2.0', True),
    'migration_get_in_progress_by_host_and_node': ('2.0', True),
    'migration_get_in_progress_by_instance': ('2.0', True),
    'migration_get_unconfirmed_by_dest_compute': ('2.0', True),
    # Sets the values given; a repeat sets them again.
    'migration_update': ('2.0', True),
    # -- compute nodes --
    # A repeat with the same uuid revives and updates the row it made (as
    # nova's); without a uuid it would be refused as a duplicate.
    'compute_node_create': ('2.0', False),
    # A repeat finds the node deleted: ComputeHostNotFound.
    'compute_node_delete': ('2.0', False),
    'compute_node_get': ('2.0', True),
    'compute_node_get_all': ('2.0', True),
    'compute_node_get_all_by_host': ('2.0', True),
    'compute_node_get_all_by_pagination': ('2.0', True),
    # ComputeNodeList.get_all_by_uuids queries by itself in nova; the
    # shim's nova.enable() sends it here.
    'compute_node_get_all_by_uuids': ('2.0', True),
    'compute_node_get_all_mapped_less_than': ('2.0', True),
    'compute_node_get_by_host_and_nodename': ('2.0', True),
    'compute_node_get_by_nodename': ('2.0', True),
    'compute_node_search_by_hypervisor': ('2.0', True),
    'compute_node_update': ('2.0', True),
    'compute_nodes_get_by_service_id': ('2.0', True),
    # -- console auth tokens --
    'console_auth_token_create': ('2.0', False),
    'console_auth_token_destroy_all_by_instance': ('2.0', True),
    'console_auth_token_destroy_expired': ('2.0', True),
    'console_auth_token_destroy_expired_by_host': ('2.0', True),
    'console_auth_token_get_valid': ('2.0', True),
    # -- security groups --
    'security_group_get': ('2.0', True),
    'security_group_get_all': ('2.0', True),
    'security_group_get_by_instance': ('2.0', True),
    'security_group_get_by_name': ('2.0', True),
    'security_group_get_by_project': ('2.0', True),
    'security_group_in_use': ('2.0', True),
    'security_group_update': ('2.0', True),
    # -- share mappings --
    'share_mapping_delete_by_instance_uuid_and_share_id': ('2.0', True),
    'share_mapping_get_by_instance_uuid': ('2.0', True),
    'share_mapping_get_by_instance_uuid_and_share_id': ('2.0', True),
    'share_mapping_get_by_instance_uuids': ('2.0', True),
    'share_mapping_get_by_share_id': ('2.0', True),
    # An upsert: the same arguments again give the same row.
    'share_mapping_update': ('2.0', True),
    # -- task log --
    # A second begin of the same period raises TaskAlreadyRunning.
    'task_log_begin_task': ('2.0', False),
    'task_log_end_task': ('2.0', True),
    'task_log_get': ('2.0', True),
    'task_log_get_all': ('2.0', True),
    # -- volume usage --
    # With update_totals a repeat would add the counters twice.
    'vol_usage_update': ('2.0', False),
}


class ProxyAPI:
    """Calls the proxies. One instance per process is enough (threads and
    eventlet greenthreads may share it); ``signer`` (an ``auth.Signer``)
    replaces this process's own, for a process that calls for several
    compute hosts."""

    def __init__(self, timeout=None, signer=None):
        self._timeout = timeout
        self._signer = signer
        self._client = None

    @property
    def client(self):
        if self._client is None:
            target = messaging.Target(topic=CONF.proxy.topic,
                                      version=RPC_API_VERSION)
            self._client = rpc.get_client(
                target, version_cap=rpc.version_cap('compute_proxy', major=1),
                timeout=self._call_timeout(), signer=self._signer)
        return self._client

    def _call(self, context, method, retry_safe=None, **kwargs):
        version, idempotent = METHODS[method]
        if retry_safe is None:
            retry_safe = idempotent
        cctxt = self.client.prepare(version=version)
        return rpc.call_retrying(cctxt, context, method, retry_safe, kwargs,
                                 timeout=self._call_timeout())

    def _call_timeout(self):
        return self._timeout or CONF.proxy_client.rpc_timeout

    def can_send_version(self, version):
        """Whether ``[upgrade_levels] compute_proxy`` lets this client
        send ``version``: callers choose between a newer method and the
        calls it replaces, as ``instance_update_and_record`` does."""
        return self.client.can_send_version(version)

    def ping(self, context, arg, timeout=None):
        """Round trip to any proxy; compute services wait on it at start.

        :param arg: any JSON value.
        :param timeout: seconds to wait for this call, overriding
            ``[proxy_client] rpc_timeout``.
        :returns: ``arg``, unchanged.
        :raises: MessagingTimeout when no proxy answers.
        """
        if timeout is None:
            return self._call(context, 'ping', arg=arg)
        cctxt = self.client.prepare(version=METHODS['ping'][0],
                                    timeout=timeout)
        return rpc.call_within(cctxt, context, 'ping', timeout, arg=arg)

    # -- instances --

    def instance_create(self, context, values):
        """Create an instance.

        :param values: its fields; ``uuid`` optional (generated when
            missing), ``metadata`` and ``system_metadata`` as dicts.
        :returns: the instance.
        :raises: InvalidUpdate, InvalidUUID, InstanceExists
        """
        return self._call(context, 'instance_create', values=values)

    def instance_get_by_uuid(self, context, instance_uuid):
        """:returns: the instance.
        :raises: InstanceNotFound (also when soft-deleted), InvalidUUID,
            HostScopeViolation"""
        return self._call(context, 'instance_get_by_uuid',
                          instance_uuid=instance_uuid)

    def instance_get_all_by_host(self, context, host, node=None):
        """:returns: the live instances on ``host`` (and ``node``).
        :raises: HostScopeViolation for another host's list."""
        return self._call(context, 'instance_get_all_by_host', host=host,
                          node=node)

    def instance_update(self, context, instance_uuid, values):
        """Compare-and-swap update of an instance.

        :param values: fields to set, plus optional ``expected_task_state``
            and ``expected_vm_state`` (a value or a list; None is NULL).
            ``metadata``/``system_metadata`` replace the whole dict.
        :returns: the updated instance.
        :raises: InstanceNotFound, InvalidUUID, InvalidUpdate,
            UnexpectedTaskStateError, UnexpectedDeletingTaskStateError,
            UnexpectedVMStateError, HostScopeViolation, Forbidden (a
            compute host moving the instance to a host that is not the
            other end of its migration in progress)
        """
        # Without an expected state the update is a plain overwrite: the
        # same values again give the same row, so a retry is safe. With
        # one, a retry after a lost answer would fail its own CAS.
        retry_safe = not ({'expected_task_state', 'expected_vm_state'} &
                          set(values or ()))
        return self._call(context, 'instance_update', retry_safe=retry_safe,
                          instance_uuid=instance_uuid, values=values)

    def instance_update_and_get_original(self, context, instance_uuid,
                                         values):
        """As ``instance_update``.

        :returns: ``[original, updated]``.
        """
        return self._call(context, 'instance_update_and_get_original',
                          instance_uuid=instance_uuid, values=values)

    def instance_destroy(self, context, instance_uuid):
        """Soft-delete an instance.

        :returns: the soft-deleted instance (``deleted`` != 0).
        :raises: InstanceNotFound, InvalidUUID, HostScopeViolation
        """
        return self._call(context, 'instance_destroy',
                          instance_uuid=instance_uuid)

    # -- migrations --

    def migration_create(self, context, values):
        """:returns: the migration. :raises: InvalidUpdate, InvalidUUID,
        Forbidden (a compute host: only the control plane creates
        migrations)"""
        return self._call(context, 'migration_create', values=values)

    def migration_get(self, context, migration_id):
        """:returns: the migration. :raises: MigrationNotFound"""
        return self._call(context, 'migration_get',
                          migration_id=migration_id)

    def migration_update(self, context, migration_id, values):
        """:returns: the migration.
        :raises: MigrationNotFound, InvalidUpdate, HostScopeViolation,
            Forbidden (a compute host changing a finished migration, or
            its instance or hosts)"""
        return self._call(context, 'migration_update',
                          migration_id=migration_id, values=values)

    def migration_get_in_progress_by_host_and_node(self, context, host,
                                                   node):
        """:returns: migrations to or from ``host``/``node`` not finished.
        """
        return self._call(context,
                          'migration_get_in_progress_by_host_and_node',
                          host=host, node=node)

    # -- services --

    def service_get_by_host_and_binary(self, context, host, binary):
        """:returns: the service. :raises: ServiceNotFound"""
        return self._call(context, 'service_get_by_host_and_binary',
                          host=host, binary=binary)

    def service_create(self, context, values):
        """:returns: the service. :raises: InvalidUpdate, ServiceExists"""
        return self._call(context, 'service_create', values=values)

    def service_update(self, context, service_id, values):
        """:returns: the service.
        :raises: ServiceNotFound, InvalidUpdate, HostScopeViolation,
            Conflict (another live service has the new host and binary)"""
        return self._call(context, 'service_update', service_id=service_id,
                          values=values)

    def service_heartbeat(self, context, service_id):
        """Increment ``report_count`` and set ``last_seen_up``, in one
        statement.

        :returns: the service. :raises: ServiceNotFound, HostScopeViolation
        """
        return self._call(context, 'service_heartbeat',
                          service_id=service_id)

    # -- compute nodes --

    def compute_node_get_by_host_and_node(self, context, host, node):
        """:returns: the compute node. :raises: ComputeHostNotFound"""
        return self._call(context, 'compute_node_get_by_host_and_node',
                          host=host, node=node)

    def compute_node_create(self, context, values):
        """:returns: the compute node.
        :raises: InvalidUpdate, ComputeNodeExists"""
        return self._call(context, 'compute_node_create', values=values)

    def compute_node_update(self, context, compute_node_id, values):
        """:returns: the compute node.
        :raises: ComputeHostNotFound, InvalidUpdate, HostScopeViolation,
            Conflict (another live compute node has the new host and
            node)"""
        return self._call(context, 'compute_node_update',
                          compute_node_id=compute_node_id, values=values)

    # -- faults, actions, events --

    def instance_fault_create(self, context, values):
        """:param values: ``instance_uuid``, ``code``, ``message``,
            ``details``, ``host``.
        :returns: the fault. :raises: InvalidUpdate, InstanceNotFound"""
        return self._call(context, 'instance_fault_create', values=values)

    def instance_action_start(self, context, values):
        """:param values: ``instance_uuid``, ``action``, ``request_id`` and
            optionally ``user_id``, ``project_id``, ``start_time``.
        :returns: the action. :raises: InvalidUpdate, InstanceNotFound"""
        return self._call(context, 'instance_action_start', values=values)

    def instance_action_finish(self, context, values):
        """:param values: ``instance_uuid``, ``request_id``, optionally
            ``finish_time`` and ``message``.
        :returns: the action. :raises: InstanceActionNotFound"""
        return self._call(context, 'instance_action_finish', values=values)

    def action_event_start(self, context, values):
        """:param values: ``instance_uuid``, ``request_id``, ``event`` and
            optionally ``host``, ``start_time``.
        :returns: the event. :raises: InstanceActionNotFound"""
        return self._call(context, 'action_event_start', values=values)

    def action_event_finish(self, context, values):
        """:param values: ``instance_uuid``, ``request_id``, ``event``,
            ``result`` (``Success`` or ``Error``), optionally ``traceback``.
        :returns: the event. :raises: InstanceActionNotFound,
            InstanceActionEventNotFound (the event was never started)"""
        return self._call(context, 'action_event_finish', values=values)

    # -- a state change with its bookkeeping --

    def instance_update_and_record(self, context, instance_uuid, values,
                                   event_start=None, event_finish=None,
                                   fault=None):
        """``instance_update`` with an action event start and finish and a
        fault of the instance, in one round trip and one transaction.

        The proxy runs the parts in this order, each one skipped when None:
        ``action_event_start(event_start)``,
        ``instance_fault_create(fault)``,
        ``instance_update(instance_uuid, values)``,
        ``action_event_finish(event_finish)``. All or nothing: when a part
        fails, nothing of any part is written and the error is the one the
        separate call raises; so a compare-and-swap miss writes no event and
        no fault and raises what ``instance_update`` raises.

        When ``[upgrade_levels] compute_proxy`` is below 1.1 (proxies that
        do not have the method), this makes the separate 1.0 calls in that
        same order instead: the same writes and errors, but not atomic (a
        failing call leaves the earlier ones written).

        :param instance_uuid: the instance to update.
        :param values: as ``instance_update``, with optional
            ``expected_task_state`` and ``expected_vm_state``.
        :param event_start: None, or the ``values`` of
            ``action_event_start``.
        :param event_finish: None, or the ``values`` of
            ``action_event_finish``.
        :param fault: None, or the ``values`` of ``instance_fault_create``.
        :returns: the updated instance, as ``instance_update`` returns it
            (not the event or the fault: nobody needs them back, and the
            reply stays the size of ``instance_update``'s).
        :raises: InvalidRequest for a part that is not a dict (or null),
            InvalidUpdate, InvalidUUID, InstanceNotFound,
            UnexpectedTaskStateError,
            UnexpectedDeletingTaskStateError, UnexpectedVMStateError,
            HostScopeViolation, InstanceActionNotFound, Conflict
        """
        if self.can_send_version(METHODS['instance_update_and_record'][0]):
            return self._call(context, 'instance_update_and_record',
                              instance_uuid=instance_uuid, values=values,
                              event_start=event_start,
                              event_finish=event_finish, fault=fault)
        if event_start is not None:
            self.action_event_start(context, event_start)
        if fault is not None:
            self.instance_fault_create(context, fault)
        instance = self.instance_update(context, instance_uuid, values)
        if event_finish is not None:
            self.action_event_finish(context, event_finish)
        return instance
