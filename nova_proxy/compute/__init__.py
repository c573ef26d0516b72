"""The compute side of nova-compute-proxy.

``db.py``
    The shim: a drop-in for ``nova.db.api`` in nova-compute. Every function
    is one ``rpc.call`` to the proxies. Importable in a threaded process and
    in an eventlet-monkey-patched one (this package imports nothing that
    picks an oslo.service backend).
``rpcapi.py``, ``manager.py``, ``service.py``
    The reference compute service ``nova-compute-proxy-compute``: its RPC
    client (used by the proxies), its endpoints, and the process with its
    own periodic tasks (``periodic.py``).
``virt/fake.py``
    The fake virt driver, with on-disk state and a per-step ledger.
"""
