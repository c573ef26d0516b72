"""SQLAlchemy models of the proxy's database.

The nova tables keep nova's column names, so that a nova developer reads
them as nova's. Soft deletion follows nova: ``deleted`` is 0 for a live row
and the row's id once deleted, so unique constraints can include it.

Our own tables: ``operations`` (the orchestration journal), ``proxies`` (the
liveness rows of the proxies, shared by orchestration takeover and periodic
task membership), ``periodic_claims`` and ``periodic_runs``.

Every timestamp is naive UTC; MySQL/MariaDB columns keep microseconds.
"""

from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import DateTime
from sqlalchemy import Float
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

# Microseconds matter: heartbeats, journal ordering and CAS on updated_at.
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')
# Any length, as TEXT is on PostgreSQL and SQLite (MariaDB's TEXT: 64 KB).
LongText = Text().with_variant(mysql.MEDIUMTEXT(), 'mysql', 'mariadb')


class Base(DeclarativeBase):
    pass


class TimestampMixin:
    created_at = mapped_column(Timestamp, nullable=True)
    updated_at = mapped_column(Timestamp, nullable=True)


class SoftDeleteMixin:
    deleted_at = mapped_column(Timestamp, nullable=True)
    deleted = mapped_column(Integer, nullable=False, default=0)


