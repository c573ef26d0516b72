"""nova's ``constraint()`` as it crosses the wire, made SQL.

nova's callers pass ``constraint(host=equal_any('h1'))`` to a write
(``compute_node_delete``, ``instance_destroy``); the shim sends it as
``{"__constraint__": {column: {"equal_any": [values]}}}`` (``not_equal``
likewise; docs/wire.rst). ``conditions`` turns that into WHERE conditions
on a table, so the write and its condition are one statement, and refuses
any other shape by name.
"""

import sqlalchemy as sa

from nova_proxy import exception

__all__ = ['KEY', 'conditions']

KEY = '__constraint__'

_SCALARS = (str, int, float, bool, type(None))


def _equal_any(column, values):
    # nova's EqualityCondition: the column equals one of the values, an
    # OR of ``==``, so None is IS NULL (nova's Instance.destroy sends
    # equal_any(None) for an instance without a host); none given: nothing
    # matches, as nova's empty OR.
    return sa.or_(sa.false(), *[column == value for value in values])


def _not_equal(column, values):
    # nova's InequalityCondition: an AND of ``!=`` (None: IS NOT NULL).
    return sa.and_(sa.true(), *[column != value for value in values])


_CONDITIONS = {'equal_any': _equal_any, 'not_equal': _not_equal}


def _invalid(reason):
    return exception.Invalid(reason='constraint: %s' % reason)


def conditions(table, constraint):
    """The WHERE conditions of ``constraint`` (its wire form, or None) on
    ``table``.

    :raises: Invalid for anything but the wire form, an unknown column or
        condition, or a value that is not a scalar
    """
    if constraint is None:
        return []
    if not isinstance(constraint, dict) or set(constraint) != {KEY} or \
            not isinstance(constraint[KEY], dict):
        raise _invalid('expected {"%s": {column: condition}}' % KEY)
    result = []
    for name, condition in constraint[KEY].items():
        column = table.c.get(name)
        if column is None:
            raise _invalid('%s has no column %r' % (table.name, name))
        if not isinstance(condition, dict) or len(condition) != 1:
            raise _invalid('the condition of %s is not one of %s'
                           % (name, ', '.join(sorted(_CONDITIONS))))
        (kind, values), = condition.items()
        if kind not in _CONDITIONS:
            raise _invalid('unknown condition %r on %s' % (kind, name))
        if not isinstance(values, list) or \
                not all(isinstance(v, _SCALARS) for v in values):
            raise _invalid('the values of %s are not a list of scalars'
                           % name)
        result.append(_CONDITIONS[kind](column, values))
    return result
