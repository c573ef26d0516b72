"""What the tests of an RPC server's receiving side share (unit tests on
``fake:/``, functional ones on RabbitMQ): an endpoint that records which
thread served each call and can hold a call on a gate, and a count of
the threads inside a listener's poll at once."""

import threading

import oslo_messaging as messaging

from nova_proxy.common import rpc


class GatedEndpoint:
    """``where()`` records the serving thread's name and returns how many
    calls came so far; with ``wait=True`` it first waits for ``gate``."""

    target = messaging.Target(version='1.0')

    def __init__(self):
        self.threads = []
        self.gate = threading.Event()

    @rpc.remotable
    def where(self, context, wait: bool = False):
        self.threads.append(threading.current_thread().name)
        if wait:
            self.gate.wait(30)
        return len(self.threads)


def count_concurrent_polls(listener, *others):
    """Wrap ``listener.poll`` (and set the same wrapper as the ``poll`` of
    each of ``others``, which call it too): returns a dict whose
    ``most`` is the most threads ever inside it at once and ``polls``
    how many polls started."""
    poll = listener.poll
    lock = threading.Lock()
    state = {'now': 0, 'most': 0, 'polls': 0}

    def counted(*args, **kwargs):
        with lock:
            state['now'] += 1
            state['polls'] += 1
            state['most'] = max(state['most'], state['now'])
        try:
            return poll(*args, **kwargs)
        finally:
            with lock:
                state['now'] -= 1

    listener.poll = counted
    for other in others:
        other.poll = counted
    return state