class Instance(Base, TimestampMixin, SoftDeleteMixin):
    __tablename__ = 'instances'
    __table_args__ = (
        UniqueConstraint('uuid', name='uniq_instances0uuid'),
        Index('instances_host_node_deleted_idx', 'host', 'node', 'deleted'),
        Index('instances_task_state_updated_at_idx', 'task_state',
              'updated_at'),
        Index('instances_deleted_deleted_at_idx', 'deleted', 'deleted_at'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid = mapped_column(String(36), nullable=False)
    user_id = mapped_column(String(255))
    project_id = mapped_column(String(255))
    image_ref = mapped_column(String(255))
    hostname = mapped_column(String(255))
    display_name = mapped_column(String(255))
    host = mapped_column(String(255))
    node = mapped_column(String(255))
    launched_on = mapped_column(String(255))
    availability_zone = mapped_column(String(255))
    vm_state = mapped_column(String(255))
    task_state = mapped_column(String(255))
    power_state = mapped_column(Integer)
    instance_type_id = mapped_column(Integer)
    instance_type_name = mapped_column(String(255))
    memory_mb = mapped_column(Integer)
    vcpus = mapped_column(Integer)
    root_gb = mapped_column(Integer)
    ephemeral_gb = mapped_column(Integer)
    progress = mapped_column(Integer)
    launched_at = mapped_column(Timestamp)
    terminated_at = mapped_column(Timestamp)

    metadata_items = relationship(
        'InstanceMetadata', lazy='selectin',
        primaryjoin='Instance.uuid == foreign(InstanceMetadata.instance_uuid)',
        viewonly=True)
    system_metadata_items = relationship(
        'InstanceSystemMetadata', lazy='selectin',
        primaryjoin='Instance.uuid == '
                    'foreign(InstanceSystemMetadata.instance_uuid)',
        viewonly=True)


class _MetadataMixin(TimestampMixin):
    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    key = mapped_column(String(255), nullable=False)
    value = mapped_column(LongText)


class InstanceMetadata(Base, _MetadataMixin):
    __tablename__ = 'instance_metadata'
    __table_args__ = (
        UniqueConstraint('instance_uuid', 'key',
                         name='uniq_instance_metadata0instance_uuid0key'),
    )
    instance_uuid = mapped_column(
        String(36), ForeignKey('instances.uuid', ondelete='CASCADE'),
        nullable=False)


class InstanceSystemMetadata(Base, _MetadataMixin):
    __tablename__ = 'instance_system_metadata'
    __table_args__ = (
        UniqueConstraint(
            'instance_uuid', 'key',
            name='uniq_instance_system_metadata0instance_uuid0key'),
    )
    instance_uuid = mapped_column(
        String(36), ForeignKey('instances.uuid', ondelete='CASCADE'),
        nullable=False)


class Migration(Base, TimestampMixin, SoftDeleteMixin):
    __tablename__ = 'migrations'
    __table_args__ = (
        UniqueConstraint('uuid', name='uniq_migrations0uuid'),
        Index('migrations_instance_uuid_status_idx', 'instance_uuid',
              'status'),
        Index('migrations_source_idx', 'source_compute', 'source_node',
              'deleted'),
        Index('migrations_dest_idx', 'dest_compute', 'dest_node', 'deleted'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid = mapped_column(String(36), nullable=False)
    instance_uuid = mapped_column(String(36), nullable=False)
    source_compute = mapped_column(String(255))
    dest_compute = mapped_column(String(255))
    source_node = mapped_column(String(255))
    dest_node = mapped_column(String(255))
    dest_host = mapped_column(String(255))
    old_instance_type_id = mapped_column(Integer)
    new_instance_type_id = mapped_column(Integer)
    status = mapped_column(String(255))
    migration_type = mapped_column(String(32))
    hidden = mapped_column(Boolean, default=False)
    progress = mapped_column(Integer)


class Service(Base, TimestampMixin, SoftDeleteMixin):
    __tablename__ = 'services'
    __table_args__ = (
        UniqueConstraint('host', 'binary', 'deleted',
                         name='uniq_services0host0binary0deleted'),
        UniqueConstraint('uuid', name='uniq_services0uuid'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid = mapped_column(String(36), nullable=False)
    host = mapped_column(String(255), nullable=False)
    binary = mapped_column(String(255), nullable=False)
    topic = mapped_column(String(255))
    report_count = mapped_column(Integer, nullable=False, default=0)
    disabled = mapped_column(Boolean, nullable=False, default=False)
    disabled_reason = mapped_column(String(255))
    forced_down = mapped_column(Boolean, nullable=False, default=False)
    last_seen_up = mapped_column(Timestamp)
    version = mapped_column(Integer, nullable=False, default=0)


class ComputeNode(Base, TimestampMixin, SoftDeleteMixin):
    __tablename__ = 'compute_nodes'
    __table_args__ = (
        UniqueConstraint('host', 'node', 'deleted',
                         name='uniq_compute_nodes0host0node0deleted'),
        UniqueConstraint('uuid', name='uniq_compute_nodes0uuid'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid = mapped_column(String(36), nullable=False)
    host = mapped_column(String(255), nullable=False)
    node = mapped_column(String(255), nullable=False)
    hypervisor_type = mapped_column(String(255))
    vcpus = mapped_column(Integer, nullable=False, default=0)
    memory_mb = mapped_column(Integer, nullable=False, default=0)
    local_gb = mapped_column(Integer, nullable=False, default=0)
    vcpus_used = mapped_column(Integer, nullable=False, default=0)
    memory_mb_used = mapped_column(Integer, nullable=False, default=0)
    local_gb_used = mapped_column(Integer, nullable=False, default=0)
    running_vms = mapped_column(Integer, nullable=False, default=0)


class InstanceFault(Base, TimestampMixin, SoftDeleteMixin):
    __tablename__ = 'instance_faults'
    __table_args__ = (
        Index('instance_faults_instance_uuid_deleted_created_at_idx',
              'instance_uuid', 'deleted', 'created_at'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_uuid = mapped_column(String(36), nullable=False)
    code = mapped_column(Integer, nullable=False, default=500)
    message = mapped_column(String(255))
    details = mapped_column(LongText)
    host = mapped_column(String(255))


class InstanceAction(Base, TimestampMixin, SoftDeleteMixin):
    __tablename__ = 'instance_actions'
    __table_args__ = (
        Index('instance_uuid_iactions_idx', 'instance_uuid'),
        Index('request_id_iactions_idx', 'request_id'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    action = mapped_column(String(255))
    instance_uuid = mapped_column(String(36), nullable=False)
    request_id = mapped_column(String(255))
    user_id = mapped_column(String(255))
    project_id = mapped_column(String(255))
    start_time = mapped_column(Timestamp)
    finish_time = mapped_column(Timestamp)
    message = mapped_column(String(255))


class InstanceActionEvent(Base, TimestampMixin, SoftDeleteMixin):
    __tablename__ = 'instance_actions_events'
    __table_args__ = (
        UniqueConstraint('action_id', 'event', 'deleted',
                         name='uniq_instance_actions_events0action_id0event0'
                              'deleted'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    event = mapped_column(String(255))
    action_id = mapped_column(Integer, ForeignKey('instance_actions.id'),
                              nullable=False)
    start_time = mapped_column(Timestamp)
    finish_time = mapped_column(Timestamp)
    result = mapped_column(String(255))
    traceback = mapped_column(LongText)
    host = mapped_column(String(255))
    details = mapped_column(LongText)


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
    own clocks never decide who is alive.
    """

    __tablename__ = 'proxies'

    member = mapped_column(String(255), primary_key=True)
    host = mapped_column(String(255), nullable=False)
    pid = mapped_column(Integer)
    started_at = mapped_column(Timestamp, nullable=False)
    heartbeat_at = mapped_column(Timestamp, nullable=False)
    stopped = mapped_column(Boolean, nullable=False, default=False)


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
