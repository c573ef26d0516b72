"""nova's task log calls, over RPC: a compute host logs only its own
tasks (proxy/endpoints/task_log.py)."""

from nova_proxy.compute.db._client import call

__all__ = [
    'task_log_begin_task', 'task_log_end_task', 'task_log_get',
    'task_log_get_all',
]


def task_log_begin_task(context, task_name, period_beginning, period_ending,
                        host, task_items=None, message=None):
    return call(context, 'task_log_begin_task',
                task_name=task_name, period_beginning=period_beginning,
                period_ending=period_ending, host=host, task_items=task_items,
                message=message)


def task_log_end_task(context, task_name, period_beginning, period_ending,
                      host, errors, message=None):
    return call(context, 'task_log_end_task',
                task_name=task_name, period_beginning=period_beginning,
                period_ending=period_ending, host=host, errors=errors,
                message=message)


def task_log_get(context, task_name, period_beginning, period_ending, host,
                 state=None):
    return call(context, 'task_log_get',
                task_name=task_name, period_beginning=period_beginning,
                period_ending=period_ending, host=host, state=state)


def task_log_get_all(context, task_name, period_beginning, period_ending,
                     host=None, state=None):
    return call(context, 'task_log_get_all',
                task_name=task_name, period_beginning=period_beginning,
                period_ending=period_ending, host=host, state=state)
