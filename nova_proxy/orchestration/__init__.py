"""Journaled orchestration: build, cold migration and resize driven by the
proxies (``compute_task`` RPC namespace).

* ``rpcapi`` - the client (``ComputeTaskAPI``) and the version history;
* ``manager`` - the endpoints, which accept an operation and return;
* ``journal`` - the ``operations`` table, epoch-fenced writes, takeover;
* ``engine`` - the per-worker threads that drive operations, take back
  their own after a restart and take over those of dead proxies;
* ``runner`` - drives one operation through its flow, with rollback;
* ``flows`` - the steps of each kind of operation;
* ``scheduler`` - picks a compute host with room;
* ``cli`` - ``nova-compute-proxy-manage operation list|show``.
"""
