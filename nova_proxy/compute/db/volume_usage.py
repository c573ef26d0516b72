"""nova's volume usage call, over RPC: only for the volumes of the
instances in the caller's scope (proxy/endpoints/volume_usage.py)."""

from nova_proxy.compute.db._client import call

__all__ = [
    'vol_usage_update',
]


def vol_usage_update(context, id, rd_req, rd_bytes, wr_req, wr_bytes,
                     instance_id, project_id, user_id, availability_zone,
                     update_totals=False):
    return call(context, 'vol_usage_update',
                id=id, rd_req=rd_req, rd_bytes=rd_bytes, wr_req=wr_req,
                wr_bytes=wr_bytes, instance_id=instance_id,
                project_id=project_id, user_id=user_id,
                availability_zone=availability_zone,
                update_totals=update_totals)
