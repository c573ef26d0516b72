"""Services and the compute nodes they report."""

from sqlalchemy import Boolean
from sqlalchemy import Float
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import mapped_column

from nova_proxy.db.models.base import Base
from nova_proxy.db.models.base import IPAddress
from nova_proxy.db.models.base import LongText
from nova_proxy.db.models.base import SoftDeleteMixin
from nova_proxy.db.models.base import Timestamp
from nova_proxy.db.models.base import TimestampMixin

__all__ = ['ComputeNode', 'Service']


class Service(Base, TimestampMixin, SoftDeleteMixin):
    __tablename__ = 'services'
    __table_args__ = (
        UniqueConstraint('host', 'binary', 'deleted',
                         name='uniq_services0host0binary0deleted'),
        UniqueConstraint('host', 'topic', 'deleted',
                         name='uniq_services0host0topic0deleted'),
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


def _node_name(context):
    # A row written with only our ``node`` carries it as nova's
    # hypervisor_hostname too, so nova's queries by node name find it.
    parameters = context.get_current_parameters()
    return parameters.get('node')


class ComputeNode(Base, TimestampMixin, SoftDeleteMixin):
    __tablename__ = 'compute_nodes'
    __table_args__ = (
        UniqueConstraint('host', 'node', 'deleted',
                         name='uniq_compute_nodes0host0node0deleted'),
        UniqueConstraint(
            'host', 'hypervisor_hostname', 'deleted',
            name='uniq_compute_nodes0host0hypervisor_hostname0deleted'),
        UniqueConstraint('uuid', name='uniq_compute_nodes0uuid'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id = mapped_column(Integer)
    uuid = mapped_column(String(36), nullable=False)
    host = mapped_column(String(255), nullable=False)
    # Ours: the node's name as the proxy's 1.x calls give it; nova's name
    # for it is hypervisor_hostname (filled from it when not given).
    node = mapped_column(String(255), nullable=False)
    hypervisor_hostname = mapped_column(String(255), default=_node_name)
    hypervisor_type = mapped_column(LongText, nullable=False, default='')
    hypervisor_version = mapped_column(Integer, nullable=False, default=0)
    vcpus = mapped_column(Integer, nullable=False, default=0)
    memory_mb = mapped_column(Integer, nullable=False, default=0)
    local_gb = mapped_column(Integer, nullable=False, default=0)
    vcpus_used = mapped_column(Integer, nullable=False, default=0)
    memory_mb_used = mapped_column(Integer, nullable=False, default=0)
    local_gb_used = mapped_column(Integer, nullable=False, default=0)
    free_ram_mb = mapped_column(Integer)
    free_disk_gb = mapped_column(Integer)
    current_workload = mapped_column(Integer)
    running_vms = mapped_column(Integer, nullable=False, default=0)
    cpu_info = mapped_column(LongText, nullable=False, default='')
    disk_available_least = mapped_column(Integer)
    host_ip = mapped_column(IPAddress)
    supported_instances = mapped_column(LongText)
    metrics = mapped_column(LongText)
    pci_stats = mapped_column(LongText)
    extra_resources = mapped_column(LongText)
    stats = mapped_column(LongText, default='{}')
    numa_topology = mapped_column(LongText)
    ram_allocation_ratio = mapped_column(Float)
    cpu_allocation_ratio = mapped_column(Float)
    disk_allocation_ratio = mapped_column(Float)
    mapped = mapped_column(Integer, default=0, server_default='0')
