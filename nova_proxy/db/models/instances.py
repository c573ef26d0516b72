"""Instances and what hangs off them one to one or by instance uuid:
metadata, system metadata, extra, the network info cache and tags."""

from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import Column
from sqlalchemy import Enum
from sqlalchemy import false
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Unicode
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from nova_proxy.db.models.base import Base
from nova_proxy.db.models.base import IPAddress
from nova_proxy.db.models.base import LongText
from nova_proxy.db.models.base import SoftDeleteMixin
from nova_proxy.db.models.base import Timestamp
from nova_proxy.db.models.base import TimestampMixin

__all__ = ['Instance', 'InstanceExtra', 'InstanceInfoCache',
           'InstanceMetadata', 'InstanceSystemMetadata', 'Tag']

# Rows hanging off an instance go with it when the proxy purges it.
_INSTANCE_UUID_FK = dict(ondelete='CASCADE')


class Instance(Base, TimestampMixin, SoftDeleteMixin):
    __tablename__ = 'instances'
    __table_args__ = (
        UniqueConstraint('uuid', name='uniq_instances0uuid'),
        Index('instances_host_node_deleted_idx', 'host', 'node', 'deleted'),
        Index('instances_task_state_updated_at_idx', 'task_state',
              'updated_at'),
        Index('instances_deleted_deleted_at_idx', 'deleted', 'deleted_at'),
        # nova's, for the queries nova-compute makes: its pending deletes
        # (host, deleted, cleaned), the usage audit's window and the
        # instances of a compute node by id.
        Index('instances_host_deleted_cleaned_idx', 'host', 'deleted',
              'cleaned'),
        Index('instances_terminated_at_launched_at_idx', 'terminated_at',
              'launched_at'),
        Index('instances_compute_id_deleted_idx', 'compute_id', 'deleted'),
        # In nova's table but no longer in its model (unused since Ocata):
        # kept in the table as nova has it, never read or written.
        Column('internal_id', Integer),
    )
    __mapper_args__ = {'exclude_properties': ['internal_id']}

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid = mapped_column(String(36), nullable=False)
    user_id = mapped_column(String(255))
    project_id = mapped_column(String(255))

    image_ref = mapped_column(String(255))
    kernel_id = mapped_column(String(255))
    ramdisk_id = mapped_column(String(255))
    hostname = mapped_column(String(255))
    launch_index = mapped_column(Integer)
    key_name = mapped_column(String(255))
    key_data = mapped_column(LongText)

    power_state = mapped_column(Integer)
    vm_state = mapped_column(String(255))
    task_state = mapped_column(String(255))

    memory_mb = mapped_column(Integer)
    vcpus = mapped_column(Integer)
    root_gb = mapped_column(Integer)
    ephemeral_gb = mapped_column(Integer)
    ephemeral_key_uuid = mapped_column(String(36))

    host = mapped_column(String(255))
    node = mapped_column(String(255))
    compute_id = mapped_column(BigInteger)
    instance_type_id = mapped_column(Integer)
    # Ours: the flavor's name, which nova keeps in instance_extra.flavor.
    instance_type_name = mapped_column(String(255))
    user_data = mapped_column(LongText)
    reservation_id = mapped_column(String(255))

    launched_at = mapped_column(Timestamp)
    terminated_at = mapped_column(Timestamp)
    availability_zone = mapped_column(String(255))
    display_name = mapped_column(String(255))
    display_description = mapped_column(String(255))
    launched_on = mapped_column(String(255))

    locked = mapped_column(Boolean, default=False, server_default=false())
    locked_by = mapped_column(Enum('owner', 'admin',
                                   name='instances0locked_by'))
    os_type = mapped_column(String(255))
    architecture = mapped_column(String(255))
    vm_mode = mapped_column(String(255))

    root_device_name = mapped_column(String(255))
    default_ephemeral_device = mapped_column(String(255))
    default_swap_device = mapped_column(String(255))
    config_drive = mapped_column(String(255))
    access_ip_v4 = mapped_column(IPAddress)
    access_ip_v6 = mapped_column(IPAddress)
    auto_disk_config = mapped_column(Boolean, default=False,
                                     server_default=false())
    progress = mapped_column(Integer)
    shutdown_terminate = mapped_column(Boolean, default=False,
                                       server_default=false())
    disable_terminate = mapped_column(Boolean, default=False,
                                      server_default=false())
    cell_name = mapped_column(String(255))
    cleaned = mapped_column(Integer, default=0, server_default='0')
    hidden = mapped_column(Boolean, default=False, server_default=false())

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
    """A key and its value. Unlike nova's, these rows are deleted, not
    soft-deleted: a key is unique per instance, and a value may be longer
    than 255 characters."""

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
        String(36), ForeignKey('instances.uuid', **_INSTANCE_UUID_FK),
        nullable=False)


class InstanceSystemMetadata(Base, _MetadataMixin):
    __tablename__ = 'instance_system_metadata'
    __table_args__ = (
        UniqueConstraint(
            'instance_uuid', 'key',
            name='uniq_instance_system_metadata0instance_uuid0key'),
    )
    instance_uuid = mapped_column(
        String(36), ForeignKey('instances.uuid', **_INSTANCE_UUID_FK),
        nullable=False)


class InstanceExtra(Base, TimestampMixin, SoftDeleteMixin):
    """The instance's serialized objects (JSON), one row per instance."""

    __tablename__ = 'instance_extra'
    __table_args__ = (
        Index('instance_extra_idx', 'instance_uuid'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_uuid = mapped_column(
        String(36), ForeignKey('instances.uuid', **_INSTANCE_UUID_FK),
        nullable=False)
    device_metadata = mapped_column(LongText)
    numa_topology = mapped_column(LongText)
    pci_requests = mapped_column(LongText)
    flavor = mapped_column(LongText)
    vcpu_model = mapped_column(LongText)
    migration_context = mapped_column(LongText)
    keypairs = mapped_column(LongText)
    trusted_certs = mapped_column(LongText)
    resources = mapped_column(LongText)


class InstanceInfoCache(Base, TimestampMixin, SoftDeleteMixin):
    """The instance's network info (JSON), one row per instance."""

    __tablename__ = 'instance_info_caches'
    __table_args__ = (
        UniqueConstraint('instance_uuid',
                         name='uniq_instance_info_caches0instance_uuid'),
    )

    id = mapped_column(Integer, primary_key=True, autoincrement=True)
    network_info = mapped_column(LongText)
    instance_uuid = mapped_column(
        String(36), ForeignKey('instances.uuid', **_INSTANCE_UUID_FK),
        nullable=False)


class Tag(Base):
    """A tag of a resource (in nova, always an instance): no timestamps,
    no soft deletion."""

    __tablename__ = 'tags'
    __table_args__ = (
        Index('tags_tag_idx', 'tag'),
    )

    resource_id = mapped_column(String(36), primary_key=True)
    tag = mapped_column(Unicode(80), primary_key=True)
