"""Host scope: a compute node touches only what belongs to its host.

nova-conductor lets any compute node read and rewrite any instance. Here a
call whose context carries ``compute_host`` (every call from the shim does)
is confined to that host: its instances (or instances migrating to or from
it), its migrations, its service and compute node records. For writes to
instances the scope is part of the compare-and-swap's WHERE clause, so it
cannot race with a host change.

Calls without ``compute_host`` come from operators, other proxies and the
orchestration engine and are not confined. ``[proxy] enforce_host_scope``
turns the checks off, for debugging only.

Who the caller is: with keys deployed, ``compute_host`` is not the
caller's claim but the host whose key signed the call
(``nova_proxy.common.auth``, checked in ``rpc.remotable`` before the
endpoint runs); unsigned calls keep their asserted host unless ``[proxy]
require_signed_context`` refuses them. See docs/security.rst.
"""

from nova_proxy import conf
from nova_proxy import exception

CONF = conf.CONF

__all__ = ['scope_host', 'check_host', 'check_unconfined']


def scope_host(context):
    """The host a call is confined to, or None for an unconfined call."""
    if not CONF.proxy.enforce_host_scope:
        return None
    host = getattr(context, 'compute_host', None) or None
    if host is not None and not isinstance(host, str):
        # Any oslo.messaging client can send a context; a malformed one is
        # the caller's error, never a database error on our side.
        raise exception.Invalid(
            reason='context compute_host must be a string, not %s'
                   % type(host).__name__)
    return host


def check_host(context, host, resource):
    """Raise HostScopeViolation unless ``host`` is the caller's own."""
    caller = scope_host(context)
    if caller is not None and host != caller:
        raise exception.HostScopeViolation(caller=caller, resource=resource,
                                           owner=host)


def check_unconfined(context, action):
    """Raise Forbidden for a call confined to a host.

    For what only the control plane (operators, other proxies, the
    orchestration engine) may do: ``action`` says what, for the message.
    """
    caller = scope_host(context)
    if caller is not None:
        raise exception.Forbidden(
            reason='compute host %s may not %s' % (caller, action))
