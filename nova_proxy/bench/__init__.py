"""``nova-compute-proxy-bench``: the proxy measured beside its floors.

One run measures, against the same RabbitMQ and the same database:

* ``direct``: ``nova_proxy.db.api.instance_update`` in-process, as
  nova-compute called its database before this project;
* ``raw-sql``: the same compare-and-swap with the database driver alone,
  the floor of the database part (:mod:`nova_proxy.bench.rawsql`);
* ``amqp``: a raw AMQP echo with RabbitMQ's direct reply-to, the floor of
  any RPC (:mod:`nova_proxy.bench.echo`);
* ``oslo``: a plain oslo.messaging echo server with default settings, the
  floor of any oslo.messaging service;
* ``proxy``: ``instance_update`` through the 1.x shim
  (``nova_proxy.compute.db_v1``, over ``ProxyAPI``) to running
  ``nova-compute-proxy`` processes, and ``build``: the calls of one instance
  build (:mod:`nova_proxy.bench.workloads`); ``proxy-nova`` and
  ``build-nova``: the same through the 2.x shim (``nova_proxy.compute.db``)
  as nova 34's objects make them;

then a fleet simulation of nova 34's calls (:mod:`nova_proxy.bench.fleet`)
with its floors: the echo servers answering the same fleet, and the
proxies' psycopg2 timed (:mod:`nova_proxy.bench.drivercpu`),
and the targets (:mod:`nova_proxy.bench.stats`). Every server runs
in its own process, so the CPU each spends is read from ``/proc``
(:mod:`nova_proxy.bench.cpu`). See ``docs/benchmark.rst``.
"""
