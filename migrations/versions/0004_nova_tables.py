"""nova's tables the proxy did not have yet

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

instance_extra, instance_info_caches, tags, block_device_mapping,
pci_devices, task_log, console_auth_tokens, volume_usage_cache,
share_mapping, security_groups and security_group_instance_association,
as nova has them (nova/db/main/models.py, nova 34) but for the
differences nova_proxy.db.models gives. On MariaDB/MySQL they take the
character set and binary collation 0002 gave the other tables.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql',
                                       'mariadb')
LONGTEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql', 'mariadb')
BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# Children first, for the downgrade.
TABLES = ('security_group_instance_association', 'security_groups',
          'share_mapping', 'volume_usage_cache', 'console_auth_tokens',
          'task_log', 'pci_devices', 'block_device_mapping', 'tags',
          'instance_info_caches', 'instance_extra')


def _timestamps(soft_delete=True):
    columns = [sa.Column('created_at', TIMESTAMP),
               sa.Column('updated_at', TIMESTAMP)]
    if soft_delete:
        columns += [sa.Column('deleted_at', TIMESTAMP),
                    sa.Column('deleted', sa.Integer(), nullable=False)]
    return columns


def _instance_uuid(nullable=True):
    return sa.Column('instance_uuid', sa.String(36),
                     sa.ForeignKey('instances.uuid', ondelete='CASCADE'),
                     nullable=nullable)


def _table_options(bind):
    """The character set and collation of 0002's tables on MariaDB/MySQL
    (the database's default may differ), else nothing."""
    if bind.dialect.name not in ('mysql', 'mariadb'):
        return {}
    collation = bind.execute(sa.text(
        "SELECT table_collation FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_name = 'instances'"
    )).scalar_one()
    return {'mysql_charset': 'utf8mb4', 'mysql_collate': collation}


def upgrade():
    options = _table_options(op.get_bind())

    op.create_table(
        'instance_extra',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        _instance_uuid(nullable=False),
        *[sa.Column(name, LONGTEXT) for name in (
            'device_metadata', 'numa_topology', 'pci_requests', 'flavor',
            'vcpu_model', 'migration_context', 'keypairs', 'trusted_certs',
            'resources')],
        *_timestamps(), **options)
    op.create_index('instance_extra_idx', 'instance_extra',
                    ['instance_uuid'])

    op.create_table(
        'instance_info_caches',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('network_info', LONGTEXT),
        _instance_uuid(nullable=False),
        *_timestamps(),
        sa.UniqueConstraint('instance_uuid',
                            name='uniq_instance_info_caches0instance_uuid'),
        **options)

    op.create_table(
        'tags',
        sa.Column('resource_id', sa.String(36), primary_key=True),
        sa.Column('tag', sa.Unicode(80), primary_key=True),
        **options)
    op.create_index('tags_tag_idx', 'tags', ['tag'])

    op.create_table(
        'block_device_mapping',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        _instance_uuid(),
        sa.Column('uuid', sa.String(36), nullable=False),
        *[sa.Column(name, sa.String(255)) for name in (
            'source_type', 'destination_type', 'guest_format',
            'device_type', 'disk_bus')],
        sa.Column('boot_index', sa.Integer()),
        sa.Column('device_name', sa.String(255)),
        sa.Column('delete_on_termination', sa.Boolean()),
        sa.Column('snapshot_id', sa.String(36)),
        sa.Column('volume_id', sa.String(36)),
        sa.Column('volume_size', sa.Integer()),
        sa.Column('volume_type', sa.String(255)),
        sa.Column('image_id', sa.String(36)),
        sa.Column('no_device', sa.Boolean()),
        sa.Column('connection_info', LONGTEXT),
        sa.Column('tag', sa.String(255)),
        sa.Column('attachment_id', sa.String(36)),
        sa.Column('encrypted', sa.Boolean()),
        sa.Column('encryption_secret_uuid', sa.String(36)),
        sa.Column('encryption_format', sa.String(128)),
        sa.Column('encryption_options', sa.String(4096)),
        *_timestamps(),
        sa.UniqueConstraint('uuid', name='uniq_block_device_mapping0uuid'),
        **options)
    for name, columns in (
            ('snapshot_id', ['snapshot_id']),
            ('volume_id', ['volume_id']),
            ('block_device_mapping_instance_uuid_device_name_idx',
             ['instance_uuid', 'device_name']),
            ('block_device_mapping_instance_uuid_volume_id_idx',
             ['instance_uuid', 'volume_id']),
            ('block_device_mapping_instance_uuid_idx', ['instance_uuid'])):
        op.create_index(name, 'block_device_mapping', columns)

    op.create_table(
        'pci_devices',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('uuid', sa.String(36), nullable=False),
        sa.Column('compute_node_id', sa.Integer(),
                  sa.ForeignKey('compute_nodes.id'), nullable=False),
        sa.Column('address', sa.String(12), nullable=False),
        sa.Column('vendor_id', sa.String(4), nullable=False),
        sa.Column('product_id', sa.String(4), nullable=False),
        sa.Column('dev_type', sa.String(8), nullable=False),
        sa.Column('dev_id', sa.String(255)),
        sa.Column('label', sa.String(255), nullable=False),
        sa.Column('status', sa.String(36), nullable=False),
        sa.Column('request_id', sa.String(36)),
        sa.Column('extra_info', LONGTEXT),
        sa.Column('instance_uuid', sa.String(36)),
        sa.Column('numa_node', sa.Integer()),
        sa.Column('parent_addr', sa.String(12)),
        *_timestamps(),
        sa.UniqueConstraint(
            'compute_node_id', 'address', 'deleted',
            name='uniq_pci_devices0compute_node_id0address0deleted'),
        **options)
    for name, columns in (
            ('ix_pci_devices_compute_node_id_deleted',
             ['compute_node_id', 'deleted']),
            ('ix_pci_devices_instance_uuid_deleted',
             ['instance_uuid', 'deleted']),
            ('ix_pci_devices_compute_node_id_parent_addr_deleted',
             ['compute_node_id', 'parent_addr', 'deleted'])):
        op.create_index(name, 'pci_devices', columns)

    op.create_table(
        'task_log',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('task_name', sa.String(255), nullable=False),
        sa.Column('state', sa.String(255), nullable=False),
        sa.Column('host', sa.String(255), nullable=False),
        sa.Column('period_beginning', TIMESTAMP, nullable=False),
        sa.Column('period_ending', TIMESTAMP, nullable=False),
        sa.Column('message', sa.String(255), nullable=False),
        sa.Column('task_items', sa.Integer()),
        sa.Column('errors', sa.Integer()),
        *_timestamps(),
        sa.UniqueConstraint(
            'task_name', 'host', 'period_beginning', 'period_ending',
            name='uniq_task_log0task_name0host0period_beginning0'
                 'period_ending'),
        **options)
    for name, column in (('ix_task_log_period_beginning', 'period_beginning'),
                         ('ix_task_log_host', 'host'),
                         ('ix_task_log_period_ending', 'period_ending')):
        op.create_index(name, 'task_log', [column])

    op.create_table(
        'console_auth_tokens',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('token_hash', sa.String(255), nullable=False),
        sa.Column('console_type', sa.String(255), nullable=False),
        sa.Column('host', sa.String(255), nullable=False),
        sa.Column('port', sa.Integer(), nullable=False),
        sa.Column('tls_port', sa.Integer()),
        sa.Column('internal_access_path', sa.String(255)),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.Column('expires', sa.Integer(), nullable=False),
        sa.Column('access_url_base', sa.String(255)),
        *_timestamps(soft_delete=False),
        sa.UniqueConstraint('token_hash',
                            name='uniq_console_auth_tokens0token_hash'),
        **options)
    for name, columns in (
            ('console_auth_tokens_instance_uuid_idx', ['instance_uuid']),
            ('console_auth_tokens_host_expires_idx', ['host', 'expires']),
            ('console_auth_tokens_token_hash_instance_uuid_idx',
             ['token_hash', 'instance_uuid'])):
        op.create_index(name, 'console_auth_tokens', columns)

    op.create_table(
        'volume_usage_cache',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('volume_id', sa.String(36), nullable=False),
        sa.Column('instance_uuid', sa.String(36)),
        sa.Column('project_id', sa.String(36)),
        sa.Column('user_id', sa.String(64)),
        sa.Column('availability_zone', sa.String(255)),
        sa.Column('tot_last_refreshed', TIMESTAMP),
        *[sa.Column('tot_' + name, sa.BigInteger()) for name in (
            'reads', 'read_bytes', 'writes', 'write_bytes')],
        sa.Column('curr_last_refreshed', TIMESTAMP),
        *[sa.Column('curr_' + name, sa.BigInteger()) for name in (
            'reads', 'read_bytes', 'writes', 'write_bytes')],
        *_timestamps(),
        **options)

    op.create_table(
        'share_mapping',
        sa.Column('id', BIGID, primary_key=True, autoincrement=True),
        sa.Column('uuid', sa.String(36)),
        _instance_uuid(),
        sa.Column('share_id', sa.String(36)),
        sa.Column('status', sa.String(32)),
        sa.Column('tag', sa.String(48)),
        sa.Column('export_location', LONGTEXT),
        sa.Column('share_proto', sa.String(32)),
        *_timestamps(soft_delete=False),
        sa.UniqueConstraint('instance_uuid', 'share_id',
                            name='uniq_share_mapping0instance_uuid0share_id'),
        sa.UniqueConstraint('instance_uuid', 'tag',
                            name='uniq_share_mapping0instance_uuid0tag'),
        **options)
    op.create_index('share_idx', 'share_mapping', ['share_id'])
    op.create_index('share_mapping_instance_uuid_share_id_idx',
                    'share_mapping', ['instance_uuid', 'share_id'])

    op.create_table(
        'security_groups',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        *[sa.Column(name, sa.String(255)) for name in (
            'name', 'description', 'user_id', 'project_id')],
        *_timestamps(),
        sa.UniqueConstraint(
            'project_id', 'name', 'deleted',
            name='uniq_security_groups0project_id0name0deleted'),
        **options)

    op.create_table(
        'security_group_instance_association',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('security_group_id', sa.Integer(),
                  sa.ForeignKey('security_groups.id')),
        _instance_uuid(),
        *_timestamps(),
        **options)
    op.create_index('security_group_instance_association_instance_uuid_idx',
                    'security_group_instance_association', ['instance_uuid'])


def downgrade():
    for table in TABLES:
        op.drop_table(table)
