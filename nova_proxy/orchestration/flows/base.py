"""What a flow is: an ordered list of steps, their undo, and final writes.

A ``Step`` is one call on a compute host (its name is the compute method
and the ``(operation_id, step)`` key of the compute's idempotency ledger)
with the database writes that go with it: ``before`` runs in the same
transaction as the journal write that records the step as started,
``after`` in the same transaction as the one that records it as done. Both
transactions are fenced by the owner's epoch (``journal.fenced_write``), so
a stale owner writes none of them.

A ``Flow`` says which steps an operation has, which steps undo a partly
done operation (``rollback_steps``, in the order to run them: the reverse
of what was started), and what the instance looks like at the end
(``rolled_back`` / ``failed``). The ``Runner`` in ``runner.py`` drives it.
"""

from nova_proxy.common import states
from nova_proxy.db import api as db_api

__all__ = ['Step', 'Flow', 'record_fault']


class Step:
    """One compute call of a flow.

    :param name: compute method, also the ledger key
    :param host: key of the operation state naming the host to call
        (``source``, ``dest`` or ``host``)
    :param args: ``fn(op) -> dict`` of keyword arguments of the call
        (``operation_id`` is added)
    :param before: ``fn(context, op)``, database writes before the call
    :param after: ``fn(context, op, result)``, database writes after it
    :param long: the call takes a while (disk copy): it is watched with
        ``call_monitor_timeout`` and its migration progress is mirrored
        into the operation's progress
    """

    def __init__(self, name, host, args, before=None, after=None,
                 long=False):
        self.name = name
        self.host = host
        self.args = args
        self.before = before
        self.after = after
        self.long = long

    def __repr__(self):
        return '<Step %s@%s>' % (self.name, self.host)


class Flow:
    """Base of the flows; see the module docstring."""

    kind = None
    # Status of an operation whose rollback finished.
    rollback_status = states.OP_ROLLED_BACK

    def steps(self, op):
        raise NotImplementedError

    def rollback_steps(self, op, started):
        """Undo steps for an operation that started ``started`` (step
        names, in order); run in the order returned."""
        return []

    def rolled_back(self, context, op, error):
        """Final database writes after the undo steps ran."""

    def failed(self, context, op, error):
        """Final database writes of an operation given up on without
        undo (attempts exhausted twice over)."""
        self.rolled_back(context, op, error)


def record_fault(context, op, error, host=None):
    """Record ``error`` as a fault of the operation's instance."""
    db_api.instance_fault_create(context, {
        'instance_uuid': op['instance_uuid'], 'code': 500,
        'message': ('%s %s failed' % (op['kind'], op['id']))[:255],
        'details': str(error), 'host': host})
