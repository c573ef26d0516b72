"""CPU time of the processes taking part in a measurement, from ``/proc``.

A ``CpuProbe`` names a role (client, proxy, broker, database) and a way to
find its processes; ``sample()`` returns their summed user+system CPU in
seconds. Processes found at the start and at the end of a round are both
counted, so a pool connection opened during a round is not lost (its CPU
before the round was zero).
"""

import os

__all__ = ['parse_stat', 'process_cpu', 'thread_cpu', 'thread_split',
           'descendants', 'find_pids', 'stolen_seconds', 'CpuProbe',
           'CpuMeter']

_TICKS = os.sysconf('SC_CLK_TCK')


def parse_stat(data):
    """``(ppid, cpu_seconds)`` from the text of ``/proc/<pid>/stat``."""
    # The command name may hold spaces and parentheses: split after it.
    fields = data[data.rindex(')') + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def stolen_seconds(text=None):
    """CPU seconds the hypervisor took from this virtual machine since it
    booted, all its CPUs together (``steal`` of ``/proc/stat``'s ``cpu``
    line; ``text``: that file's text), or None where it is not known.
    A guest charges a tick to whatever ran when its CPU was taken, so on
    a machine that loses CPU the processes' figures grow, the floors' as
    much as the proxy's, with no load average to show it."""
    try:
        if text is None:
            with open('/proc/stat') as f:
                text = f.read()
        for line in text.splitlines():
            fields = line.split()
            if fields and fields[0] == 'cpu':
                return int(fields[8]) / _TICKS
    except (OSError, IndexError, ValueError):
        pass
    return None


def process_cpu(pid):
    """User+system CPU seconds of ``pid`` (all its threads); 0 if gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return parse_stat(f.read())[1]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0.0


def thread_cpu(pids):
    """``{(pid, tid): cpu_seconds}`` of every thread of ``pids``."""
    result = {}
    for pid in pids:
        try:
            tids = os.listdir('/proc/%d/task' % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open('/proc/%d/task/%s/stat' % (pid, tid)) as f:
                    result[(pid, tid)] = parse_stat(f.read())[1]
            except (OSError, ValueError):
                continue
    return result


def thread_split(before, after, calls):
    """Where a server's CPU went between two ``thread_cpu()`` readings,
    per call: the busiest thread (in an oslo.messaging server, the thread
    that polls AMQP and decodes every message), all the other threads (the
    executor threads serving the calls, and background threads), and how
    many threads ran at all."""
    used = sorted((max(0.0, now - before.get(key, 0.0))
                   for key, now in after.items()), reverse=True)
    if not used or not calls:
        return None
    return {'calls': calls,
            'busiest_us_per_call': used[0] / calls * 1e6,
            'others_us_per_call': sum(used[1:]) / calls * 1e6,
            'threads_that_ran': sum(1 for u in used if u > 0)}


def _children_map():
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as f:
                data = f.read()
        except OSError:
            continue
        ppid = parse_stat(data)[0]
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pids):
    """``pids`` and all their descendants (forked workers)."""
    children = _children_map()
    result, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        if pid in result:
            continue
        result.append(pid)
        todo.extend(children.get(pid, ()))
    return sorted(result)


def find_pids(name):
    """Pids whose command name (``/proc/<pid>/comm``) is ``name``."""
    result = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/comm' % entry) as f:
                if f.read().strip() == name:
                    result.append(int(entry))
        except OSError:
            continue
    return sorted(result)


class CpuProbe:
    """One role's processes: ``finder()`` returns their pids now."""

    def __init__(self, role, finder):
        self.role = role
        self.finder = finder

    def pids(self):
        try:
            return set(self.finder())
        except Exception:
            return set()


class CpuMeter:
    """Measures the CPU of every probe over one round.

    ``start()`` then ``stop()`` returns ``{role: cpu_seconds}``.
    """

    def __init__(self, probes):
        self.probes = list(probes)
        self._before = None

    def start(self):
        self._before = {}
        for probe in self.probes:
            self._before[probe.role] = {
                pid: process_cpu(pid) for pid in probe.pids()}

    def stop(self):
        result = {}
        for probe in self.probes:
            before = self._before.get(probe.role, {})
            pids = probe.pids() | set(before)
            total = 0.0
            for pid in pids:
                now = process_cpu(pid)
                # A process that died during the round reads 0: count
                # nothing for it rather than a negative figure.
                total += max(0.0, now - before.get(pid, 0.0)) if now else 0.0
            result[probe.role] = total
        return result
