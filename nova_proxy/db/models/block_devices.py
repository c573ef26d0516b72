"""Block device mappings: an instance's disks, volumes and swap."""

from sqlalchemy import Boolean
from oslo_utils import uuidutils
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import mapped_column

from nova_proxy.db.models.base import Base
from nova_proxy.db.models.base import LongText
from nova_proxy.db.models.base import SoftDeleteMixin
from nova_proxy.db.models.base import TimestampMixin

__all__ = ['BlockDeviceMapping']


class BlockDeviceMapping(Base, TimestampMixin, SoftDeleteMixin):
    """``uuid`` is the mapping's own (not its image's, volume's or
    snapshot's). Unlike nova's it is required: nova's object writes a
    missing one through the database, which the shim cannot serve; a
    row written without one gets one."""

    __tablename__ = 'block_device_mapping'
    __table_args__ = (
        Index('snapshot_id', 'snapshot_id'),
        Index('volume_id', 'volume_id'),
        Index('block_device_mapping_instance_uuid_device_name_idx',
              'instance_uuid', 'device_name'),
        Index('block_device_mapping_instance_uuid_volume_id_idx',
              'instance_uuid', 'volume_id'),
        Index('block_device_mapping_instance_uuid_idx', 'instance_uuid'),
        UniqueConstraint('uuid', name='uniq_block_device_mapping0uuid'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_uuid = mapped_column(
        String(36), ForeignKey('instances.uuid', ondelete='CASCADE'))
    uuid = mapped_column(String(36), nullable=False,
                         default=uuidutils.generate_uuid)
    source_type = mapped_column(String(255))
    destination_type = mapped_column(String(255))
    guest_format = mapped_column(String(255))
    device_type = mapped_column(String(255))
    disk_bus = mapped_column(String(255))
    boot_index = mapped_column(Integer)
    device_name = mapped_column(String(255))
    delete_on_termination = mapped_column(Boolean, default=False)
    snapshot_id = mapped_column(String(36))
    volume_id = mapped_column(String(36))
    volume_size = mapped_column(Integer)
    volume_type = mapped_column(String(255))
    image_id = mapped_column(String(36))
    no_device = mapped_column(Boolean)
    connection_info = mapped_column(LongText)
    tag = mapped_column(String(255))
    attachment_id = mapped_column(String(36))
    encrypted = mapped_column(Boolean, default=False)
    encryption_secret_uuid = mapped_column(String(36))
    encryption_format = mapped_column(String(128))
    encryption_options = mapped_column(String(4096))
