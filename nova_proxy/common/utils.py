"""Small helpers shared by the project's parts and its tools."""

import contextlib
import threading
import time

__all__ = ['KeyedLocks', 'call_within', 'text_problem', 'wait_for',
           'write_config']


class KeyedLocks:
    """A lock per key (an operation, a step of one), kept while a thread
    holds it or waits for it and dropped with the last: a process that
    serves one key after another does not keep a lock for each."""

    def __init__(self):
        self._lock = threading.Lock()
        self._locks = {}  # key -> [lock, threads holding or waiting]

    @contextlib.contextmanager
    def hold(self, key):
        with self._lock:
            entry = self._locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._lock:
                entry[1] -= 1
                if not entry[1]:
                    del self._locks[key]

    def __len__(self):
        with self._lock:
            return len(self._locks)


def text_problem(value):
    """What makes the string ``value`` unfit for any of our databases, or
    None: NUL (PostgreSQL refuses it in text; refused on every backend
    alike) or a lone surrogate (no UTF-8 for it; JSON can carry one)."""
    if '\x00' in value:
        return 'contains a NUL character'
    try:
        value.encode('utf-8')
    except UnicodeEncodeError:
        return 'is not valid Unicode text'
    return None


def wait_for(predicate, timeout=30, interval=0.1, message='condition',
             error=RuntimeError):
    """Poll ``predicate`` until it returns a truthy value; return it.

    An exception from ``predicate`` counts as "not yet" and is reported in
    the ``error`` raised when ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as e:
            last_error = e
        time.sleep(interval)
    raise error('Timed out after %ss waiting for %s (last error: %r)'
                % (timeout, message, last_error))


def call_within(fn, limit, name='call-within'):
    """``fn()``'s result, or what it raised, if it ends within ``limit``
    seconds; else TimeoutError, and ``fn`` is left running in its daemon
    thread.

    For a call that its own timeout does not bound: oslo.messaging's
    rabbit driver reconnects forever to a broker it cannot reach, before
    a call's timeout starts. The caller must not wait for the abandoned
    thread (it ends with the process).
    """
    outcome = {}

    def run():
        try:
            outcome['result'] = fn()
        except BaseException as e:
            outcome['error'] = e

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join(limit)
    if 'error' in outcome:
        raise outcome['error']
    if 'result' not in outcome:
        raise TimeoutError('%s still running after %ss' % (name, limit))
    return outcome['result']


def write_config(path, sections):
    """Write an oslo.config file: ``sections`` is ``{group: {opt: value}}``;
    options whose value is None are left out. Returns ``path``."""
    with open(path, 'w') as f:
        for group, values in sections.items():
            f.write('[%s]\n' % group)
            for key, value in values.items():
                if value is not None:
                    f.write('%s = %s\n' % (key, value))
            f.write('\n')
    return path
