"""Errors of nova-compute-proxy.

Every error that crosses the wire is a class of this module: the server
serializes its name and kwargs, and a client that lists this module in its
allowed remote exception modules (``nova_proxy.common.rpc`` does) rebuilds
the same class, so ``except exception.InstanceNotFound`` works on a compute
node exactly as it would next to the database.

Each class has a ``msg_fmt``; its kwargs are kept in ``self.kwargs`` and are
forced to JSON-safe values so that they serialize. No HTTP codes: this is not
an API service.
"""

import datetime

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

__all__ = [
    'NovaProxyException', 'Invalid', 'InvalidUUID', 'InvalidUpdate',
    'InvalidRequest', 'InvalidInput', 'InvalidSortKey', 'NotFound',
    'InstanceNotFound', 'MigrationNotFound', 'MigrationNotFoundByStatus',
    'MigrationNotFoundForInstance', 'MarkerNotFound', 'ConstraintNotMet',
    'ServiceNotFound', 'ComputeHostNotFound', 'HostBinaryNotFound',
    'InstanceActionNotFound', 'InstanceActionEventNotFound',
    'PciDeviceNotFound', 'PciDeviceNotFoundById', 'InstanceInfoCacheNotFound',
    'InstanceTagNotFound', 'BDMNotFound', 'InvalidBDM', 'InvalidBDMFormat',
    'BlockDeviceMappingExists', 'ShareMappingAlreadyExists',
    'OperationNotFound', 'Conflict', 'InstanceExists', 'ServiceExists',
    'ServiceBinaryExists', 'ServiceTopicExists', 'SecurityGroupNotFound',
    'SecurityGroupNotFoundForProject', 'SecurityGroupExists',
    'TaskAlreadyRunning', 'TaskNotRunning', 'TokenInUse',
    'ComputeNodeExists', 'InstanceUpdateConflict',
    'UnknownInstanceUpdateConflict', 'UnexpectedTaskStateError',
    'UnexpectedDeletingTaskStateError', 'UnexpectedVMStateError',
    'InvalidID',
    'OperationInProgress', 'OperationConflict', 'Forbidden',
    'HostScopeViolation', 'DBNotAllowed', 'NoValidHost',
    'ComputeUnavailable', 'StepFailed', 'StaleEpoch', 'ProxyInternalError',
    'NotAuthenticated', 'InvalidKeyFile', 'BrokerCommandFailed',
    'DatabaseUnavailable',
]


def _json_safe(value):
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return str(value)


class NovaProxyException(Exception):
    """Base class: formats ``msg_fmt`` with the kwargs it is given."""

    msg_fmt = 'An unknown error occurred.'

    def __init__(self, message=None, **kwargs):
        self.kwargs = {k: _json_safe(v) for k, v in kwargs.items()}
        if not message:
            try:
                message = self.msg_fmt % self.kwargs
            except (KeyError, TypeError, ValueError):
                # A wrong kwarg is our bug, not the caller's: keep the class
                # and say what we have rather than raise something else.
                LOG.exception('Bad kwargs %(kwargs)s for %(name)s',
                              {'kwargs': self.kwargs,
                               'name': type(self).__name__})
                message = '%s: %s' % (self.msg_fmt, self.kwargs)
        self.message = message
        super().__init__(message)

    def format_message(self):
        """The message alone, without the remote traceback."""
        return self.message


class Invalid(NovaProxyException):
    msg_fmt = 'Invalid request: %(reason)s'


class InvalidUUID(Invalid):
    msg_fmt = 'Expected a UUID but received %(uuid)s.'


class InvalidUpdate(Invalid):
    msg_fmt = 'Field %(field)s cannot be updated: %(reason)s'


class SecurityGroupExists(Invalid):
    msg_fmt = ('Security group %(security_group_name)s already exists for '
               'project %(project_id)s.')


class InvalidRequest(Invalid):
    msg_fmt = 'Invalid request to %(method)s: %(reason)s'


class InvalidID(Invalid):
    msg_fmt = 'Invalid ID received %(id)s.'


class InvalidBDM(Invalid):
    msg_fmt = 'Block Device Mapping is Invalid.'


class InvalidBDMFormat(InvalidBDM):
    msg_fmt = 'Block Device Mapping is Invalid: %(details)s'


class InvalidInput(Invalid):
    msg_fmt = 'Invalid input received: %(reason)s'


