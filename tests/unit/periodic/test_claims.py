"""Claims: one insert wins per (task, period, item); runs are recorded."""

import concurrent.futures
import datetime

import pytest

from nova_proxy.periodic import claims
from nova_proxy.periodic import clock


def test_one_claim_wins(db_all, admin_context):
    assert claims.claim(admin_context, 't', 7, 'x', 'p1')
    assert not claims.claim(admin_context, 't', 7, 'x', 'p2')
    assert claims.claim(admin_context, 't', 8, 'x', 'p2')
    assert claims.claim(admin_context, 'u', 7, 'x', 'p2')
    assert claims.claimed_items(admin_context, 't', 7) == {'x'}
    assert claims.claims_of_period(admin_context, 't', 7) == {'x': 'p1'}


def test_concurrent_claims_have_one_winner(db_all, admin_context):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(
            lambda n: claims.claim(admin_context, 'race', 1, '*', 'p%d' % n),
            range(16)))
    assert results.count(True) == 1


def test_bad_item_is_refused(db, admin_context):
    with pytest.raises(ValueError):
        claims.claim(admin_context, 't', 1, '', 'p1')
    with pytest.raises(ValueError):
        claims.claim(admin_context, 't', 1, 'x' * 256, 'p1')


def test_runs_are_recorded_and_listed(db_all, admin_context):
    now = clock.db_now(admin_context)
    claims.record_run(admin_context, 't', 5, 'p1', now, ['a', 'b'],
                      claims.RESULT_OK, {'outcomes': {'a': 'up'}}, 0.5)
    claims.record_run(admin_context, 't', 6, 'p2', now, [],
                      claims.RESULT_ERROR, {'error': 'boom'})
    runs = claims.run_list(admin_context, task='t')
    assert [r['period'] for r in runs] == [6, 5]
    assert runs[1]['handled'] == ['a', 'b'] and runs[1]['items'] == 2
    assert runs[1]['details'] == {'outcomes': {'a': 'up'}}
    assert runs[0]['result'] == 'error'
    assert claims.run_list(admin_context, owner='p1')[0]['period'] == 5
    assert claims.run_list(admin_context, period=6)[0]['owner'] == 'p2'


def test_old_records_are_purged_in_batches(db_all, admin_context):
    for item in 'abc':
        claims.claim(admin_context, 't', 1, item, 'p1')
    now = clock.db_now(admin_context)
    claims.record_run(admin_context, 't', 1, 'p1', now, ['x'], 'ok')
    earlier = now - datetime.timedelta(hours=1)
    later = now + datetime.timedelta(hours=1)
    assert claims.purge_claims(admin_context, earlier, 10) == 0
    assert claims.purge_runs(admin_context, earlier, 10) == 0
    assert claims.purge_claims(admin_context, later, 2) == 2
    assert len(claims.claimed_items(admin_context, 't', 1)) == 1
    assert claims.purge_claims(admin_context, later, 2) == 1
    assert claims.purge_runs(admin_context, later, 2) == 1
    assert claims.run_list(admin_context) == []


def test_claim_many_wins_only_the_free_items(db_all, admin_context):
    assert claims.claim(admin_context, 't', 3, 'b', 'p1')
    won = claims.claim_many(admin_context, 't', 3, ['c', 'a', 'b', 'a'],
                            'p2')
    assert won == ['c', 'a']
    assert claims.claim_many(admin_context, 't', 3, ['a', 'b', 'c'],
                             'p3') == []
    assert claims.claim_many(admin_context, 't', 3, [], 'p3') == []
    assert claims.claims_of_period(admin_context, 't', 3) == {
        'a': 'p2', 'b': 'p1', 'c': 'p2'}
    with pytest.raises(ValueError):
        claims.claim_many(admin_context, 't', 3, ['d', ''], 'p3')
    assert 'd' not in claims.claimed_items(admin_context, 't', 3)


def test_concurrent_batches_split_the_items(db_all, admin_context):
    items = ['i%02d' % n for n in range(40)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(
            lambda n: claims.claim_many(admin_context, 'race', 2,
                                        items[n:] + items[:n], 'p%d' % n),
            (0, 10, 20, 30)))
    won = sum(results, [])
    assert sorted(won) == items
