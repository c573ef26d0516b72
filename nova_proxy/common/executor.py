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

An RPC server of ours hands each call over with ``submit_when_free``:
the receiving thread waits until a thread is free, and only then has the
call acknowledged (``hand_over.ack_on_hand_over``) and run. Nothing
waits in the pool's memory: the calls beyond its threads wait with the
broker, where another server can take them, and a crash of this one
loses only those running. ``submit`` (queueing beyond ``max_workers``)
stays for other callers.

``shutdown(wait=True)`` runs what was queued before returning, as
oslo.messaging's ``RPCServer.wait()`` expects of its executor (the
graceful drain of a stopping server).

``ReceiverFirstPool`` (the proxy's default) goes one step further: a call
that arrives when no other is running or waiting to be received is
served by the thread that received it, the listener's own (oslo.messaging's
``PollStyleListenerAdapter`` thread), with no hand-off to another thread
at all. While it serves, nobody receives; so a watchdog thread, awake
only while such calls come, takes over the receiving when one runs past
``RELIEF_AFTER`` seconds (a row lock, a slow database): what arrives
meanwhile goes to the pool's threads as with ``LastIdlePool``, and the
receiving thread takes its role back once its call is done. Only one
thread receives at a time. Measured in the fleet simulation
(docs/benchmark.rst, step 37): 5 to 8% less proxy CPU per call.
"""

import collections
import threading
import time

from oslo_context import context as oslo_context
from oslo_log import log as logging

from nova_proxy.common import amqp_guard

LOG = logging.getLogger(__name__)

__all__ = ['LastIdlePool', 'ReceiverFirstPool', 'PoolShutDown',
           'RELIEF_AFTER']


# Seconds between two looks at ``stopping()`` of a receiving thread that
# waits for a free thread (``submit_when_free``): how soon a stopping
# server's receiving thread notices the stop while every thread is busy.
HAND_OVER_CHECK = 0.1
# Seconds between two ``keep_alive()`` of a receiving thread waiting for a
# free thread: well within a heartbeat timeout (oslo.messaging's default
# is 60 s; a broker closes a connection after missing two heartbeats).
KEEP_ALIVE_EVERY = 1.0


class PoolShutDown(RuntimeError):
    """``submit()`` to a pool that is shut down."""


def _run(fn, args, kwargs):
    try:
        fn(*args, **kwargs)
    except Exception:
        # oslo.messaging's _process_incoming logs its own errors; this is
        # what escapes it.
        LOG.exception('Unexpected error in an RPC server thread')


class _Offer:
    """A call the receiving thread holds for the first thread to finish
    (``submit_when_free``); ``done`` is set once that thread has called
    ``taken()``, ``result`` what it returned."""

    def __init__(self, fn, args, taken):
        self.fn = fn
        self.args = args
        self.taken = taken
        self.claimed = False
        self.result = False
        self.done = threading.Event()

    def take(self):
        """Run by the thread that claimed it."""
        try:
            self.result = bool(self.taken())
        except Exception:
            LOG.exception('Could not take a call handed over')
        finally:
            self.done.set()
        if self.result:
            self.fn(*self.args)


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
            _run(*task)
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
        # Notified whenever a thread is done with its message.
        self._freed = threading.Condition(self._lock)
        # A call the receiving thread holds while every thread is busy.
        self._offer = None

    @property
    def busy(self):
        """Threads running a message now."""
        return self._busy

    def submit(self, fn, *args, **kwargs):
        """Run ``fn(*args, **kwargs)`` in a thread of the pool.

        :raises: PoolShutDown after ``shutdown()``
        """
        task = (fn, args, kwargs)
        with self._lock:
            if self._shutdown:
                raise PoolShutDown('cannot submit to a pool shut down')
            if not self._start(task):
                self._backlog.append(task)

    def submit_when_free(self, fn, args, taken, stopping,
                         keep_alive=None):
        """Wait until a thread is free, then call ``taken()`` and, if it
        returns True, run ``fn(*args)`` as ``submit()`` does: nothing
        waits in the pool's memory for a thread. Returns False, with
        neither called, if the pool is shut down or ``stopping()``
        returns True while every thread is busy; False also if
        ``taken()`` does.

        Meant for the one thread that receives the messages (only one
        such thread calls it at a time): a free thread stays free for it
        between the wait and the ``submit()``. While every thread is
        busy, the call is offered to the first to finish, which calls
        ``taken()`` itself (this thread waits meanwhile, so that the two
        never use the receiving connection at once) and runs the call
        with no hand-off. Every ``KEEP_ALIVE_EVERY`` seconds of such a
        wait, the offer is taken back for a ``keep_alive()`` (the
        receiving connection's heartbeats: a broker closes a connection
        that stops reading).
        """
        # Read without the lock first: only this thread makes a thread
        # busy, so one seen free stays free.
        if self._busy >= self.max_workers or self._shutdown:
            offer = _Offer(fn, args, taken)
            kept_alive = time.monotonic()
            with self._lock:
                self._offer = offer
                try:
                    while (not offer.claimed and not self._shutdown and
                           self._busy >= self.max_workers):
                        if stopping():
                            break
                        self._freed.wait(HAND_OVER_CHECK)
                        if (keep_alive is None or offer.claimed or
                                time.monotonic() - kept_alive <
                                KEEP_ALIVE_EVERY):
                            continue
                        # No thread may take it (and acknowledge it on
                        # the connection) meanwhile.
                        self._offer = None
                        self._lock.release()
                        try:
                            keep_alive()
                        finally:
                            self._lock.acquire()
                        kept_alive = time.monotonic()
                        self._offer = offer
                finally:
                    # Never left behind: a thread claiming it later would
                    # use the connection beside this one. (For a
                    # listener's connection, nothing else keeps two
                    # threads apart: its driver lock is a dummy.)
                    if not offer.claimed:
                        self._offer = None
                if not offer.claimed:
                    if self._shutdown or self._busy >= self.max_workers:
                        return False
            if offer.claimed:
                offer.done.wait()
                return offer.result
        if not taken():
            return False
        try:
            self.submit(fn, *args)
        except PoolShutDown:
            # Shut down since the look above (a stop racing the last
            # poll): the call is acknowledged, so it is served here.
            _run(fn, args, {})
        return True

    def _start(self, task):
        """Under the lock: run ``task`` on an idle thread, or a new one,
        if fewer than ``max_workers`` tasks are running; False if not."""
        if self._busy >= self.max_workers:
            return False
        if self._idle:
            worker = self._idle.pop()
            worker.task = task
            self._busy += 1
            worker.wake.release()
            return True
        if len(self._workers) < self.max_workers:
            worker = _Worker(self, 'rpc-%d' % len(self._workers))
            worker.task = task
            self._workers.append(worker)
            self._busy += 1
            worker.thread.start()
            return True
        return False

    def _next(self, worker):
        """What ``worker``, done with a task, runs next: the oldest queued
        task, or None (then it is idle, or it stops at shutdown)."""
        with self._lock:
            if self._backlog:
                return self._backlog.popleft()
            offer = self._offer
            if offer is not None:
                # The receiving thread waits for a free thread with a call
                # in hand: this one takes it, and stays busy.
                self._offer = None
                offer.claimed = True
                self._freed.notify()
                return (offer.take, (), {})
            self._busy -= 1
            self._freed.notify()
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
            self._freed.notify_all()
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


# Seconds a call served on the receiving thread runs before the watchdog
# takes over the receiving: the watchdog checks this often while such
# calls come, so a call that arrives behind a long one waits 20 to 40 ms
# before a thread takes it. A call of a proxy takes 1 to 3 ms. In the
# fleet simulation, periods of 10, 20, 50 and 200 ms cost the same CPU
# within the spread, 5 ms a little more.
RELIEF_AFTER = 0.02
# Seconds without a call served on the receiving thread after which the
# watchdog sleeps until the next one (it never wakes once per call).
WATCH_IDLE_AFTER = 1.0
# Seconds each poll of the relief waits for a message, beside the
# listener's own first wait (``amqp_guard.POLL_FLOOR``, 0.25 s): the
# receiving thread gets its role back at most that long after its call
# is done, the relief receiving meanwhile.
RELIEF_POLL = 0.05


def _thread_context():
    """oslo.context's request context of this thread (what oslo.log puts
    in a log line without a context of its own): (get, set)."""
    store = getattr(oslo_context, '_request_store', None)
    if store is None:
        return (lambda: None), (lambda value: None)
    return ((lambda: getattr(store, 'context', None)),
            (lambda value: setattr(store, 'context', value)))


_get_thread_context, _set_thread_context = _thread_context()


class _Receiver:
    """The RPC server's receiving side, as oslo.messaging builds it
    (``PollStyleListenerAdapter``): its listener thread, its poll, and
    the callback it hands what it polled to."""

    def __init__(self, adapter):
        self.adapter = adapter
        self.thread = adapter._listen_thread
        self.poll = adapter._poll_style_listener.poll
        self.dispatch = adapter.on_incoming_callback

    @property
    def running(self):
        return self.adapter._started

    @classmethod
    def of(cls, fn):
        """The receiver whose thread is submitting ``fn`` (the server's
        bound ``_process_incoming``), or None when the server is not
        built as this expects (another driver, a newer oslo.messaging):
        then every call goes to the pool."""
        adapter = getattr(getattr(fn, '__self__', None), 'listener', None)
        try:
            receiver = cls(adapter)
            receiver.running
            adapter.batch_size
        except AttributeError:
            return None
        if receiver.thread is not threading.current_thread():
            return None
        return receiver

    def pending(self):
        """``amqp_guard.message_waiting`` of the listener: True if a
        message may be waiting to be received, None if that cannot be
        told."""
        return amqp_guard.message_waiting(self.adapter._poll_style_listener)


class ReceiverFirstPool(LastIdlePool):
    """``LastIdlePool`` whose receiving thread serves a call itself when
    no other is running or waiting (see the module's documentation)."""

    def __init__(self, max_workers):
        super().__init__(max_workers)
        self._receiver = None
        self._learned = False
        # The call served on the receiving thread: its number (0: none).
        self._serving = 0
        self._served = 0
        self._last_served = 0.0
        # The watchdog: a thread, asleep on _watch when idle.
        self._watchdog = None
        self._watch = threading.Event()
        self._watch_asleep = False
        self._stopping = threading.Event()
        # Relief: the watchdog receives while the receiving thread serves.
        self._relief = False
        self._back = False
        self._relieved = threading.Condition(self._lock)
        self._reliefs = 0

    @property
    def reliefs(self):
        """How many times the watchdog took over the receiving."""
        return self._reliefs

    def submit(self, fn, *args, **kwargs):
        if not self._learned:
            self._learn(fn)
        receiver = self._receiver
        # A call waiting behind this one overlaps it: the pool serves
        # them side by side (one after the other here, they would wait
        # on the database in turn: at 16 callers, 0.75 to 0.85 times the
        # calls per second).
        if (receiver is not None and
                receiver.thread is threading.current_thread() and
                not self._busy and receiver.running and
                not receiver.pending() and
                self._serve_here(fn, args, kwargs)):
            return
        super().submit(fn, *args, **kwargs)

    def _serve_here(self, fn, args, kwargs):
        """Run ``fn`` on this (the receiving) thread if no other call
        runs; False if one does."""
        with self._lock:
            if (self._busy or self._backlog or self._shutdown or
                    self._relief):
                return False
            self._busy += 1
            self._served += 1
            self._serving = self._served
            wake = self._watch_asleep
        if wake:
            self._watch.set()
        # The call sets oslo.context's context of this thread: the
        # receiving thread's own log lines (a message dropped, a
        # reconnection) must not carry it after the call.
        before = _get_thread_context()
        try:
            _run(fn, args, kwargs)
        finally:
            _set_thread_context(before)
            self._done_here()
        return True

    def _learn(self, fn):
        """At the first message: find the receiving side; start the
        watchdog if there is one."""
        with self._lock:
            if self._learned:
                return
            self._learned = True
            self._receiver = _Receiver.of(fn)
            if self._receiver is None:
                LOG.warning('%s: not the receiving side oslo.messaging\'s '
                            'RPC server has today; every call is handed '
                            'to a thread of the pool', type(self).__name__)
                return
            self._watchdog = threading.Thread(target=self._watch_loop,
                                              name='rpc-watchdog',
                                              daemon=True)
            self._watchdog.start()

    def _give_up(self, what):
        """Serve every call on the pool from now on (the receiving thread
        is never left alone with a long call and nobody to relieve it)."""
        LOG.exception('The watchdog could not %s: every call is handed to '
                      'a thread of the pool from now on', what)
        with self._lock:
            self._receiver = None

    def _done_here(self):
        """The call served on the receiving thread is done: take the
        receiving back from the relief, if it had it."""
        with self._lock:
            self._busy -= 1
            self._freed.notify()
            self._serving = 0
            self._last_served = time.monotonic()
            # Its slot is free: a call queued meanwhile (the relief
            # received more than max_workers) takes it.
            if self._backlog and self._start(self._backlog[0]):
                self._backlog.popleft()
            if self._relief:
                self._back = True
                while self._relief:
                    self._relieved.wait()
                self._back = False
            if not self._busy:
                self._drained.notify_all()

    def _watch_loop(self):
        try:
            self._watch_calls()
        except Exception:
            self._give_up('watch the calls')

    def _watch_calls(self):
        while True:
            with self._lock:
                if self._shutdown or self._receiver is None:
                    return
                serving = self._serving
                sleep = (not serving and time.monotonic() -
                         self._last_served > WATCH_IDLE_AFTER)
                if sleep:
                    self._watch_asleep = True
                    self._watch.clear()
            if sleep:
                self._watch.wait()
                with self._lock:
                    self._watch_asleep = False
                continue
            self._stopping.wait(RELIEF_AFTER)
            with self._lock:
                receiver = self._receiver
                relieve = (serving and self._serving == serving and
                           not self._shutdown and receiver is not None and
                           receiver.running)
                if relieve:
                    self._relief = True
                    self._reliefs += 1
            if relieve and not self._relieve(receiver):
                return

    def _relieve(self, receiver):
        """Receive, on the watchdog's thread, until the receiving thread
        is back (or the server stops): what arrives goes to the pool.
        False if receiving failed (then the pool serves every call)."""
        LOG.debug('A call served on the receiving thread runs past %ss: '
                  'the watchdog receives meanwhile', RELIEF_AFTER)
        try:
            while True:
                with self._lock:
                    if (self._back or self._shutdown or
                            not receiver.running):
                        return True
                incoming = receiver.poll(
                    batch_size=receiver.adapter.batch_size,
                    batch_timeout=RELIEF_POLL)
                if incoming:
                    receiver.dispatch(incoming)
        except Exception:
            self._give_up('receive')
            return False
        finally:
            with self._lock:
                self._relief = False
                self._relieved.notify_all()

    def shutdown(self, wait=True):
        super().shutdown(wait=wait)
        self._stopping.set()
        self._watch.set()
        watchdog = self._watchdog
        if (wait and watchdog is not None and
                watchdog is not threading.current_thread()):
            watchdog.join()
