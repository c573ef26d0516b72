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
        """oslo.context's ``from_dict`` and our two fields, read in one
        dict rather than by ``setdefault`` (4 of the 11 us it took, on
        every call a proxy serves); a test keeps the two equal."""
        get = values.get
        fields = {
            'auth_token': get('auth_token'), 'user_id': get('user'),
            'project_id': get('project_id'), 'domain_id': get('domain'),
            'user_domain_id': get('user_domain'),
            'project_domain_id': get('project_domain'),
            'is_admin': get('is_admin', False),
            'read_only': get('read_only', False),
            'show_deleted': get('show_deleted', False),
            'request_id': get('request_id'),
            'global_request_id': get('global_request_id'),
            'resource_uuid': get('resource_uuid'), 'roles': get('roles'),
            'user_name': get('user_name'),
            'project_name': get('project_name'),
            'domain_name': get('domain_name'),
            'user_domain_name': get('user_domain_name'),
            'project_domain_name': get('project_domain_name'),
            'is_admin_project': get('is_admin_project', True),
            'system_scope': get('system_scope'),
            'compute_host': get('compute_host'),
            'read_deleted': get('read_deleted', 'no')}
        for key in cls.FROM_DICT_EXTRA_KEYS:
            fields[key] = get(key)
        fields.update(kwargs)
        return cls(**fields)

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
