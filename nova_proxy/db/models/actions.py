"""What happened to an instance: actions with their events, and faults."""

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

__all__ = ['InstanceAction', 'InstanceActionEvent', 'InstanceFault']


class InstanceFault(Base, TimestampMixin, SoftDeleteMixin):
    __tablename__ = 'instance_faults'
    __table_args__ = (
        Index('instance_faults_instance_uuid_deleted_created_at_idx',
              'instance_uuid', 'deleted', 'created_at'),
        Index('instance_faults_host_idx', 'host'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_uuid = mapped_column(String(36), nullable=False)
    code = mapped_column(Integer, nullable=False, default=500)
    message = mapped_column(String(255))
    details = mapped_column(LongText)
    host = mapped_column(String(255))


class InstanceAction(Base, TimestampMixin, SoftDeleteMixin):
    """One user request on an instance: at most one per (instance_uuid,
    request_id)."""

    __tablename__ = 'instance_actions'
    __table_args__ = (
        Index('instance_uuid_iactions_idx', 'instance_uuid'),
        Index('request_id_iactions_idx', 'request_id'),
        Index('instance_actions_instance_uuid_updated_at_idx',
              'instance_uuid', 'updated_at'),
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
