"""Endpoints of the ``compute_task`` namespace (see ``rpcapi.py``).

Each accepting method validates its arguments, then, in ONE transaction,
guards the instance with its task_state compare-and-swap, writes what the
operation starts from (the instance of a build, the migration record) and
inserts the journal row owned by this proxy worker; then hands the
operation to the engine and returns its record. A retry with the same
``operation_id`` finds the row and returns it, changing nothing.

These are the control plane's calls (nova-api's and the operators'), on
the proxies' topic beside the database API: a call confined to a compute
host (``proxy.policy``) is refused, whatever its method. Operations run
unconfined and move instances between hosts; a compute node that could
start one could move another host's instance to itself.
"""

from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_utils import uuidutils

from nova_proxy.common import rpc
from nova_proxy.common import states
from nova_proxy import exception
from nova_proxy.orchestration.flows import build
from nova_proxy.orchestration.flows import migrate
from nova_proxy.orchestration import journal
from nova_proxy.orchestration import rpcapi
from nova_proxy.proxy import policy

LOG = logging.getLogger(__name__)

__all__ = ['ComputeTaskManager']

MAX_OPERATION_ID_LENGTH = 64
# operation_list answers at most this many records (the newest).
MAX_LIST = 1000


def _operation_id(operation_id):
    if operation_id is None:
        return uuidutils.generate_uuid()
    if not isinstance(operation_id, str) or not operation_id or \
            len(operation_id) > MAX_OPERATION_ID_LENGTH:
        raise exception.Invalid(
            reason='operation_id must be a non-empty string of at most %d '
                   'characters' % MAX_OPERATION_ID_LENGTH)
    return operation_id


def _instance_uuid(instance_uuid):
    if not isinstance(instance_uuid, str) or \
            not uuidutils.is_uuid_like(instance_uuid):
        raise exception.InvalidUUID(uuid=instance_uuid)
    return instance_uuid


class ComputeTaskManager:
    """The orchestration endpoints of one proxy worker.

    :param engine: the worker's ``engine.Engine`` (its member name owns
        the operations accepted here)
    """

    target = messaging.Target(namespace=rpcapi.NAMESPACE,
                              version=rpcapi.RPC_API_VERSION)

    def __init__(self, engine):
        self.engine = engine

    def _accept(self, context, operation_id, kind, instance_uuid, params,
                prepare, check_instance=True):
        policy.check_unconfined(context, 'start an operation')
        operation_id = _operation_id(operation_id)
        context = context.elevated()
        with self.engine.accepting(operation_id):
            try:
                record, created = journal.create(
                    context, operation_id, kind, instance_uuid,
                    self.engine.member, params=params, prepare=prepare,
                    request_id=context.request_id,
                    check_instance=check_instance)
            except exception.InstanceExists:
                # A concurrent retry of the same build created it first.
                return journal.check_same(
                    journal.get(context, operation_id), kind)
            except exception.UnexpectedTaskStateError as e:
                active = journal.active_for_instance(context, instance_uuid)
                if active is None:
                    raise
                if active['id'] == operation_id:
                    # A concurrent retry of this very call won the
                    # instance first (its row was not there when this one
                    # looked): it is this operation.
                    return journal.check_same(active, kind)
                raise exception.OperationInProgress(
                    instance_uuid=instance_uuid,
                    operation_id=active['id']) from e
            if created:
                LOG.info('Accepted operation %(id)s: %(kind)s of %(uuid)s',
                         {'id': operation_id, 'kind': kind,
                          'uuid': instance_uuid})
                self.engine.submit(record)
        return record

    @rpc.remotable
    def build_instance(self, context, values: dict, host: str | None = None,
                       operation_id: str | None = None):
        values = dict(values) if isinstance(values, dict) else values
        caller_uuid = isinstance(values, dict) and bool(values.get('uuid'))
        instance_uuid = build.instance_uuid_of(values)
        if host is not None and not isinstance(host, str):
            raise exception.Invalid(reason='host must be a string')
        return self._accept(context, operation_id, 'build', instance_uuid,
                            {'host': host},
                            build.accept_build(values, host),
                            check_instance=caller_uuid)

    @rpc.remotable
    def migrate_server(self, context, instance_uuid: str,
                       dest_host: str | None = None,
                       flavor: dict | None = None,
                       operation_id: str | None = None):
        _instance_uuid(instance_uuid)
        if flavor is not None:
            flavor = migrate.check_flavor(flavor)
        if dest_host is not None and not isinstance(dest_host, str):
            raise exception.Invalid(reason='dest_host must be a string')
        return self._accept(context, operation_id, 'migrate', instance_uuid,
                            {'dest_host': dest_host, 'flavor': flavor},
                            migrate.accept_migrate(instance_uuid, dest_host,
                                                   flavor))

    @rpc.remotable
    def confirm_resize(self, context, instance_uuid: str,
                       operation_id: str | None = None):
        _instance_uuid(instance_uuid)
        return self._accept(context, operation_id, 'confirm_resize',
                            instance_uuid, {},
                            migrate.accept_confirm(instance_uuid))

    @rpc.remotable
    def revert_resize(self, context, instance_uuid: str,
                      operation_id: str | None = None):
        _instance_uuid(instance_uuid)
        return self._accept(context, operation_id, 'revert_resize',
                            instance_uuid, {},
                            migrate.accept_revert(instance_uuid))

    @rpc.remotable
    def operation_get(self, context, operation_id: str):
        policy.check_unconfined(context, 'read operations')
        if not isinstance(operation_id, str):
            raise exception.OperationNotFound(operation_id=operation_id)
        return journal.get(context.elevated(), operation_id)

    @rpc.remotable
    def operation_list(self, context, instance_uuid: str | None = None,
                       status: str | list | None = None):
        policy.check_unconfined(context, 'read operations')
        if status is not None:
            statuses = [status] if isinstance(status, str) else status
            if not isinstance(statuses, list) or any(
                    s not in states.OP_STATUSES for s in statuses):
                raise exception.Invalid(
                    reason='status must be one of %s' %
                    ', '.join(states.OP_STATUSES))
        return journal.get_all(context.elevated(),
                               instance_uuid=instance_uuid, status=status,
                               limit=MAX_LIST)
