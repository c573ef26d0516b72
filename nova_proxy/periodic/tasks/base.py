"""What a periodic task is, for the runner.

Two kinds:

* ``GlobalTask``: one run per period across the fleet. The runner claims the
  item ``'*'`` of the period; the proxy that wins calls ``run()``.
* ``ItemTask``: every item once per period, the items shared among the live
  proxies by the hash ring. The runner lists the items
  (``list_items()``), keeps those the ring gives to this proxy, claims them
  for the period in batches and only then calls ``handle_items()`` with the
  batch it won (by default ``handle_item()`` for each).

A task never decides when it runs: ``now`` is always the database's time
read by the runner at the start of the sweep.
"""

from oslo_log import log as logging

from nova_proxy import conf

LOG = logging.getLogger(__name__)
CONF = conf.CONF

__all__ = ['PeriodicTask', 'GlobalTask', 'ItemTask']


class PeriodicTask:
    """Base class. ``name`` is the task's name in ``[periodic]`` options
    (``<name>_enabled``, ``<name>_interval``) and in the claim and run
    records."""

    name = None
    is_global = False

    @property
    def enabled(self):
        return getattr(CONF.periodic, '%s_enabled' % self.name)

    @property
    def interval(self):
        return getattr(CONF.periodic, '%s_interval' % self.name)

    def __repr__(self):
        return '<%s %s>' % (type(self).__name__, self.name)


class GlobalTask(PeriodicTask):

    is_global = True

    def run(self, context, now):
        """Do the period's work.

        :param now: the database's time at the start of the run.
        :returns: ``(handled, details)``: a list of the items (strings) the
            run acted on, and a JSON-safe dict for the run record.
        """
        raise NotImplementedError


class ItemTask(PeriodicTask):

    def list_items(self, context, now):
        """The items that need handling in this period: strings of at most
        255 characters, each stable from one period to the next."""
        raise NotImplementedError

    def handle_item(self, context, item, now):
        """Handle one claimed item; returns a short JSON-safe outcome (for
        the run record). Raising marks the item failed in the run record;
        the runner carries on with the next item."""
        raise NotImplementedError

    def handle_items(self, context, items, now):
        """Handle a batch of claimed items.

        :returns: ``(outcomes, errors)``: dicts of item to outcome, and of
            item to error message, together covering every item. Raising
            marks the whole batch failed.
        """
        outcomes, errors = {}, {}
        for item in items:
            try:
                outcomes[item] = self.handle_item(context, item, now)
            except Exception as e:
                LOG.exception('Periodic task %s failed on item %s',
                              self.name, item)
                errors[item] = '%s: %s' % (type(e).__name__, e)
        return outcomes, errors
