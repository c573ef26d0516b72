"""The helpers nova's objects use around their database calls, in forms
that need no database.

* ``constraint``/``equal_any``/``not_equal`` build what nova's do (a
  column -> condition mapping); ``_client.to_wire`` sends it, and the
  proxy applies it in its statement.
* ``get_context_manager(context)`` returns an object whose ``reader``,
  ``writer``, ``async_``, ``allow_async`` and ``independent`` are itself
  and whose ``using(context)`` enters nothing: nova's
  ``select_db_reader_mode`` and ``writer.independent.using(context)`` pass
  through it to the module functions, which are RPC calls.
* ``select_db_reader_mode`` leaves the function as it is.
* ``pick_context_manager_reader``/``_writer``/``_reader_allow_async`` mark
  functions that query ``context.session`` themselves: in this process
  they raise nova's ``DBNotAllowed`` instead (``nova.enable()`` replaces
  the ones nova-compute reaches by proxy calls).
"""

import contextlib
import functools

from nova_proxy.compute.db import _client

__all__ = ['constraint', 'equal_any', 'not_equal', 'Constraint',
           'EqualityCondition', 'InequalityCondition', 'get_context_manager',
           'select_db_reader_mode', 'pick_context_manager_reader',
           'pick_context_manager_writer',
           'pick_context_manager_reader_allow_async']


class Constraint:
    """Conditions on columns that an update or delete must meet."""

    def __init__(self, conditions):
        self.conditions = conditions


class EqualityCondition:
    """The column equals one of ``values``."""

    def __init__(self, values):
        self.values = values


class InequalityCondition:
    """The column equals none of ``values``."""

    def __init__(self, values):
        self.values = values


def constraint(**conditions):
    """A constraint, as nova's: ``constraint(host=equal_any('h1'))``."""
    return Constraint(conditions)


def equal_any(*values):
    return EqualityCondition(values)


def not_equal(*values):
    return InequalityCondition(values)


class _NoDatabase:
    """Stands for nova's enginefacade transaction context, with nothing
    behind it: every mode is this same object."""

    @property
    def reader(self):
        return self

    writer = async_ = allow_async = independent = reader

    def using(self, context):
        return contextlib.nullcontext()

    def __call__(self, fn):
        return fn


_NO_DATABASE = _NoDatabase()


def get_context_manager(context):
    return _NO_DATABASE


def select_db_reader_mode(f):
    return f


def _refused(f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        raise _client.db_not_allowed()
    return wrapper


pick_context_manager_reader = _refused
pick_context_manager_writer = _refused
pick_context_manager_reader_allow_async = _refused
