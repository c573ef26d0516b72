"""nova's console authorization token calls, over RPC: the tokens of the
instances in the caller's scope, and its own host's expired ones
(proxy/endpoints/console_auth_tokens.py).

``console_auth_token_destroy_expired`` deletes the expired tokens of
every host in nova; nova 34's compute calls it from its periodic task
``_cleanup_expired_console_auth_tokens`` (every 10 minutes). The proxies
refuse that to a compute host (another host's tokens are not its own), so
here it deletes this host's expired tokens: the same task, each compute
cleaning its own, instead of an error logged every period.
"""

from nova_proxy.compute.db._client import call
from nova_proxy.compute.db._client import this_host

__all__ = [
    'console_auth_token_create', 'console_auth_token_destroy_all_by_instance',
    'console_auth_token_destroy_expired',
    'console_auth_token_destroy_expired_by_host',
    'console_auth_token_get_valid',
]


def console_auth_token_create(context, values):
    return call(context, 'console_auth_token_create', values=values)


def console_auth_token_destroy_all_by_instance(context, instance_uuid):
    return call(context, 'console_auth_token_destroy_all_by_instance',
                instance_uuid=instance_uuid)


def console_auth_token_destroy_expired(context):
    return call(context, 'console_auth_token_destroy_expired_by_host',
                host=this_host())


def console_auth_token_destroy_expired_by_host(context, host):
    return call(context, 'console_auth_token_destroy_expired_by_host',
                host=host)


def console_auth_token_get_valid(context, token_hash, instance_uuid=None):
    return call(context, 'console_auth_token_get_valid',
                token_hash=token_hash, instance_uuid=instance_uuid)
