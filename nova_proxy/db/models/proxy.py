"""The proxy's own tables: ``operations`` (the orchestration journal),
``proxies`` (the liveness rows of the proxies, shared by orchestration
takeover and periodic task membership), ``periodic_claims``,
``periodic_runs`` and ``signed_call_nonces`` (the signed calls already
served)."""

from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import Float
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import mapped_column

from nova_proxy.db.models.base import Base
from nova_proxy.db.models.base import LongText
from nova_proxy.db.models.base import Timestamp

__all__ = ['Operation', 'PeriodicClaim', 'PeriodicRun', 'Proxy',
           'SignedCallNonce']


class Operation(Base):
    """One journaled orchestration operation (``nova_proxy.orchestration``).

    ``id`` is the caller's idempotency key when it gives one. ``owner`` and
    ``epoch`` fence the owner: every journal write of an owner has
    ``epoch = <its epoch>`` in its WHERE clause, and a takeover bumps it.
    """

    __tablename__ = 'operations'
    __table_args__ = (
        Index('operations_status_owner_idx', 'status', 'owner'),
        Index('operations_instance_uuid_status_idx', 'instance_uuid',
              'status'),
    )

    id = mapped_column(String(64), primary_key=True)
    kind = mapped_column(String(32), nullable=False)
    instance_uuid = mapped_column(String(36), nullable=False)
    status = mapped_column(String(16), nullable=False)
    step = mapped_column(String(64))
    progress = mapped_column(Integer, nullable=False, default=0)
    owner = mapped_column(String(255))
    epoch = mapped_column(Integer, nullable=False, default=0)
    attempts = mapped_column(Integer, nullable=False, default=0)
    error = mapped_column(LongText)
    params = mapped_column(LongText)
    state = mapped_column(LongText)
    migration_id = mapped_column(Integer)
    request_id = mapped_column(String(255))
    step_started_at = mapped_column(Timestamp)
    created_at = mapped_column(Timestamp, nullable=False)
    updated_at = mapped_column(Timestamp, nullable=False)
    finished_at = mapped_column(Timestamp)


class Proxy(Base):
    """The liveness row of one proxy worker.

    ``member`` is ``<host>`` plus the worker slot, stable across restarts, so
    a restarted proxy finds its own unfinished operations.
    ``heartbeat_at`` is written with the database's clock, so the proxies'
    own clocks never decide who is alive; ``started_at`` is when the
    worker last started.
    """

    __tablename__ = 'proxies'

    member = mapped_column(String(255), primary_key=True)
    host = mapped_column(String(255), nullable=False)
    pid = mapped_column(Integer)
    started_at = mapped_column(Timestamp, nullable=False)
    heartbeat_at = mapped_column(Timestamp, nullable=False)
    stopped = mapped_column(Boolean, nullable=False, default=False)
    # nova_proxy.version.release() of the worker, at its latest heartbeat.
    release = mapped_column(String(255))


class PeriodicClaim(Base):
    """At most one proxy handles an item of a periodic task in a period."""

    __tablename__ = 'periodic_claims'
    __table_args__ = (
        UniqueConstraint('task', 'period', 'item',
                         name='uniq_periodic_claims0task0period0item'),
        Index('periodic_claims_claimed_at_idx', 'claimed_at'),
    )

    id = mapped_column(BigInteger().with_variant(Integer, 'sqlite'),
                       primary_key=True, autoincrement=True)
    task = mapped_column(String(64), nullable=False)
    period = mapped_column(BigInteger, nullable=False)
    item = mapped_column(String(255), nullable=False)
    owner = mapped_column(String(255), nullable=False)
    claimed_at = mapped_column(Timestamp, nullable=False)


class PeriodicRun(Base):
    """What one proxy did for one periodic task in one period."""

    __tablename__ = 'periodic_runs'
    __table_args__ = (
        Index('periodic_runs_task_period_idx', 'task', 'period'),
    )

    id = mapped_column(BigInteger().with_variant(Integer, 'sqlite'),
                       primary_key=True, autoincrement=True)
    task = mapped_column(String(64), nullable=False)
    period = mapped_column(BigInteger, nullable=False)
    owner = mapped_column(String(255), nullable=False)
    started_at = mapped_column(Timestamp, nullable=False)
    finished_at = mapped_column(Timestamp)
    items = mapped_column(Integer, nullable=False, default=0)
    handled = mapped_column(LongText)
    result = mapped_column(String(32))
    details = mapped_column(LongText)
    duration = mapped_column(Float)


class SignedCallNonce(Base):
    """A signed call already served (``nova_proxy.common.auth``): every
    proxy inserts here before serving one, so a replay is refused by all
    of them, restarts included.

    ``digest`` is the SHA-256 (hex) of the signing key's id and the call's
    nonce: one fixed-width key whatever the host name's length.
    ``expires_at`` (seconds since the epoch) is when the signature leaves
    its window; rows are purged some time after (``nova_proxy.db.nonces``).
    ``attempt`` is a random token of the proxy's call that inserted the
    row: a proxy whose connection was lost during its INSERT finds its own
    token there and serves the call (NULL in rows of releases before
    it).
    """

    __tablename__ = 'signed_call_nonces'
    __table_args__ = (
        Index('signed_call_nonces_expires_at_idx', 'expires_at'),
    )

    digest = mapped_column(String(64), primary_key=True)
    expires_at = mapped_column(BigInteger, nullable=False)
    attempt = mapped_column(String(32))
