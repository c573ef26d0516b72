"""The database layer. Only the proxy and the manage command import it.

A compute process calls ``nova_proxy.db.guard.block_db_access()`` at start;
from then on importing ``nova_proxy.db.api`` or calling into it raises
``DBNotAllowed``.
"""
