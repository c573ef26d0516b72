"""Purge soft-deleted instances, and old periodic task records.

A global task: one proxy per period. It hard-deletes instances soft-deleted
more than ``[periodic] purge_deleted_age`` seconds ago (by the database's
clock), with their metadata, faults, actions and events
(``nova_proxy.db.api.purge_deleted_instances``), ``purge_batch_size`` per
transaction and at most ``purge_max_batches`` batches per run, so that no
transaction holds locks for long; the rest waits for the next period. Then
it deletes periodic claims and runs older than ``record_retention``.
"""

import datetime

from nova_proxy.db import api as db_api
from nova_proxy.periodic import claims
from nova_proxy.periodic.tasks import base

__all__ = ['PurgeDeleted']


class PurgeDeleted(base.GlobalTask):

    name = 'purge_deleted'

    def run(self, context, now):
        opts = base.CONF.periodic
        before = now - datetime.timedelta(seconds=opts.purge_deleted_age)
        purged = []
        batches = 0
        while batches < opts.purge_max_batches:
            uuids = db_api.purge_deleted_instances(
                context, before, opts.purge_batch_size)
            batches += 1
            purged.extend(uuids)
            if len(uuids) < opts.purge_batch_size:
                break
        records_before = now - datetime.timedelta(
            seconds=opts.record_retention)
        old_claims, old_runs = claims.purge_records(context, records_before)
        details = {'instances_purged': len(purged), 'batches': batches,
                   'deleted_before': before.isoformat(),
                   'claims_purged': old_claims, 'runs_purged': old_runs}
        return purged, details
