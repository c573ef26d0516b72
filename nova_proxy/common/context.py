"""The request context that travels with every RPC call.

It is an oslo.context ``RequestContext`` sent as its ``to_dict()``. We add
one field, ``compute_host``: the compute host a call comes from, which the
proxy's host-scope policy checks (``nova_proxy.proxy.policy``). A context
without it is an operator's or another proxy's.

And one of nova's, ``read_deleted`` (``no``, ``yes`` or ``only``): nova's
objects read soft-deleted rows by sending a context with
``read_deleted='yes'``, and the 2.x database API honours it as nova's
does. It is checked where it is used (``nova_proxy.db.api``), so a bad
value is the caller's named error, not a failure to read the message.
"""

from oslo_context import context as oslo_context
from oslo_db.sqlalchemy import enginefacade

__all__ = ['RequestContext', 'get_admin_context', 'get_compute_context']


@enginefacade.transaction_context_provider
class RequestContext(oslo_context.RequestContext):

    def __init__(self, compute_host=None, read_deleted='no', **kwargs):
        super().__init__(**kwargs)
        self.compute_host = compute_host
        self.read_deleted = read_deleted

    def to_dict(self):
        values = super().to_dict()
        values['compute_host'] = self.compute_host
        values['read_deleted'] = self.read_deleted
        return values

    @classmethod
    def from_dict(cls, values, **kwargs):
        kwargs.setdefault('compute_host', values.get('compute_host'))
        kwargs.setdefault('read_deleted', values.get('read_deleted', 'no'))
        return super().from_dict(values, **kwargs)

    def elevated(self):
        """A copy without the compute host scope, for the proxy's own work."""
        ctx = RequestContext.from_dict(self.to_dict())
        ctx.compute_host = None
        ctx.is_admin = True
        return ctx


def get_admin_context():
    return RequestContext(is_admin=True, overwrite=False)


def get_compute_context(host):
    """The context a compute service sends: scoped to its own host."""
    return RequestContext(compute_host=host, overwrite=False)
