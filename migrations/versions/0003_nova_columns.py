"""nova's columns, indexes and constraints on the tables we have

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05

Instances, migrations, services, compute nodes, actions and faults get
the columns, indexes and unique constraints of nova's tables
(nova/db/main/models.py, nova 34) that they lack, and nova's types where
ours were narrower; nova_proxy.db.models says where ours stay different.
Rows survive: the new columns are nullable or get a value (nova's default,
or for a compute node's hypervisor_hostname its node name).

On SQLite the tables whose column types or constraints change are copied
(alembic's batch mode); ``instances`` never is (its metadata rows would
go with it where foreign keys cascade): its changes are ones SQLite's
ALTER TABLE makes in place.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

LONGTEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql', 'mariadb')
IPADDRESS = sa.String(39).with_variant(postgresql.INET(), 'postgresql')
LOCKED_BY = sa.Enum('owner', 'admin', name='instances0locked_by')
MIGRATION_TYPE = sa.Enum('migration', 'resize', 'live-migration',
                         'evacuation', name='migration_type')


def _instance_columns():
    return (
        sa.Column('kernel_id', sa.String(255)),
        sa.Column('ramdisk_id', sa.String(255)),
        sa.Column('launch_index', sa.Integer()),
        sa.Column('key_name', sa.String(255)),
        sa.Column('key_data', LONGTEXT),
        sa.Column('ephemeral_key_uuid', sa.String(36)),
        sa.Column('compute_id', sa.BigInteger()),
        sa.Column('user_data', LONGTEXT),
        sa.Column('reservation_id', sa.String(255)),
        sa.Column('display_description', sa.String(255)),
        sa.Column('locked', sa.Boolean(), server_default=sa.false()),
        sa.Column('locked_by', LOCKED_BY),
        sa.Column('os_type', sa.String(255)),
        sa.Column('architecture', sa.String(255)),
        sa.Column('vm_mode', sa.String(255)),
        sa.Column('root_device_name', sa.String(255)),
        sa.Column('default_ephemeral_device', sa.String(255)),
        sa.Column('default_swap_device', sa.String(255)),
        sa.Column('config_drive', sa.String(255)),
        sa.Column('access_ip_v4', IPADDRESS),
        sa.Column('access_ip_v6', IPADDRESS),
        sa.Column('auto_disk_config', sa.Boolean(),
                  server_default=sa.false()),
        sa.Column('shutdown_terminate', sa.Boolean(),
                  server_default=sa.false()),
        sa.Column('disable_terminate', sa.Boolean(),
                  server_default=sa.false()),
        sa.Column('cell_name', sa.String(255)),
        sa.Column('internal_id', sa.Integer()),
        sa.Column('cleaned', sa.Integer(), server_default='0'),
        sa.Column('hidden', sa.Boolean(), server_default=sa.false()),
    )


INSTANCE_INDEXES = (
    ('instances_host_deleted_cleaned_idx', ['host', 'deleted', 'cleaned']),
    ('instances_terminated_at_launched_at_idx',
     ['terminated_at', 'launched_at']),
    ('instances_compute_id_deleted_idx', ['compute_id', 'deleted']),
)


def _migration_columns():
    return (
        sa.Column('dest_compute_id', sa.BigInteger()),
        sa.Column('memory_total', sa.BigInteger()),
        sa.Column('memory_processed', sa.BigInteger()),
        sa.Column('memory_remaining', sa.BigInteger()),
        sa.Column('disk_total', sa.BigInteger()),
        sa.Column('disk_processed', sa.BigInteger()),
        sa.Column('disk_remaining', sa.BigInteger()),
        sa.Column('cross_cell_move', sa.Boolean(),
                  server_default=sa.false()),
        sa.Column('user_id', sa.String(255)),
        sa.Column('project_id', sa.String(255)),
    )


MIGRATION_INDEXES = (
    ('migrations_updated_at_idx', ['updated_at']),
    ('migrations_dest_compute_id_deleted_idx', ['dest_compute_id',
                                                'deleted']),
)


# Added nullable; the last two, and hypervisor_type, are made NOT NULL
# once filled.
def _node_columns():
    return (
        sa.Column('service_id', sa.Integer()),
        sa.Column('hypervisor_hostname', sa.String(255)),
        sa.Column('free_ram_mb', sa.Integer()),
        sa.Column('free_disk_gb', sa.Integer()),
        sa.Column('current_workload', sa.Integer()),
        sa.Column('disk_available_least', sa.Integer()),
        sa.Column('host_ip', IPADDRESS),
        sa.Column('supported_instances', LONGTEXT),
        sa.Column('metrics', LONGTEXT),
        sa.Column('pci_stats', LONGTEXT),
        sa.Column('extra_resources', LONGTEXT),
        sa.Column('stats', LONGTEXT),
        sa.Column('numa_topology', LONGTEXT),
        sa.Column('ram_allocation_ratio', sa.Float()),
        sa.Column('cpu_allocation_ratio', sa.Float()),
        sa.Column('disk_allocation_ratio', sa.Float()),
        sa.Column('mapped', sa.Integer(), server_default='0'),
        sa.Column('hypervisor_version', sa.Integer()),
        sa.Column('cpu_info', LONGTEXT),
    )


OTHER_INDEXES = (
    ('instance_faults', 'instance_faults_host_idx', ['host']),
    ('instance_actions', 'instance_actions_instance_uuid_updated_at_idx',
     ['instance_uuid', 'updated_at']),
)


def _is_postgresql():
    return op.get_bind().dialect.name == 'postgresql'


def upgrade():
    bind = op.get_bind()
    LOCKED_BY.create(bind, checkfirst=True)
    MIGRATION_TYPE.create(bind, checkfirst=True)

    for column in _instance_columns():
        op.add_column('instances', column)
    for name, columns in INSTANCE_INDEXES:
        op.create_index(name, 'instances', columns)

    with op.batch_alter_table('migrations') as batch:
        for column in _migration_columns():
            batch.add_column(column)
        batch.alter_column(
            'migration_type', type_=MIGRATION_TYPE,
            existing_type=sa.String(32), existing_nullable=True,
            postgresql_using='migration_type::migration_type')
        for name, columns in MIGRATION_INDEXES:
            batch.create_index(name, columns)
    op.execute("UPDATE migrations SET hidden = %s WHERE hidden IS NULL"
               % ('false' if _is_postgresql() else '0'))

    with op.batch_alter_table('services') as batch:
        batch.create_unique_constraint('uniq_services0host0topic0deleted',
                                       ['host', 'topic', 'deleted'])

    for column in _node_columns():
        op.add_column('compute_nodes', column)
    op.execute("UPDATE compute_nodes SET hypervisor_hostname = node, "
               "stats = '{}', hypervisor_version = 0, cpu_info = '', "
               "hypervisor_type = COALESCE(hypervisor_type, '')")
    with op.batch_alter_table('compute_nodes') as batch:
        batch.alter_column('hypervisor_type', type_=LONGTEXT,
                           existing_type=sa.String(255), nullable=False)
        batch.alter_column('hypervisor_version', existing_type=sa.Integer(),
                           nullable=False)
        batch.alter_column('cpu_info', existing_type=LONGTEXT,
                           nullable=False)
        batch.create_unique_constraint(
            'uniq_compute_nodes0host0hypervisor_hostname0deleted',
            ['host', 'hypervisor_hostname', 'deleted'])

    for table, name, columns in OTHER_INDEXES:
        op.create_index(name, table, columns)


def downgrade():
    for table, name, columns in OTHER_INDEXES:
        op.drop_index(name, table_name=table)

    with op.batch_alter_table('compute_nodes') as batch:
        batch.drop_constraint(
            'uniq_compute_nodes0host0hypervisor_hostname0deleted',
            type_='unique')
        batch.alter_column('hypervisor_type', type_=sa.String(255),
                           existing_type=LONGTEXT, nullable=True)
        for column in _node_columns():
            batch.drop_column(column.name)

    with op.batch_alter_table('services') as batch:
        batch.drop_constraint('uniq_services0host0topic0deleted',
                              type_='unique')

    with op.batch_alter_table('migrations') as batch:
        for name, columns in MIGRATION_INDEXES:
            batch.drop_index(name)
        for column in _migration_columns():
            batch.drop_column(column.name)
        batch.alter_column(
            'migration_type', type_=sa.String(32),
            existing_type=MIGRATION_TYPE, existing_nullable=True,
            postgresql_using='migration_type::text')

    # In place, also on SQLite (see the module's docstring).
    for name, columns in INSTANCE_INDEXES:
        op.drop_index(name, table_name='instances')
    for column in _instance_columns():
        op.drop_column('instances', column.name)

    bind = op.get_bind()
    MIGRATION_TYPE.drop(bind, checkfirst=True)
    LOCKED_BY.drop(bind, checkfirst=True)
