"""Clocks of the periodic tasks: the database's, which decides, and the
proxy's own, which is only reported.

A period of a task is ``floor(t / interval)`` where ``t`` is the database's
current time in Unix seconds (``nova_proxy.db.session.db_utcnow``). Every
proxy reads the same clock, so two proxies whose own clocks disagree by
seconds still agree on the period number, and a global task's per-period
claim row admits one run per period.

The proxy's own clock is read for one thing: each run records the offset
between it and the database's (``details['clock_offset']``), so that an
operator sees a skewed proxy in ``nova-compute-proxy-manage periodic list``.

Test-only: the environment variable ``NOVA_PROXY_TEST_CLOCK_SKEW`` (float
seconds, read when the runner starts) shifts this proxy's own clock as the
periodic code sees it. The functional tests use it to run proxies whose
clocks disagree by seconds.
"""

import datetime
import os

from nova_proxy.db.api import periodic as db_periodic
from nova_proxy.db import session as db_session

__all__ = ['SKEW_ENV', 'read_skew', 'db_now', 'local_now', 'period_of',
           'period_start', 'to_unix']

SKEW_ENV = 'NOVA_PROXY_TEST_CLOCK_SKEW'

_EPOCH = datetime.datetime(1970, 1, 1)


def read_skew(environ=None):
    """The test-only skew of this proxy's clock, in seconds (0 if unset).

    :raises: ValueError if the variable is set to something not a number.
    """
    value = (os.environ if environ is None else environ).get(SKEW_ENV, '')
    if not value.strip():
        return 0.0
    try:
        return float(value)
    except ValueError:
        raise ValueError('%s must be a number of seconds, not %r'
                         % (SKEW_ENV, value))


db_now = db_periodic.database_now


def local_now(skew=0.0):
    """This proxy's own clock (naive UTC), shifted by ``skew`` seconds."""
    return db_session.utcnow() + datetime.timedelta(seconds=skew)


def to_unix(moment):
    """Seconds since the epoch of a naive UTC datetime."""
    return (moment - _EPOCH).total_seconds()


def period_of(moment, interval):
    """The number of the period of ``interval`` seconds holding ``moment``
    (a naive UTC datetime from the database's clock)."""
    return int(to_unix(moment) // interval)


def period_start(period, interval):
    """The naive UTC datetime at which ``period`` starts."""
    return _EPOCH + datetime.timedelta(seconds=period * interval)
