"""Purge soft-deleted instances, and old periodic task records.

A global task: one proxy per period. It hard-deletes instances soft-deleted
more than ``[periodic] purge_deleted_age`` seconds ago (by the database's
clock), with their metadata, faults, actions, events and migrations
(``nova_proxy.db.api.purge_deleted_instances``), ``purge_batch_size`` per
transaction and at most ``purge_max_batches`` batches per run, so that no
transaction holds locks for long; the rest waits for the next period. Then
it deletes, in batches too, periodic claims older than ``claim_retention``
(never those of the last two periods of the longest task interval) and
runs older than ``record_retention``.
"""

import datetime

from nova_proxy.conf import periodic as conf_periodic
from nova_proxy.db import api as db_api
from nova_proxy.periodic import claims
from nova_proxy.periodic.tasks import base

__all__ = ['PurgeDeleted']

# Claim and run rows deleted per transaction.
RECORD_BATCH = 5000


def _in_batches(purge, context, before, max_batches):
    total = 0
    for _ in range(max_batches):
        count = purge(context, before, RECORD_BATCH)
        total += count
        if count < RECORD_BATCH:
            break
    return total


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
        longest = max(getattr(opts, '%s_interval' % name)
                      for name, _, _ in conf_periodic.TASKS)
        claims_before = now - datetime.timedelta(
            seconds=max(opts.claim_retention, 2 * longest))
        old_claims = _in_batches(claims.purge_claims, context,
                                 claims_before, opts.purge_max_batches)
        old_runs = _in_batches(
            claims.purge_runs, context,
            now - datetime.timedelta(seconds=opts.record_retention),
            opts.purge_max_batches)
        details = {'instances_purged': len(purged), 'batches': batches,
                   'deleted_before': before.isoformat(),
                   'claims_purged': old_claims, 'runs_purged': old_runs}
        return purged, details
