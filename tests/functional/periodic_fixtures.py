"""Helpers of the periodic task functional tests: a PostgreSQL database
shared by the test process and the proxies, and readers of the run
records."""

import collections

import sqlalchemy as sa

from nova_proxy import conf
from nova_proxy.db import migration
from nova_proxy.db import session as db_session
from nova_proxy.periodic import claims
from nova_proxy.periodic import clock
from tests import databases

CONF = conf.CONF

ALL_TASKS = ('mark_services_down', 'heal_stuck_instances', 'confirm_resizes',
             'purge_deleted')


def postgresql(tmp_path):
    """Create and migrate a PostgreSQL database, point this process at it;
    returns its URL."""
    url = databases.create_database('postgresql', tmp_path)
    engine = sa.create_engine(url)
    migration.db_sync(engine=engine)
    engine.dispose()
    CONF.set_override('connection', url, group='database')
    db_session.dispose()
    return url


def drop(url):
    db_session.dispose()
    databases.drop_database(url)


def periodic_options(enabled, interval, **extra):
    """``[periodic]`` options with only ``enabled`` tasks on."""
    values = {}
    for task in ALL_TASKS:
        values['%s_enabled' % task] = str(task in enabled).lower()
        values['%s_interval' % task] = str(interval)
    values.update({k: str(v) for k, v in extra.items()})
    return {'periodic': values}


def handled_by_period(context, task):
    """``{period: Counter(item -> times handled)}`` and
    ``{period: set(owners)}`` from the run records."""
    counts = collections.defaultdict(collections.Counter)
    owners = collections.defaultdict(set)
    for run in claims.run_list(context, task=task):
        counts[run['period']].update(run['handled'])
        owners[run['period']].add(run['owner'])
    return counts, owners


def current_period(context, interval):
    return clock.period_of(clock.db_now(context), interval)
