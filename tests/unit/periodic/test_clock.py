"""Periods come from the database's clock."""

import datetime

import pytest

from nova_proxy.db import session as db_session
from nova_proxy.periodic import clock


def test_period_numbering():
    moment = datetime.datetime(2026, 1, 1, 0, 0, 59, 999999)
    period = clock.period_of(moment, 60)
    assert clock.period_start(period, 60) == datetime.datetime(2026, 1, 1)
    assert clock.period_of(moment + datetime.timedelta(microseconds=1),
                           60) == period + 1


def test_db_now_is_the_database_clock(db_all, admin_context):
    now = clock.db_now(admin_context)
    assert isinstance(now, datetime.datetime)
    assert now.tzinfo is None
    assert abs((now - db_session.utcnow()).total_seconds()) < 5


def test_skew_is_read_from_the_environment():
    assert clock.read_skew({}) == 0.0
    assert clock.read_skew({clock.SKEW_ENV: '-3.5'}) == -3.5
    with pytest.raises(ValueError, match=clock.SKEW_ENV):
        clock.read_skew({clock.SKEW_ENV: 'soon'})
    base = db_session.utcnow()
    assert (clock.local_now(10) - base).total_seconds() >= 10
