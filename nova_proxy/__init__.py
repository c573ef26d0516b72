"""nova-compute-proxy: database access for nova-compute, over RPC.

The package is laid out by architecture:

``proxy/``
    The ``nova-compute-proxy`` daemon's database endpoints (``manager.py``)
    and their client (``rpcapi.py``).
``compute/``
    The compute side: nova's database API over RPC for nova-compute
    (``compute/db/``, wire 2.x), the 1.x shim (``compute/db_v1.py``) and
    the reference compute service with its fake virt driver, which uses
    ``compute/db/`` as nova-compute would.
``orchestration/``
    The ``compute_task`` namespace: resize, cold migration and build,
    driven step by step by a proxy and journaled in the database.
``periodic/``
    Periodic tasks shared among the live proxies.
``db/``
    Models and the database API; only the proxy imports it.
``bench/``
    The benchmark and fleet simulation.
"""
