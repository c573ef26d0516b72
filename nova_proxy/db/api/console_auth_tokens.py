"""nova's console authorization tokens: nova-compute creates one when a
console of an instance is asked for, and cleans up its host's expired
ones."""

import time

from oslo_db import exception as db_exc
import sqlalchemy as sa

from nova_proxy import conf
from nova_proxy import exception
from nova_proxy.db.api import _dialect
from nova_proxy.db.api import _scope
from nova_proxy.db.api import _values
from nova_proxy.db import models
from nova_proxy.db import session as db_session

_TOKENS = models.ConsoleAuthToken.__table__
# What a confined caller is refused.
_TOKENS_OF = 'the console auth tokens of instance %(instance)s'
CONF = conf.CONF


def _now_ts():
    # ``expires`` is a Unix time in whole seconds, as nova stores it.
    return int(time.time())


@db_session.core_writer
def console_auth_token_create(context, values, *, scope_host=None):
    """Create a token of a live instance (in ``scope_host``'s scope, for
    a confined caller).

    :returns: the token's row.
    :raises: InstanceNotFound, InvalidUUID, HostScopeViolation,
        InvalidUpdate, TokenInUse
    """
    values = _values.check_nova_values(_TOKENS, values)
    # The instance's row locked: it stays in the caller's scope until
    # the token is written.
    _scope.scoped_instance(context.connection, values.get('instance_uuid'),
                           scope_host, lock=True, resource=_TOKENS_OF)
    if scope_host is not None and values.get('expires') is not None and \
            values['expires'] > _now_ts() + CONF.proxy.console_token_max_ttl:
        raise exception.InvalidUpdate(
            field='expires',
            reason='more than [proxy] console_token_max_ttl (%s s) ahead'
                   % CONF.proxy.console_token_max_ttl)
    values.setdefault('created_at', db_session.utcnow())
    try:
        with context.connection.begin_nested():
            return _dialect.insert_row(context.connection, _TOKENS, values)
    except db_exc.DBDuplicateEntry:
        # nova's ConsoleAuthToken.authorize turns the duplicate into
        # TokenInUse; here it arrives as that already.
        raise exception.TokenInUse() from None


@db_session.core_reader
def console_auth_token_get_valid(context, token_hash, instance_uuid=None,
                                 *, scope_host=None):
    """:returns: the unexpired token with ``token_hash`` (of
        ``instance_uuid`` when given), or None. For a confined caller,
        only a token of an instance in its scope is found.
    :raises: InstanceNotFound (``instance_uuid`` given and not a live
        instance), HostScopeViolation
    """
    t = _TOKENS.c
    conditions = [t.token_hash == token_hash, t.expires > _now_ts(),
                  _scope.instance_in_scope(t.instance_uuid, scope_host)]
    if instance_uuid is not None:
        _scope.scoped_instance(context.connection, instance_uuid,
                               scope_host, resource=_TOKENS_OF)
        conditions.append(t.instance_uuid == instance_uuid)
    found = _values.rows(context.connection, sa.select(_TOKENS).where(
        *conditions).order_by(t.id).limit(1))
    return found[0] if found else None


@db_session.core_writer
def console_auth_token_destroy_all_by_instance(context, instance_uuid, *,
                                               scope_host=None):
    """Delete the instance's tokens (none is not an error). nova-compute
    calls it also after it destroyed the instance.

    :raises: HostScopeViolation for an instance out of a confined
        caller's scope, InstanceNotFound for a confined caller naming no
        instance
    """
    if scope_host is not None:
        _scope.scoped_instance(context.connection, instance_uuid,
                               scope_host, deleted_too=True, lock=True,
                               resource=_TOKENS_OF)
    context.connection.execute(sa.delete(_TOKENS).where(
        _TOKENS.c.instance_uuid == instance_uuid))


@db_session.core_writer
def console_auth_token_destroy_expired(context):
    """Delete every expired token."""
    context.connection.execute(sa.delete(_TOKENS).where(
        _TOKENS.c.expires <= _now_ts()))


@db_session.core_writer
def console_auth_token_destroy_expired_by_host(context, host):
    """Delete the expired tokens of console host ``host``."""
    context.connection.execute(sa.delete(_TOKENS).where(
        _TOKENS.c.host == host, _TOKENS.c.expires <= _now_ts()))
