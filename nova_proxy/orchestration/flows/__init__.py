"""The flows of the orchestration engine, by operation kind."""

from nova_proxy.orchestration.flows import build
from nova_proxy.orchestration.flows import migrate

__all__ = ['get_flow']

_FLOWS = {
    'build': build.BuildFlow,
    'migrate': migrate.MigrateFlow,
    'confirm_resize': migrate.ConfirmFlow,
    'revert_resize': migrate.RevertFlow,
}


def get_flow(kind):
    """The flow object driving operations of ``kind``."""
    return _FLOWS[kind]()