class InvalidSortKey(Invalid):
    msg_fmt = 'Sort key supplied was not valid.'


class NotFound(NovaProxyException):
    msg_fmt = 'Resource could not be found.'


class InstanceNotFound(NotFound):
    msg_fmt = 'Instance %(instance_id)s could not be found.'


class MigrationNotFound(NotFound):
    msg_fmt = 'Migration %(migration_id)s could not be found.'


class MigrationNotFoundByStatus(MigrationNotFound):
    msg_fmt = ('Migration not found for instance %(instance_id)s with '
               'status %(status)s.')


class MigrationNotFoundForInstance(MigrationNotFound):
    msg_fmt = ('Migration %(migration_id)s not found for instance '
               '%(instance_id)s')


class MarkerNotFound(NotFound):
    msg_fmt = 'Marker %(marker)s could not be found.'


class ServiceNotFound(NotFound):
    msg_fmt = 'Service %(service_id)s could not be found.'


class ComputeHostNotFound(NotFound):
    # nova's message and kwarg (``host``: a host, node name, id or uuid,
    # whatever was looked for); the 1.x calls also give ``node``.
    msg_fmt = 'Compute host %(host)s could not be found.'


class HostBinaryNotFound(ServiceNotFound):
    msg_fmt = 'Could not find binary %(binary)s on host %(host)s.'


class InstanceActionNotFound(NotFound):
    msg_fmt = ('Action for request_id %(request_id)s on instance '
               '%(instance_uuid)s not found')


class InstanceActionEventNotFound(NotFound):
    msg_fmt = 'Event %(event)s not found for action id %(action_id)s'


class PciDeviceNotFound(NotFound):
    msg_fmt = 'PCI Device %(node_id)s:%(address)s not found.'


class PciDeviceNotFoundById(NotFound):
    msg_fmt = 'PCI device %(id)s not found'


class InstanceInfoCacheNotFound(NotFound):
    msg_fmt = 'Info cache for instance %(instance_uuid)s could not be found.'


class InstanceTagNotFound(NotFound):
    msg_fmt = "Instance %(instance_id)s has no tag '%(tag)s'"


class BDMNotFound(NotFound):
    msg_fmt = 'No Block Device Mapping with id %(id)s.'


class SecurityGroupNotFound(NotFound):
    msg_fmt = 'Security group %(security_group_id)s not found.'


class SecurityGroupNotFoundForProject(SecurityGroupNotFound):
    msg_fmt = ('Security group %(security_group_id)s not found for project '
               '%(project_id)s.')


class TaskNotRunning(NotFound):
    msg_fmt = 'Task %(task_name)s is not running on host %(host)s'


class OperationNotFound(NotFound):
    msg_fmt = 'Operation %(operation_id)s could not be found.'


class Conflict(NovaProxyException):
    msg_fmt = 'Conflict: %(reason)s'


class InstanceExists(Conflict):
    msg_fmt = 'Instance %(instance_uuid)s already exists.'


class ServiceExists(Conflict):
    msg_fmt = 'Service %(binary)s on host %(host)s already exists.'


class ServiceBinaryExists(ServiceExists):
    msg_fmt = 'Service with host %(host)s binary %(binary)s exists.'


class ServiceTopicExists(ServiceExists):
    msg_fmt = 'Service with host %(host)s topic %(topic)s exists.'


class TokenInUse(Conflict):
    msg_fmt = 'The supplied token is already in use.'


class TaskAlreadyRunning(Conflict):
    msg_fmt = 'Task %(task_name)s is already running on host %(host)s'


class ComputeNodeExists(Conflict):
    msg_fmt = 'Compute node %(host)s/%(node)s already exists.'


class BlockDeviceMappingExists(Conflict):
    # nova has no class: its database raises oslo.db's DBDuplicateEntry,
    # which the shim raises in its place (nova_proxy.compute.db).
    msg_fmt = 'Block device mapping %(uuid)s already exists.'


class ShareMappingAlreadyExists(Conflict):
    # nova's class of this name derives from NotFound; its API raises it
    # for the DBDuplicateEntry of a share or tag used twice.
    msg_fmt = ("Share '%(share_id)s' or tag '%(tag)s' already associated "
               "to this server.")


