"""The ``nova-compute-proxy`` daemon: database methods over RPC.

``rpcapi.py`` is the client, the only code that knows the wire names and
versions; ``manager.py`` holds the endpoints; ``policy.py`` the host-scope
rules; ``service.py`` the RPC server process.
"""
