"""Build: create the instance record, then build and run it on one host.

Accepting a build creates the instance (vm_state ``building``, task_state
``scheduling``) on the chosen host and node (``host``, ``node`` the node's
``hypervisor_hostname``, ``compute_id`` its id), with its flavor in
``instance_extra`` as nova keeps it (``flavors``), in the same transaction
as the journal row. The one step, ``build_and_run_instance`` on that host,
claims the resources, spawns in the virt driver and leaves the instance
active with task_state None; the compute writes those states itself. On
failure the compute releases its claim and puts the instance in ERROR with
a fault; if the compute never answered (down past ``[orchestration]
compute_wait_deadline``) the engine does the ERROR and the fault. A build
is never rolled back: its status ends ``failed``.
"""

from oslo_utils import uuidutils

from nova_proxy.common import states
from nova_proxy import exception
from nova_proxy.db import api as db_api
from nova_proxy.orchestration import flavors
from nova_proxy.orchestration.flows import base
from nova_proxy.orchestration import scheduler

__all__ = ['BuildFlow', 'accept_build', 'instance_uuid_of']


def instance_uuid_of(values):
    """The uuid the build will create: the caller's, or a new one set in
    ``values``."""
    if not isinstance(values, dict):
        raise exception.Invalid(reason='values must be a dict')
    if not values.get('uuid'):
        values['uuid'] = uuidutils.generate_uuid()
    if not isinstance(values['uuid'], str) or \
            not uuidutils.is_uuid_like(values['uuid']):
        raise exception.InvalidUUID(uuid=values['uuid'])
    return values['uuid']


def _flavor_extra(values):
    """``values['extra']`` with the instance's flavor as nova keeps it,
    made from its flavor columns unless the caller gave one (an
    ``extra`` that is not a dict is left for ``instance_create`` to
    refuse)."""
    extra = values.get('extra') or {}
    if not isinstance(extra, dict):
        return extra
    extra = dict(extra)
    if not extra.get('flavor'):
        flavor = {'name': values.get('instance_type_name'),
                  'memory_mb': values.get('memory_mb') or 0,
                  'vcpus': values.get('vcpus') or 0,
                  'root_gb': values.get('root_gb') or 0,
                  'ephemeral_gb': values.get('ephemeral_gb') or 0}
        if values.get('instance_type_id') is not None:
            flavor['id'] = values['instance_type_id']
        extra['flavor'] = flavors.extra_json(flavors.primitive(flavor))
    return extra


def accept_build(values, host):
    def prepare(context):
        flavor = {'memory_mb': values.get('memory_mb') or 0,
                  'vcpus': values.get('vcpus') or 0,
                  'root_gb': values.get('root_gb') or 0}
        if host is None:
            chosen, node = scheduler.select_host(context, flavor)
        else:
            chosen, node = host, scheduler.node_of(context, host)
        compute_node = scheduler.compute_node(context, chosen, node)
        # host, node, compute_id and launched_on as nova's resource
        # tracker sets them when it claims the build; the orchestration
        # sets them when it places it, so the compute's host scope holds.
        create = dict(values, host=chosen, node=node,
                      compute_id=compute_node['id'], launched_on=chosen,
                      vm_state=states.VM_BUILDING,
                      task_state=states.TASK_SCHEDULING,
                      extra=_flavor_extra(values))
        db_api.instance_create(context, create)
        return {'state': {'host': chosen, 'node': node}}
    return prepare


class BuildFlow(base.Flow):
    kind = 'build'
    rollback_status = states.OP_FAILED

    def steps(self, op):
        return [base.Step(
            'build_and_run_instance', 'host',
            lambda o: {'instance_uuid': o['instance_uuid'],
                       'request_id': o.get('request_id')})]

    def rolled_back(self, context, op, error):
        instance = db_api.instance_get_by_uuid(context, op['instance_uuid'])
        if instance['vm_state'] == states.VM_BUILDING:
            # The compute did not finish the build, or not yet: failed,
            # unless it finishes first (its answer is what was lost).
            try:
                db_api.instance_update(context, op['instance_uuid'], {
                    'vm_state': states.VM_ERROR, 'task_state': None,
                    'expected_vm_state': states.VM_BUILDING})
            except exception.UnexpectedVMStateError:
                return
            base.record_fault(context, op, error, host=op['state']['host'])
        elif instance['vm_state'] == states.VM_ERROR and \
                instance['task_state'] is not None:
            db_api.instance_update(context, op['instance_uuid'],
                                   {'task_state': None})
        # Else the compute built it and only its answer was lost: the
        # instance is what the compute says; the operation's error tells
        # that the build was not confirmed.
