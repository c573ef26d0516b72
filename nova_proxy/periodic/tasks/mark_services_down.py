"""Mark compute services down when their heartbeat stops, and up again.

A service is *down* when ``forced_down`` is set (the operator's flag, as in
nova) or when its last heartbeat (``last_seen_up``, written with the
database's clock by ``service_heartbeat``; ``created_at`` if it never
heartbeated) is older than ``[periodic] service_down_time`` by the
database's clock. ``is_up()`` computes that view; anyone can.

This task records the view in the service row the way nova's own automatic
disabling does (a driver that loses its hypervisor sets ``disabled`` with a
reason starting ``AUTO:``): a down service that is enabled gets
``disabled = True`` and ``disabled_reason = 'AUTO: service down ...'``, so
that nothing schedules to it; when it heartbeats again the task enables it,
but only if the reason is still the task's own. A service an operator
disabled, or whose reason an operator changed, is never touched, and
``forced_down`` stays the operator's alone.

Items: one per live service row, named ``<host>/<binary>``.
"""

import datetime

from nova_proxy.db.api import periodic as db_periodic
from nova_proxy.periodic.tasks import base

__all__ = ['MarkServicesDown', 'DOWN_REASON_PREFIX', 'is_up']

DOWN_REASON_PREFIX = 'AUTO: service down'

# Outcomes recorded per item.
MARKED_DOWN = 'marked_down'
MARKED_UP = 'marked_up'
DOWN = 'down'
UP = 'up'
GONE = 'gone'


def _last_seen(service):
    return service.last_seen_up or service.created_at


def is_up(service, now, down_time):
    """The computed view: is ``service`` (a row or a dict with datetimes)
    up at ``now`` (the database's time)?"""
    get = service.get if isinstance(service, dict) else \
        (lambda key: getattr(service, key))
    if get('forced_down'):
        return False
    last = get('last_seen_up') or get('created_at')
    if last is None:
        return False
    return last >= now - datetime.timedelta(seconds=down_time)


class MarkServicesDown(base.ItemTask):

    name = 'mark_services_down'

    def list_items(self, context, now):
        return _list_items(context)

    def handle_item(self, context, item, now):
        return self.handle_items(context, [item], now)[0][item]

    def handle_items(self, context, items, now):
        """The whole batch in one transaction."""
        return _mark(context, items,
                     base.CONF.periodic.service_down_time), {}


def _list_items(context):
    return ['%s/%s' % key for key in db_periodic.service_keys(context)]


def _mark(context, items, down_time):
    """Mark the services named by ``items`` down or up as their heartbeat
    says, in one transaction; returns ``{item: outcome}``."""
    wanted = {tuple(item.split('/', 1)): item for item in items}

    def decide(service, now):
        # ``now``: the database's time read in that transaction, not the
        # sweep's: a heartbeat that landed since the sweep started still
        # counts.
        if (service.host, service.binary) not in wanted:
            return None
        return _decide(service, now, down_time)

    outcomes = dict.fromkeys(items, GONE)
    for key, outcome in db_periodic.services_mark(
            context, [host for host, _ in wanted], decide).items():
        outcomes[wanted[key]] = outcome
    return outcomes


def _decide(service, now, down_time):
    """``(outcome, values to write)`` for one service row."""
    up = is_up(service, now, down_time)
    ours = (service.disabled and
            (service.disabled_reason or '').startswith(DOWN_REASON_PREFIX))
    if not up and not service.disabled and not service.forced_down:
        last = _last_seen(service)
        reason = '%s: no heartbeat since %s' % (
            DOWN_REASON_PREFIX,
            last.isoformat(timespec='seconds') if last else 'ever')
        return MARKED_DOWN, {'disabled': True,
                             'disabled_reason': reason[:255]}
    if up and ours:
        return MARKED_UP, {'disabled': False, 'disabled_reason': None}
    return (UP if up else DOWN), {}
