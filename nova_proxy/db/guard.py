"""Keep the database out of compute processes.

``block_db_access(binary)`` is the first thing a compute service does. From
then on any call into the database layer raises ``DBNotAllowed``, and so
does importing it for the first time: a compute node that needs the database
has a bug, and we want it loud, as nova's ``block_db_access`` made it.
"""

import importlib.abc
import sys

from nova_proxy import exception

__all__ = ['block_db_access', 'unblock_db_access', 'check_db_access',
           'BLOCKED_MODULES']

# Importing any of these in a blocked process raises DBNotAllowed.
BLOCKED_MODULES = ('nova_proxy.db.api', 'nova_proxy.db.session',
                   'nova_proxy.db.migration',
                   'nova_proxy.orchestration.journal',
                   'nova_proxy.periodic.claims')

_blocked_by = None


class _BlockingFinder(importlib.abc.MetaPathFinder):

    def find_spec(self, fullname, path, target=None):
        if _blocked_by is not None and fullname in BLOCKED_MODULES:
            raise exception.DBNotAllowed(binary=_blocked_by)
        return None


_FINDER = _BlockingFinder()


def block_db_access(binary):
    """Forbid all database access in this process, for good."""
    global _blocked_by
    _blocked_by = binary
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def unblock_db_access():
    """Only for tests that run a compute and a proxy in one process."""
    global _blocked_by
    _blocked_by = None
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


def check_db_access():
    """Raise DBNotAllowed if this process may not touch the database."""
    if _blocked_by is not None:
        raise exception.DBNotAllowed(binary=_blocked_by)
