"""nova's console authorization tokens: a compute host makes and removes
the tokens of its own instances and cleans up its own expired ones."""

from nova_proxy.common import rpc
from nova_proxy.db import api as db
from nova_proxy.proxy.endpoints import base
from nova_proxy.proxy import policy

__all__ = ['ConsoleAuthTokenEndpoint']


class ConsoleAuthTokenEndpoint(base.Endpoint):

    @rpc.remotable
    def console_auth_token_create(self, context, values):
        return db.console_auth_token_create(
            context, values, scope_host=policy.scope_host(context))

    @rpc.remotable
    def console_auth_token_get_valid(self, context, token_hash: str,
                                     instance_uuid: str | None = None):
        return db.console_auth_token_get_valid(
            context, token_hash, instance_uuid=instance_uuid,
            scope_host=policy.scope_host(context))

    @rpc.remotable
    def console_auth_token_destroy_all_by_instance(self, context,
                                                   instance_uuid: str):
        return db.console_auth_token_destroy_all_by_instance(
            context, instance_uuid, scope_host=policy.scope_host(context))

    @rpc.remotable
    def console_auth_token_destroy_expired(self, context):
        policy.check_unconfined(context,
                                'delete the expired tokens of all hosts')
        return db.console_auth_token_destroy_expired(context)

    @rpc.remotable
    def console_auth_token_destroy_expired_by_host(self, context,
                                                   host: str):
        policy.check_host(context, host, 'the console tokens of %s' % host)
        return db.console_auth_token_destroy_expired_by_host(context, host)
