"""Drive the shim from many concurrent workers, as nova-compute would.

Run as a script (never imported by the tests), so that the process starts
the way a compute process does::

    python tests/functional/shim_client.py '<json spec>'

``spec``: ``mode`` (``eventlet``: ``eventlet.monkey_patch()`` before
anything else, oslo.service's backend left alone, greenthreads;
``threading``: ``nova_proxy.cmd`` first, OS threads), ``config`` (a config
file naming the broker, exchange and proxy topic), ``host``, ``shared`` (an
instance every worker reads and races for), ``own`` (one instance per
worker) and ``calls``.

Prints one JSON line: what happened, for the test to check.
"""

import json
import sys

SPEC = json.loads(sys.argv[1])

if SPEC['mode'] == 'eventlet':
    import eventlet
    eventlet.monkey_patch()
else:
    import nova_proxy.cmd  # noqa: F401

import threading  # noqa: E402
import time  # noqa: E402

from nova_proxy.common import context  # noqa: E402
from nova_proxy.common import rpc  # noqa: E402
from nova_proxy.compute import db_v1 as db  # noqa: E402
from nova_proxy import conf  # noqa: E402
from nova_proxy import exception  # noqa: E402


class Tracker:

    def __init__(self):
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls = 0
        self.errors = []
        self.wins = []
        self.losses = 0

    def call(self, fn, *args):
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return fn(*args)
        finally:
            with self.lock:
                self.in_flight -= 1
                self.calls += 1


def worker(tracker, index, own):
    ctx = context.get_compute_context(SPEC['host'])
    try:
        assert tracker.call(db.ping, ctx, index) == index
        for n in range(SPEC['calls']):
            updated = tracker.call(db.instance_update, ctx, own,
                                   {'display_name': 'w%d-%d' % (index, n)})
            assert updated['display_name'] == 'w%d-%d' % (index, n)
            shared = tracker.call(db.instance_get_by_uuid, ctx,
                                  SPEC['shared'])
            assert shared['uuid'] == SPEC['shared']
        try:
            tracker.call(db.instance_update, ctx, SPEC['shared'],
                         {'task_state': 'w%d' % index,
                          'expected_task_state': None})
            tracker.wins.append('w%d' % index)
        except exception.UnexpectedTaskStateError:
            tracker.losses += 1
    except Exception as e:
        tracker.errors.append('%s: %s' % (type(e).__name__, e))


def main():
    # The 1.x shim lives in our own compute service, which registers every
    # option of the project (nova_proxy.cmd does; the eventlet mode does
    # not import it, to leave oslo.service's backend alone).
    conf.register_opts()
    rpc.set_defaults()
    conf.CONF(['--config-file', SPEC['config']],
              project='nova-compute-proxy')
    rpc.init()
    tracker = Tracker()
    started = time.monotonic()
    if SPEC['mode'] == 'eventlet':
        pool = eventlet.GreenPool(len(SPEC['own']))
        for index, own in enumerate(SPEC['own']):
            pool.spawn(worker, tracker, index, own)
        pool.waitall()
    else:
        threads = [threading.Thread(target=worker,
                                    args=(tracker, index, own))
                   for index, own in enumerate(SPEC['own'])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elapsed = time.monotonic() - started

    from oslo_service import backend
    patched = False
    if 'eventlet' in sys.modules:
        from eventlet import patcher
        patched = patcher.is_monkey_patched('thread')
    print(json.dumps({
        'mode': SPEC['mode'], 'monkey_patched': patched,
        'backend': backend.get_backend_type().name,
        'default_backend': backend.DEFAULT_BACKEND_TYPE.name,
        'calls': tracker.calls, 'max_in_flight': tracker.max_in_flight,
        'errors': tracker.errors, 'wins': tracker.wins,
        'losses': tracker.losses, 'elapsed': elapsed}))
    rpc.cleanup()


if __name__ == '__main__':
    main()
