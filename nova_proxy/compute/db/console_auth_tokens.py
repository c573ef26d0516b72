"""nova's console authorization token calls, over RPC: the tokens of the
instances in the caller's scope, and its own host's expired ones
(proxy/endpoints/console_auth_tokens.py)."""

from nova_proxy.compute.db._client import call

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
    return call(context, 'console_auth_token_destroy_expired')


def console_auth_token_destroy_expired_by_host(context, host):
    return call(context, 'console_auth_token_destroy_expired_by_host',
                host=host)


def console_auth_token_get_valid(context, token_hash, instance_uuid=None):
    return call(context, 'console_auth_token_get_valid',
                token_hash=token_hash, instance_uuid=instance_uuid)
