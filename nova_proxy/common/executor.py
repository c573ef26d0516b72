"""The executor of our RPC servers: a thread pool that wakes the thread
that worked last.

oslo.messaging's threading executor (futurist's ``ThreadPoolExecutor``)
starts a new thread for each of the first ``executor_thread_pool_size``
messages, busy or not, and its idle threads wait on one queue, where the
longest waiting is woken first: a proxy serving one call at a time ran
each call on the next of its 8 threads in turn, and every idle thread
woke once a second to look for its stop flag (a stop waited up to a
second for them).

``LastIdlePool`` gives a message to the thread that went idle last (its
stack and thread-local state are the most recently used), starts a
thread only when every thread is busy, up to ``max_workers``, and queues
messages beyond that in arrival order. Idle threads sleep until they are
given work or the pool shuts down. Measured against futurist's pool
(docs/benchmark.rst, step 29): fewer context switches per call, the same
CPU per call within the spread of a shared machine.

``shutdown(wait=True)`` runs what was queued before returning, as
oslo.messaging's ``RPCServer.wait()`` expects of its executor (the
graceful drain of a stopping server).
"""

import collections
import threading

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

__all__ = ['LastIdlePool']


class _Worker:
    """One thread of the pool and the lock it sleeps on."""

    def __init__(self, pool, name):
        self.pool = pool
        self.wake = threading.Lock()
        self.wake.acquire()
        self.task = None
        self.thread = threading.Thread(target=self.run, name=name,
                                       daemon=True)

    def run(self):
        pool = self.pool
        while True:
            task = self.task
            self.task = None
            if task is None:
                return
            fn, args, kwargs = task
            try:
                fn(*args, **kwargs)
            except Exception:
                # oslo.messaging's _process_incoming logs its own errors;
                # this is what escapes it.
                LOG.exception('Unexpected error in an RPC server thread')
            task = pool._next(self)
            if task is None:
                # Idle: sleep until given work (or None at shutdown).
                self.wake.acquire()
            else:
                self.task = task


class LastIdlePool:
    """An executor for oslo.messaging's RPC server (``submit()``,
    ``shutdown()``), see the module's documentation.

    :param max_workers: most threads running messages at once.
    """

    def __init__(self, max_workers):
        if max_workers < 1:
            raise ValueError('max_workers must be at least 1')
        self.max_workers = max_workers
        self._lock = threading.Lock()
        self._idle = []  # a stack: the last to go idle is woken first
        self._workers = []
        self._backlog = collections.deque()
        self._busy = 0
        self._shutdown = False
        self._drained = threading.Condition(self._lock)

    @property
    def busy(self):
        """Threads running a message now."""
        return self._busy

    def submit(self, fn, *args, **kwargs):
        """Run ``fn(*args, **kwargs)`` in a thread of the pool.

        :raises: RuntimeError after ``shutdown()``
        """
        task = (fn, args, kwargs)
        with self._lock:
            if self._shutdown:
                raise RuntimeError('cannot submit to a pool shut down')
            if self._idle:
                worker = self._idle.pop()
                worker.task = task
                self._busy += 1
                worker.wake.release()
                return
            if len(self._workers) < self.max_workers:
                worker = _Worker(self, 'rpc-%d' % len(self._workers))
                worker.task = task
                self._workers.append(worker)
                self._busy += 1
                worker.thread.start()
                return
            self._backlog.append(task)

    def _next(self, worker):
        """What ``worker``, done with a task, runs next: the oldest queued
        task, or None (then it is idle, or it stops at shutdown)."""
        with self._lock:
            if self._backlog:
                return self._backlog.popleft()
            self._busy -= 1
            if self._shutdown:
                worker.task = None
                worker.wake.release()  # acquired at once: the thread ends
            else:
                self._idle.append(worker)
            if not self._busy:
                self._drained.notify_all()
            return None

    def shutdown(self, wait=True):
        """Refuse new work; with ``wait``, return once everything
        submitted has run and the threads have ended."""
        with self._lock:
            self._shutdown = True
            idle, self._idle = self._idle, []
            for worker in idle:
                worker.task = None
                worker.wake.release()
            if wait:
                while self._busy or self._backlog:
                    self._drained.wait()
            workers = list(self._workers)
        if wait:
            for worker in workers:
                if worker.thread is not threading.current_thread():
                    worker.thread.join()
