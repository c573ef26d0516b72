"""Where a proxy spends its CPU: py-spy samples under load.

``Sampler`` runs ``py-spy record --gil --subprocesses`` on the proxy (only
samples of a thread holding the GIL are kept: Python CPU, not waiting) and
``summarize()`` gives the share of samples in each part of the proxy. It is
optional: without py-spy (``pip install py-spy``, in the ``bench`` extra)
the run says so and goes on.
"""

import os
import shutil
import subprocess
import sys

__all__ = ['Sampler', 'summarize', 'merge', 'PARTS']

# (part, substrings of a stack frame; a sample counts in a part when any of
# its frames matches)
PARTS = [
    ('database API (nova_proxy.db, SQLAlchemy, driver)',
     ('nova_proxy/db/api/',)),
    # Our servers' dispatcher is wire_guard.QuietDispatcher (a subclass
    # whose frames carry its own name).
    ('RPC dispatch (oslo.messaging dispatcher, our remotable)',
     ('RPCDispatcher.dispatch', 'QuietDispatcher.dispatch')),
    # The driver's poll, and amqp_guard's direct read between calls and
    # hand_over's reads while a call waits for a thread (which run
    # outside it); the direct server's receiving thread.
    ('AMQP receive (consumer thread, decoding)',
     ('AMQPListener.poll', 'Connection.consume', '_drain_once',
      '_read_what_has_come', 'DirectRPCServer._receive')),
    ('AMQP reply', ('AMQPIncomingMessage.reply', 'DirectIncoming.reply')),
    ('context (de)serialisation', ('deserialize_context',)),
    ('host-scope policy', ('nova_proxy/proxy/policy.py',)),
    ('liveness heartbeat', ('nova_proxy/proxy/liveness.py',)),
    ('orchestration engine (background)', ('nova_proxy/orchestration/',)),
    ('periodic tasks (background)', ('nova_proxy/periodic/',)),
]


def _py_spy():
    return shutil.which('py-spy') or shutil.which(
        'py-spy', path=os.path.dirname(sys.executable))


class Sampler:

    def __init__(self, pid, seconds, output, rate=200):
        self.output = output
        self.error = None
        self._popen = None
        binary = _py_spy()
        if binary is None:
            self.error = 'py-spy is not installed'
            return
        self._log = open(output + '.log', 'wb')
        self._popen = subprocess.Popen(
            [binary, 'record', '--gil', '--subprocesses', '--nonblocking',
             '-p', str(pid), '-d', str(max(1, int(round(seconds)))),
             '-r', str(rate), '--format', 'raw', '-o', output],
            stdout=self._log, stderr=subprocess.STDOUT)

    def finish(self, timeout=60):
        """Wait for py-spy; returns ``summarize()`` of its samples or
        ``{'error': ...}``."""
        if self._popen is None:
            return {'error': self.error}
        try:
            self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait()
        self._log.close()
        if not os.path.exists(self.output):
            with open(self.output + '.log', errors='replace') as f:
                return {'error': 'py-spy wrote nothing: %s' % f.read()[-500:]}
        with open(self.output) as f:
            return summarize(f)


def summarize(lines):
    """Shares (0..1) of the samples of collapsed stacks ``lines``
    (``frame;frame;... count``) in each of ``PARTS``."""
    total = 0
    counts = {part: 0 for part, _ in PARTS}
    for line in lines:
        stack, _, count = line.rstrip('\n').rpartition(' ')
        if not stack or not count.isdigit():
            continue
        count = int(count)
        total += count
        for part, needles in PARTS:
            if any(needle in stack for needle in needles):
                counts[part] += count
    return {'samples': total,
            'shares': {part: (n / total if total else None)
                       for part, n in counts.items()}}


def merge(parts):
    """One profile from several samplings of the same scenario.

    ``parts`` are ``(output, finish() result, thread split or None)``: the
    samples of every sampling that worked are summarized together, and the
    thread splits are combined weighted by their calls. If none worked, the
    first error is the result.
    """
    outputs = [output for output, result, _ in parts
               if not result.get('error')]
    if not outputs:
        return dict(parts[0][1]) if parts else {'error': 'not sampled'}
    lines = []
    for output in outputs:
        with open(output) as f:
            lines.extend(f)
    merged = summarize(lines)
    splits = [split for _, _, split in parts if split]
    calls = sum(split['calls'] for split in splits)
    if calls:
        merged['threads'] = {
            'calls': calls,
            'busiest_us_per_call': sum(
                s['busiest_us_per_call'] * s['calls'] for s in splits) / calls,
            'others_us_per_call': sum(
                s['others_us_per_call'] * s['calls'] for s in splits) / calls,
            'threads_that_ran': max(s['threads_that_ran'] for s in splits)}
    return merged
