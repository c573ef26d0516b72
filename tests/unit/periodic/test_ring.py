"""The hash ring: stable, balanced enough, and moving few items."""

from nova_proxy.periodic import ring as np_ring
from nova_proxy.proxy import liveness

ITEMS = ['host-%03d/nova-compute' % i for i in range(300)]


def _assignment(members):
    ring = np_ring.Ring(members)
    return {item: ring.owner(item) for item in ITEMS}


def test_every_item_has_exactly_one_owner():
    ring = np_ring.Ring(['p1', 'p2', 'p3'])
    shares = [ring.mine(m, ITEMS) for m in ('p1', 'p2', 'p3')]
    assert sorted(sum(shares, [])) == sorted(ITEMS)
    assert all(len(share) > 30 for share in shares), [len(s) for s in shares]


def test_same_members_same_assignment_whatever_the_order():
    assert _assignment(['p1', 'p2', 'p3']) == _assignment(['p3', 'p1', 'p2'])


def test_a_leaving_member_moves_only_its_items():
    before = _assignment(['p1', 'p2', 'p3'])
    after = _assignment(['p1', 'p3'])
    moved = [item for item in ITEMS if before[item] != after[item]]
    assert moved
    assert all(before[item] == 'p2' for item in moved)


def test_a_joining_member_takes_only_a_share():
    before = _assignment(['p1', 'p2'])
    after = _assignment(['p1', 'p2', 'p3'])
    moved = [item for item in ITEMS if before[item] != after[item]]
    assert all(after[item] == 'p3' for item in moved)
    assert len(moved) < len(ITEMS) * 0.6


def test_a_member_outside_the_ring_gets_nothing():
    ring = np_ring.Ring(['p1'])
    assert ring.mine('p2', ITEMS) == []
    assert np_ring.Ring([]).owner('x') is None


def test_current_members_from_the_liveness_table(db, admin_context):
    liveness.heartbeat_once(admin_context, 'b', 'b')
    liveness.heartbeat_once(admin_context, 'a', 'a')
    liveness.heartbeat_once(admin_context, 'c', 'c', stopped=True)
    assert np_ring.current_members(admin_context) == ('a', 'b')
