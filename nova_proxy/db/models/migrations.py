"""Migrations: an instance's move from one host and node to another."""

from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import Enum
from sqlalchemy import false
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import mapped_column

from nova_proxy.db.models.base import Base
from nova_proxy.db.models.base import SoftDeleteMixin
from nova_proxy.db.models.base import TimestampMixin

__all__ = ['MIGRATION_TYPES', 'Migration']

MIGRATION_TYPES = ('migration', 'resize', 'live-migration', 'evacuation')


class Migration(Base, TimestampMixin, SoftDeleteMixin):
    __tablename__ = 'migrations'
    __table_args__ = (
        UniqueConstraint('uuid', name='uniq_migrations0uuid'),
        Index('migrations_instance_uuid_status_idx', 'instance_uuid',
              'status'),
        Index('migrations_source_idx', 'source_compute', 'source_node',
              'deleted'),
        Index('migrations_dest_idx', 'dest_compute', 'dest_node', 'deleted'),
        # nova's: the unconfirmed resizes by their age, a node's by id.
        Index('migrations_updated_at_idx', 'updated_at'),
        Index('migrations_dest_compute_id_deleted_idx', 'dest_compute_id',
              'deleted'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid = mapped_column(String(36), nullable=False)
    instance_uuid = mapped_column(String(36), nullable=False)
    source_compute = mapped_column(String(255))
    dest_compute = mapped_column(String(255))
    source_node = mapped_column(String(255))
    dest_node = mapped_column(String(255))
    dest_compute_id = mapped_column(BigInteger)
    dest_host = mapped_column(String(255))
    old_instance_type_id = mapped_column(Integer)
    new_instance_type_id = mapped_column(Integer)
    status = mapped_column(String(255))
    migration_type = mapped_column(Enum(*MIGRATION_TYPES,
                                        name='migration_type'))
    hidden = mapped_column(Boolean, default=False)
    # Ours: the orchestration's progress of the move, in percent.
    progress = mapped_column(Integer)
    memory_total = mapped_column(BigInteger)
    memory_processed = mapped_column(BigInteger)
    memory_remaining = mapped_column(BigInteger)
    disk_total = mapped_column(BigInteger)
    disk_processed = mapped_column(BigInteger)
    disk_remaining = mapped_column(BigInteger)
    cross_cell_move = mapped_column(Boolean, default=False,
                                    server_default=false())
    user_id = mapped_column(String(255))
    project_id = mapped_column(String(255))
