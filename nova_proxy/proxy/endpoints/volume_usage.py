"""nova's volume usage cache: a compute host records the usage of the
volumes of its own instances."""

from nova_proxy.common import rpc
from nova_proxy.db import api as db
from nova_proxy.proxy.endpoints import base
from nova_proxy.proxy import policy

__all__ = ['VolumeUsageEndpoint']


class VolumeUsageEndpoint(base.Endpoint):

    @rpc.remotable
    def vol_usage_update(self, context, id: str, rd_req: int, rd_bytes: int,
                         wr_req: int, wr_bytes: int, instance_id,
                         project_id: str | None, user_id: str | None,
                         availability_zone: str | None,
                         update_totals: bool = False):
        return db.vol_usage_update(
            context, id, rd_req, rd_bytes, wr_req, wr_bytes, instance_id,
            project_id, user_id, availability_zone,
            update_totals=update_totals,
            scope_host=policy.scope_host(context))
