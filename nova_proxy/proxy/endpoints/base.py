"""What every 2.x endpoint shares: its target and the scope checks of
rows that a read returns."""

import oslo_messaging as messaging

from nova_proxy.proxy import policy
from nova_proxy.proxy import rpcapi

__all__ = ['Endpoint', 'own_row', 'own_rows']


class Endpoint:
    """Base of the 2.x endpoints: their calls carry a 2.x version."""

    target = messaging.Target(version=rpcapi.NOVA_API_VERSION)


def own_row(context, row, resource, host_key='host'):
    """``row`` if a confined caller may read it (its ``host_key`` is the
    caller's host); else HostScopeViolation. None passes (nothing read).
    """
    if row is not None:
        policy.check_host(context, row[host_key], resource)
    return row


def own_rows(context, rows, resource, host_key='host'):
    """``rows`` if a confined caller may read all of them, as
    ``own_row``."""
    for row in rows:
        own_row(context, row, resource, host_key)
    return rows
