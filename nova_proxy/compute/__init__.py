"""The compute side of nova-compute-proxy.

``db/``
    The shim: a drop-in for nova's ``nova.db.main.api`` in nova-compute
    (wire 2.x). Every function is one ``rpc.call`` to the proxies.
    Importable in a threaded process and in an eventlet-monkey-patched one
    (this package imports nothing that picks an oslo.service backend).
``db_v1.py``
    The 1.x shim (``ProxyAPI``, the proxies' own names), kept for 1.x
    clients and the bench until the 1.x methods go at 3.0.
``rpcapi.py``, ``manager.py``, ``service.py``
    The reference compute service ``nova-compute-proxy-compute``: its RPC
    client (used by the proxies), its endpoints, and the process with its
    own periodic tasks (``periodic.py``). It reaches the database through
    ``db/`` with nova-compute's calls (``actions.py`` records actions,
    events and faults); only its start-up ``ping`` is a 1.x call.
``virt/fake.py``
    The fake virt driver, with on-disk state and a per-step ledger.
"""
