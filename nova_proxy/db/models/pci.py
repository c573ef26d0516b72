"""PCI devices of compute nodes, and the instances they are given to."""

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

__all__ = ['PciDevice']


class PciDevice(Base, TimestampMixin, SoftDeleteMixin):
    """``address`` is domain:bus:slot.func (0000:09:01.1). ``uuid`` is
    required, unlike nova's, for the reason BlockDeviceMapping gives."""

    __tablename__ = 'pci_devices'
    __table_args__ = (
        Index('ix_pci_devices_compute_node_id_deleted', 'compute_node_id',
              'deleted'),
        Index('ix_pci_devices_instance_uuid_deleted', 'instance_uuid',
              'deleted'),
        Index('ix_pci_devices_compute_node_id_parent_addr_deleted',
              'compute_node_id', 'parent_addr', 'deleted'),
        UniqueConstraint(
            'compute_node_id', 'address', 'deleted',
            name='uniq_pci_devices0compute_node_id0address0deleted'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid = mapped_column(String(36), nullable=False,
                         default=uuidutils.generate_uuid)
    compute_node_id = mapped_column(Integer, ForeignKey('compute_nodes.id'),
                                    nullable=False)
    address = mapped_column(String(12), nullable=False)
    vendor_id = mapped_column(String(4), nullable=False)
    product_id = mapped_column(String(4), nullable=False)
    dev_type = mapped_column(String(8), nullable=False)
    dev_id = mapped_column(String(255))
    label = mapped_column(String(255), nullable=False)
    status = mapped_column(String(36), nullable=False)
    request_id = mapped_column(String(36))
    extra_info = mapped_column(LongText)
    instance_uuid = mapped_column(String(36))
    numa_node = mapped_column(Integer)
    parent_addr = mapped_column(String(12))
