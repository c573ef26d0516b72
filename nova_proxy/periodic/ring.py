"""Who handles which item: the live proxies on a consistent hash ring.

Membership is the proxies' liveness table (``nova_proxy.proxy.liveness``):
a proxy joins as soon as its first heartbeat is written and drops out when
its heartbeat is older than ``[proxy] liveness_deadline`` (or it stopped
cleanly). The ring is tooz's ``HashRing``, so a change of membership moves
only the items of the proxy that joined or left.

The ring only shares the work out; it never guarantees it. Two proxies may
briefly see different members; the per-period claim rows
(``nova_proxy.periodic.claims``) are what stop both of them acting on one
item.
"""

from tooz import hashring

from nova_proxy.proxy import liveness

__all__ = ['Ring', 'current_members']


def current_members(context):
    """The live members, sorted, as the liveness table says now."""
    return tuple(liveness.live_members(context))


class Ring:
    """An immutable ring over a set of member names."""

    def __init__(self, members):
        self.members = tuple(sorted(set(members)))
        self._ring = hashring.HashRing(self.members) if self.members else None

    def owner(self, item):
        """The member that should handle ``item`` (a string), or None when
        there is no member."""
        if self._ring is None:
            return None
        (node,) = self._ring.get_nodes(item.encode('utf-8'))
        return node

    def mine(self, member, items):
        """The items of ``items`` that fall on ``member``, in their order."""
        if member not in self.members:
            return []
        return [item for item in items if self.owner(item) == member]

    def __eq__(self, other):
        return isinstance(other, Ring) and self.members == other.members

    def __hash__(self):
        return hash(self.members)

    def __repr__(self):
        return 'Ring(%r)' % (self.members,)
