"""The remaining tables of nova's that nova-compute uses: task logs,
console auth tokens, volume usage, share mappings and security groups
(as nova-compute reads them; their rules are not kept: no call
nova-compute makes reads them)."""

from sqlalchemy import BigInteger
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import mapped_column

from nova_proxy.db.models.base import Base
from nova_proxy.db.models.base import LongText
from nova_proxy.db.models.base import SoftDeleteMixin
from nova_proxy.db.models.base import Timestamp
from nova_proxy.db.models.base import TimestampMixin

__all__ = ['ConsoleAuthToken', 'SecurityGroup',
           'SecurityGroupInstanceAssociation', 'ShareMapping', 'TaskLog',
           'VolumeUsage']


class TaskLog(Base, TimestampMixin, SoftDeleteMixin):
    """The audit log of a periodic task on a host for a period."""

    __tablename__ = 'task_log'
    __table_args__ = (
        UniqueConstraint(
            'task_name', 'host', 'period_beginning', 'period_ending',
            name='uniq_task_log0task_name0host0period_beginning0'
                 'period_ending'),
        Index('ix_task_log_period_beginning', 'period_beginning'),
        Index('ix_task_log_host', 'host'),
        Index('ix_task_log_period_ending', 'period_ending'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_name = mapped_column(String(255), nullable=False)
    state = mapped_column(String(255), nullable=False)
    host = mapped_column(String(255), nullable=False)
    period_beginning = mapped_column(Timestamp, nullable=False)
    period_ending = mapped_column(Timestamp, nullable=False)
    message = mapped_column(String(255), nullable=False)
    task_items = mapped_column(Integer, default=0)
    errors = mapped_column(Integer, default=0)


class ConsoleAuthToken(Base, TimestampMixin):
    """A console's token, by its hash; ``expires`` in seconds since the
    epoch. Expired rows are deleted, not soft-deleted."""

    __tablename__ = 'console_auth_tokens'
    __table_args__ = (
        Index('console_auth_tokens_instance_uuid_idx', 'instance_uuid'),
        Index('console_auth_tokens_host_expires_idx', 'host', 'expires'),
        Index('console_auth_tokens_token_hash_instance_uuid_idx',
              'token_hash', 'instance_uuid'),
        UniqueConstraint('token_hash',
                         name='uniq_console_auth_tokens0token_hash'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash = mapped_column(String(255), nullable=False)
    console_type = mapped_column(String(255), nullable=False)
    host = mapped_column(String(255), nullable=False)
    port = mapped_column(Integer, nullable=False)
    tls_port = mapped_column(Integer)
    internal_access_path = mapped_column(String(255))
    instance_uuid = mapped_column(String(36), nullable=False)
    expires = mapped_column(Integer, nullable=False)
    access_url_base = mapped_column(String(255))


class VolumeUsage(Base, TimestampMixin, SoftDeleteMixin):
    """The I/O counters of a volume attached to an instance: totals, and
    those since the volume was last attached (``curr_``)."""

    __tablename__ = 'volume_usage_cache'

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    volume_id = mapped_column(String(36), nullable=False)
    instance_uuid = mapped_column(String(36))
    project_id = mapped_column(String(36))
    user_id = mapped_column(String(64))
    availability_zone = mapped_column(String(255))
    tot_last_refreshed = mapped_column(Timestamp)
    tot_reads = mapped_column(BigInteger, default=0)
    tot_read_bytes = mapped_column(BigInteger, default=0)
    tot_writes = mapped_column(BigInteger, default=0)
    tot_write_bytes = mapped_column(BigInteger, default=0)
    curr_last_refreshed = mapped_column(Timestamp)
    curr_reads = mapped_column(BigInteger, default=0)
    curr_read_bytes = mapped_column(BigInteger, default=0)
    curr_writes = mapped_column(BigInteger, default=0)
    curr_write_bytes = mapped_column(BigInteger, default=0)


class ShareMapping(Base, TimestampMixin):
    """A manila share mounted in an instance; deleted, not soft-deleted."""

    __tablename__ = 'share_mapping'
    __table_args__ = (
        Index('share_idx', 'share_id'),
        Index('share_mapping_instance_uuid_share_id_idx', 'instance_uuid',
              'share_id'),
        UniqueConstraint('instance_uuid', 'share_id',
                         name='uniq_share_mapping0instance_uuid0share_id'),
        UniqueConstraint('instance_uuid', 'tag',
                         name='uniq_share_mapping0instance_uuid0tag'),
    )

    id = mapped_column(BigInteger().with_variant(Integer, 'sqlite'),
                       primary_key=True, autoincrement=True)
    uuid = mapped_column(String(36))
    instance_uuid = mapped_column(
        String(36), ForeignKey('instances.uuid', ondelete='CASCADE'))
    share_id = mapped_column(String(36))
    status = mapped_column(String(32))
    tag = mapped_column(String(48))
    export_location = mapped_column(LongText)
    share_proto = mapped_column(String(32))


class SecurityGroup(Base, TimestampMixin, SoftDeleteMixin):
    __tablename__ = 'security_groups'
    __table_args__ = (
        UniqueConstraint('project_id', 'name', 'deleted',
                         name='uniq_security_groups0project_id0name0deleted'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    name = mapped_column(String(255))
    description = mapped_column(String(255))
    user_id = mapped_column(String(255))
    project_id = mapped_column(String(255))


class SecurityGroupInstanceAssociation(Base, TimestampMixin,
                                       SoftDeleteMixin):
    __tablename__ = 'security_group_instance_association'
    __table_args__ = (
        Index('security_group_instance_association_instance_uuid_idx',
              'instance_uuid'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    security_group_id = mapped_column(Integer,
                                      ForeignKey('security_groups.id'))
    instance_uuid = mapped_column(
        String(36), ForeignKey('instances.uuid', ondelete='CASCADE'))
