"""The alembic migrations of the proxy's database.

Installed as ``nova_proxy.db.migrations``; run them with
``nova-compute-proxy-manage db sync``.
"""
