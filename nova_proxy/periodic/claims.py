"""Per-period claims and run records of the periodic tasks.

A claim is a row of ``periodic_claims``, unique on (task, period, item).
Claiming is an INSERT in its own transaction: the proxy whose insert
commits has the item for that period; every other insert fails on the
unique constraint and that proxy leaves the item alone. A global task
claims the item ``'*'``. The claim commits before the work starts, so an
item is handled at most once per period whatever the proxies believe about
the ring; a proxy that dies between its claim and the work leaves those
items unhandled for the rest of that period only.

``claim_many`` claims a batch of items in one statement that skips the
taken ones and returns those it inserted (``INSERT ... ON CONFLICT DO
NOTHING RETURNING`` on PostgreSQL and SQLite, ``INSERT IGNORE ...
RETURNING`` on MariaDB), so that a sweep over thousands of items costs a
few statements, not one transaction per item.

A run is a row of ``periodic_runs``: what one proxy did for one task in one
period (items, result, details). The purge task deletes claims after
``[periodic] claim_retention`` (a claim only matters within its period) and
runs after ``record_retention``.

The statements are in ``nova_proxy.db.api.periodic``.
"""

from oslo_db import exception as db_exc

from nova_proxy.db.api import periodic as db_periodic

__all__ = ['GLOBAL_ITEM', 'claim', 'claim_many', 'claimed_items',
           'claims_of_period', 'record_run', 'run_list', 'purge_claims',
           'purge_runs',
           'RESULT_OK', 'RESULT_PARTIAL', 'RESULT_ERROR']

GLOBAL_ITEM = '*'

RESULT_OK = 'ok'
RESULT_PARTIAL = 'partial'
RESULT_ERROR = 'error'

_MAX_ITEM = 255


def _check_item(item):
    if not isinstance(item, str) or not item or len(item) > _MAX_ITEM:
        raise ValueError('a periodic item is a string of 1 to %d '
                         'characters, not %r' % (_MAX_ITEM, item))


def claim(context, task, period, item, owner):
    """Claim ``item`` of ``task`` for ``period``; True if this call won.

    :raises: ValueError for an item that cannot be stored.
    """
    _check_item(item)
    try:
        db_periodic.periodic_claim(context, task, period, item, owner)
    except db_exc.DBDuplicateEntry:
        return False
    return True


def claim_many(context, task, period, items, owner):
    """Claim each of ``items`` of ``task`` for ``period`` in one statement;
    returns the items this call won, in the order given.

    :raises: ValueError for an item that cannot be stored (nothing is
        claimed then).
    """
    items = list(dict.fromkeys(items))
    for item in items:
        _check_item(item)
    if not items:
        return []
    won = db_periodic.periodic_claim_many(context, task, period, items,
                                          owner)
    return [item for item in items if item in won]


claimed_items = db_periodic.periodic_claimed_items
claims_of_period = db_periodic.periodic_claims_of_period
record_run = db_periodic.periodic_run_record
run_list = db_periodic.periodic_run_list
purge_claims = db_periodic.periodic_claims_purge
purge_runs = db_periodic.periodic_runs_purge