class InstanceUpdateConflict(Conflict):
    """nova's: a compare-and-swap of an instance found other values than
    expected. The 2.x calls give nova's kwargs, ``expected`` and ``actual``
    as dicts of the fields in conflict (``{'task_state': ['spawning']}``,
    ``{'task_state': None}``); the 1.x calls give the expected value as
    sent and the actual value of the one field named by the class."""
    msg_fmt = ('Conflict updating instance %(instance_uuid)s. '
               'Expected: %(expected)s. Actual: %(actual)s')


class UnknownInstanceUpdateConflict(InstanceUpdateConflict):
    msg_fmt = ('Conflict updating instance %(instance_uuid)s, but the '
               'cause could not be determined')


class UnexpectedTaskStateError(InstanceUpdateConflict):
    msg_fmt = ('Conflict updating instance %(instance_uuid)s. '
               'Expected task_state: %(expected)s. Actual: %(actual)s')


class UnexpectedDeletingTaskStateError(UnexpectedTaskStateError):
    pass


class UnexpectedVMStateError(InstanceUpdateConflict):
    """Ours: nova raises its InstanceUpdateConflict for a vm_state
    conflict; nova's shim raises this as a subclass of it."""

    msg_fmt = ('Conflict updating instance %(instance_uuid)s. '
               'Expected vm_state: %(expected)s. Actual: %(actual)s')


class OperationInProgress(Conflict):
    msg_fmt = ('Instance %(instance_uuid)s already has operation '
               '%(operation_id)s in progress.')


class OperationConflict(Conflict):
    msg_fmt = ('Operation id %(operation_id)s is already used by a '
               '%(kind)s of instance %(instance_uuid)s.')


class StaleEpoch(Conflict):
    msg_fmt = ('Operation %(operation_id)s is no longer owned at epoch '
               '%(epoch)s by this proxy.')


class ConstraintNotMet(Conflict):
    # nova's (a row was there, but not as a ``constraint`` required).
    msg_fmt = 'Constraint not met.'


class Forbidden(NovaProxyException):
    msg_fmt = 'Not allowed: %(reason)s'


class HostScopeViolation(Forbidden):
    msg_fmt = 'Compute host %(caller)s may not touch %(resource)s.'

    def __init__(self, message=None, owner=None, **kwargs):
        # The owner is not the caller's to learn: a compute host probing
        # ids would otherwise map the other hosts' rows to their hosts.
        # Raisers still name it, for reading the code.
        super().__init__(message, **kwargs)


class DBNotAllowed(NovaProxyException):
    msg_fmt = ('%(binary)s attempted direct database access, which is not '
               'allowed by policy.')


class NoValidHost(NovaProxyException):
    msg_fmt = 'No valid host was found. %(reason)s'


class ComputeUnavailable(NovaProxyException):
    msg_fmt = 'Compute host %(host)s did not answer: %(reason)s'


class StepFailed(NovaProxyException):
    msg_fmt = 'Step %(step)s of operation %(operation_id)s failed: %(reason)s'


class ProxyInternalError(NovaProxyException):
    msg_fmt = ('The proxy failed to process %(method)s (error id '
               '%(error_id)s): %(reason)s')


class ComputeResourcesUnavailable(NoValidHost):
    """A compute host has no room for a claim (build or prep_resize)."""
    msg_fmt = ('Insufficient compute resources on host %(host)s: '
               '%(reason)s.')


class NotAuthenticated(Forbidden):
    """A call whose signature does not check, or an unsigned call where
    signatures are required (``nova_proxy.common.auth``)."""
    msg_fmt = 'Call %(method)s refused: %(reason)s'


class InvalidKeyFile(Invalid):
    """A key file of ``nova_proxy.common.keys`` is missing or malformed."""
    msg_fmt = 'Key file %(path)s cannot be used: %(reason)s'


class BrokerCommandFailed(Invalid):
    """``nova-compute-proxy-manage broker`` could not make or apply a
    broker user's permissions."""
    msg_fmt = 'Broker permissions for %(who)s: %(reason)s'


class DatabaseUnavailable(NovaProxyException):
    """The proxy could not reach its database (down, refusing
    connections, connection lost). The proxy keeps serving and recovers by
    itself when the database is back. Refused at connect: nothing was
    written. Lost mid-transaction: the write may or may not have been
    committed, so only calls safe to repeat should be retried."""
    msg_fmt = ('The database is unavailable to the proxy serving '
               '%(method)s: %(reason)s')
