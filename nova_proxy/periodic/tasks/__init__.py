"""The proxies' periodic tasks, one module per task.

``all_tasks()`` is the list the runner and ``nova-compute-proxy-manage
periodic`` use; the option names of each task are in
``nova_proxy.conf.periodic.TASKS``.
"""

from nova_proxy.periodic.tasks import confirm_resizes
from nova_proxy.periodic.tasks import heal_stuck_instances
from nova_proxy.periodic.tasks import mark_services_down
from nova_proxy.periodic.tasks import purge_deleted

__all__ = ['all_tasks', 'get_task']


def all_tasks(member=None):
    """A fresh instance of every task, in a fixed order; ``member`` is the
    proxy running them (named in the faults it records)."""
    return [mark_services_down.MarkServicesDown(),
            heal_stuck_instances.HealStuckInstances(member=member),
            confirm_resizes.ConfirmResizes(),
            purge_deleted.PurgeDeleted()]


def get_task(name):
    """:raises: KeyError for an unknown task name."""
    for task in all_tasks():
        if task.name == name:
            return task
    raise KeyError(name)
