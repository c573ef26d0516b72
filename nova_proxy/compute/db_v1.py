"""A drop-in for ``nova.db.api`` in nova-compute: the database over RPC.

Each function has the name and arguments of the proxy's wire method (the
request context first), which are those of nova's DB API function where
nova has the same call (``instance_update``, ``migration_update``,
``service_update``, ...). Where they differ, nova-compute's call site
needs the proxy's: ``compute_node_get_by_host_and_node`` (nova:
``..._nodename``), ``instance_action_start``/``_finish`` (nova:
``action_start``/``_finish``), ``instance_get_all_by_host``'s third
argument is ``node`` (nova: ``columns_to_join``), and nova's
``columns_to_join``, ``expected``, ``constraint`` and ``hard_delete``
arguments do not exist here: an instance always comes with its metadata,
and an expected state goes in ``values`` as ``expected_task_state``.
Each makes one ``rpc.call`` to the proxies, on topic
``[proxy] topic``, through one lazily built
``nova_proxy.proxy.rpcapi.ProxyAPI`` per process. So, in nova-compute::

    from nova_proxy.compute import db_v1 as db

    instance = db.instance_update(context, instance_uuid,
                                  {'task_state': None,
                                   'expected_task_state': 'spawning'})

What a call does:

* it sends the lowest RPC version that has the method (the per-method
  version of ``ProxyAPI``), capped by ``[upgrade_levels] compute_proxy``;
* it ends within ``[proxy_client] rpc_timeout`` seconds, publishing
  included: while the broker cannot be reached it tries to publish again
  until then (``nova_proxy.common.rpc.call_within``);
* after a ``MessagingTimeout`` it retries (``[proxy_client] retries``)
  only the calls that are safe to repeat: reads, ``ping``, and writes that
  give the same result when applied twice (and ``service_heartbeat``,
  whose repeat counts twice in ``report_count``). Everything else raises the
  ``MessagingTimeout`` to the caller, as nova's conductor API does;
* a domain error of the proxy (``InstanceNotFound``,
  ``UnexpectedTaskStateError``, ...) is raised here as the same class of
  ``nova_proxy.exception``.

Results are plain dicts (times as ISO 8601 UTC strings), not SQLAlchemy
rows: see ``nova_proxy.proxy.rpcapi`` for each method's contract.

Threads and eventlet: this module keeps no transport of its own and selects
no oslo.service backend, so it works in a threaded process (our reference
compute service) and inside an eventlet-monkey-patched one, as nova-compute
still is: many greenthreads may call it at once. Call ``rpc.init()`` (or
let the first call do it) after the process has parsed its configuration.
The context should be a compute context
(``nova_proxy.common.context.get_compute_context(host)``) so that the
proxies' host-scope policy applies.
"""

import threading

from nova_proxy.proxy import rpcapi

__all__ = [
    'ping',
    'instance_create', 'instance_get_by_uuid', 'instance_get_all_by_host',
    'instance_update', 'instance_update_and_get_original',
    'instance_destroy',
    'migration_create', 'migration_get', 'migration_update',
    'migration_get_in_progress_by_host_and_node',
    'service_get_by_host_and_binary', 'service_create', 'service_update',
    'service_heartbeat',
    'compute_node_get_by_host_and_node', 'compute_node_create',
    'compute_node_update',
    'instance_fault_create', 'instance_action_start',
    'instance_action_finish', 'action_event_start', 'action_event_finish',
    'instance_update_and_record',
    'get_api', 'reset',
]

_lock = threading.Lock()
_api = None


def get_api():
    """This process's ``ProxyAPI``, built on first use."""
    global _api
    if _api is None:
        with _lock:
            if _api is None:
                _api = rpcapi.ProxyAPI()
    return _api


def reset():
    """Forget the client (after ``rpc.cleanup()``, in tests, after fork)."""
    global _api
    with _lock:
        _api = None


def ping(context, arg, timeout=None):
    """Round trip to any proxy. :returns: ``arg``."""
    return get_api().ping(context, arg, timeout=timeout)


# -- instances --

def instance_create(context, values):
    return get_api().instance_create(context, values)


def instance_get_by_uuid(context, instance_uuid):
    return get_api().instance_get_by_uuid(context, instance_uuid)


def instance_get_all_by_host(context, host, node=None):
    return get_api().instance_get_all_by_host(context, host, node=node)


def instance_update(context, instance_uuid, values):
    """Compare-and-swap update; see ``ProxyAPI.instance_update``."""
    return get_api().instance_update(context, instance_uuid, values)


def instance_update_and_get_original(context, instance_uuid, values):
    """:returns: ``[original, updated]``."""
    return get_api().instance_update_and_get_original(context,
                                                      instance_uuid, values)


def instance_destroy(context, instance_uuid):
    return get_api().instance_destroy(context, instance_uuid)


# -- migrations --

def migration_create(context, values):
    return get_api().migration_create(context, values)


def migration_get(context, migration_id):
    return get_api().migration_get(context, migration_id)


def migration_update(context, migration_id, values):
    return get_api().migration_update(context, migration_id, values)


def migration_get_in_progress_by_host_and_node(context, host, node):
    return get_api().migration_get_in_progress_by_host_and_node(
        context, host, node)


# -- services --

def service_get_by_host_and_binary(context, host, binary):
    return get_api().service_get_by_host_and_binary(context, host, binary)


def service_create(context, values):
    return get_api().service_create(context, values)


def service_update(context, service_id, values):
    return get_api().service_update(context, service_id, values)


def service_heartbeat(context, service_id):
    return get_api().service_heartbeat(context, service_id)


# -- compute nodes --

def compute_node_get_by_host_and_node(context, host, node):
    return get_api().compute_node_get_by_host_and_node(context, host, node)


def compute_node_create(context, values):
    return get_api().compute_node_create(context, values)


def compute_node_update(context, compute_node_id, values):
    return get_api().compute_node_update(context, compute_node_id, values)


# -- faults, actions, events --

def instance_fault_create(context, values):
    return get_api().instance_fault_create(context, values)


def instance_action_start(context, values):
    return get_api().instance_action_start(context, values)


def instance_action_finish(context, values):
    return get_api().instance_action_finish(context, values)


def action_event_start(context, values):
    return get_api().action_event_start(context, values)


def action_event_finish(context, values):
    return get_api().action_event_finish(context, values)


# -- a state change with its bookkeeping --

def instance_update_and_record(context, instance_uuid, values,
                               event_start=None, event_finish=None,
                               fault=None):
    """``instance_update`` with an action event start/finish and a fault,
    in one call and one transaction (separate calls under a 1.0 cap); see
    ``ProxyAPI.instance_update_and_record``. :returns: the instance."""
    return get_api().instance_update_and_record(
        context, instance_uuid, values, event_start=event_start,
        event_finish=event_finish, fault=fault)
