"""A test hook that stops or kills the engine at a named step boundary.

Fault tests need to crash the owner of an operation at an exact point,
not after a guessed sleep. Set, in the environment of ONE proxy process::

    NOVA_PROXY_TEST_STEP_HOOK=<when>:<step>:<action>[:<operation_id>][,...]

``when`` is ``before`` (the step is journaled as started, its compute call
not sent yet) or ``after`` (the compute call returned, its result not yet
journaled); ``step`` is a step name (``prep_resize``, ``resize_instance``,
``finish_resize``, ``build_and_run_instance``, ``finish_revert_resize``,
...); ``action`` is ``kill`` (the process SIGKILLs itself, as ``kill -9``
would) or ``stop`` (the process SIGSTOPs itself: its heartbeat stops too,
and a test sends SIGCONT later); with an ``operation_id`` the hook fires
for that operation only. Each hook fires once per process.
Unset in production; nothing here is read unless the variable is set.
"""

import os
import signal
import threading

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

__all__ = ['ENV', 'StepHooks']

ENV = 'NOVA_PROXY_TEST_STEP_HOOK'
_ACTIONS = {'kill': signal.SIGKILL, 'stop': signal.SIGSTOP}


class StepHooks:

    def __init__(self, spec=None):
        spec = os.environ.get(ENV, '') if spec is None else spec
        self._hooks = {}
        self._lock = threading.Lock()
        for item in filter(None, (s.strip() for s in spec.split(','))):
            parts = item.split(':', 3)
            if len(parts) < 3 or parts[0] not in ('before', 'after') or \
                    parts[2] not in _ACTIONS:
                raise ValueError('Bad %s item %r' % (ENV, item))
            when, step, action = parts[:3]
            self._hooks[(when, step)] = (action, parts[3] if len(parts) == 4
                                         else None)

    def fire(self, when, step, operation_id=None):
        with self._lock:
            action, only = self._hooks.get((when, step), (None, None))
            if action is None or only not in (None, operation_id):
                return
            del self._hooks[(when, step)]
        LOG.warning('Test hook: %(action)s at %(when)s %(step)s of '
                    '%(op)s', {'action': action, 'when': when, 'step': step,
                               'op': operation_id})
        os.kill(os.getpid(), _ACTIONS[action])
