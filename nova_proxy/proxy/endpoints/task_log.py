"""nova's task log calls: a compute host logs only its own tasks."""

from nova_proxy.common import rpc
from nova_proxy.db import api as db
from nova_proxy.proxy.endpoints import base
from nova_proxy.proxy import policy

__all__ = ['TaskLogEndpoint']


def _own(context, host, task_name):
    policy.check_host(context, host, 'the %s log of %s' % (task_name, host))


class TaskLogEndpoint(base.Endpoint):

    @rpc.remotable
    def task_log_begin_task(self, context, task_name: str, period_beginning,
                            period_ending, host: str,
                            task_items: int | None = None,
                            message: str | None = None):
        _own(context, host, task_name)
        return db.task_log_begin_task(
            context, task_name, period_beginning, period_ending, host,
            task_items=task_items, message=message)

    @rpc.remotable
    def task_log_end_task(self, context, task_name: str, period_beginning,
                          period_ending, host: str, errors: int,
                          message: str | None = None):
        _own(context, host, task_name)
        return db.task_log_end_task(
            context, task_name, period_beginning, period_ending, host,
            errors, message=message)

    @rpc.remotable
    def task_log_get(self, context, task_name: str, period_beginning,
                     period_ending, host: str, state: str | None = None):
        _own(context, host, task_name)
        return db.task_log_get(context, task_name, period_beginning,
                               period_ending, host, state=state)

    @rpc.remotable
    def task_log_get_all(self, context, task_name: str, period_beginning,
                         period_ending, host: str | None = None,
                         state: str | None = None):
        # Without a host: every host's logs, the control plane's view.
        _own(context, host, task_name)
        return db.task_log_get_all(context, task_name, period_beginning,
                                   period_ending, host=host, state=state)
