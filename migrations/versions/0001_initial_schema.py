"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

# Microseconds on MySQL/MariaDB, as in nova_proxy.db.models.
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql',
                                       'mariadb')
LONGTEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql', 'mariadb')


def upgrade():
    op.create_table('compute_nodes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('node', sa.String(length=255), nullable=False),
    sa.Column('hypervisor_type', sa.String(length=255), nullable=True),
    sa.Column('vcpus', sa.Integer(), nullable=False),
    sa.Column('memory_mb', sa.Integer(), nullable=False),
    sa.Column('local_gb', sa.Integer(), nullable=False),
    sa.Column('vcpus_used', sa.Integer(), nullable=False),
    sa.Column('memory_mb_used', sa.Integer(), nullable=False),
    sa.Column('local_gb_used', sa.Integer(), nullable=False),
    sa.Column('running_vms', sa.Integer(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=True),
    sa.Column('updated_at', TIMESTAMP, nullable=True),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('deleted', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('host', 'node', 'deleted', name='uniq_compute_nodes0host0node0deleted'),
    sa.UniqueConstraint('uuid', name='uniq_compute_nodes0uuid')
    )
    op.create_table('instance_actions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('action', sa.String(length=255), nullable=True),
    sa.Column('instance_uuid', sa.String(length=36), nullable=False),
    sa.Column('request_id', sa.String(length=255), nullable=True),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=255), nullable=True),
    sa.Column('start_time', TIMESTAMP, nullable=True),
    sa.Column('finish_time', TIMESTAMP, nullable=True),
    sa.Column('message', sa.String(length=255), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=True),
    sa.Column('updated_at', TIMESTAMP, nullable=True),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('deleted', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('instance_uuid_iactions_idx', 'instance_actions', ['instance_uuid'], unique=False)
    op.create_index('request_id_iactions_idx', 'instance_actions', ['request_id'], unique=False)

    op.create_table('instance_faults',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('instance_uuid', sa.String(length=36), nullable=False),
    sa.Column('code', sa.Integer(), nullable=False),
    sa.Column('message', sa.String(length=255), nullable=True),
    sa.Column('details', LONGTEXT, nullable=True),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=True),
    sa.Column('updated_at', TIMESTAMP, nullable=True),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('deleted', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('instance_faults_instance_uuid_deleted_created_at_idx', 'instance_faults', ['instance_uuid', 'deleted', 'created_at'], unique=False)

    op.create_table('instances',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=255), nullable=True),
    sa.Column('image_ref', sa.String(length=255), nullable=True),
    sa.Column('hostname', sa.String(length=255), nullable=True),
    sa.Column('display_name', sa.String(length=255), nullable=True),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('node', sa.String(length=255), nullable=True),
    sa.Column('launched_on', sa.String(length=255), nullable=True),
    sa.Column('availability_zone', sa.String(length=255), nullable=True),
    sa.Column('vm_state', sa.String(length=255), nullable=True),
    sa.Column('task_state', sa.String(length=255), nullable=True),
    sa.Column('power_state', sa.Integer(), nullable=True),
    sa.Column('instance_type_id', sa.Integer(), nullable=True),
    sa.Column('instance_type_name', sa.String(length=255), nullable=True),
    sa.Column('memory_mb', sa.Integer(), nullable=True),
    sa.Column('vcpus', sa.Integer(), nullable=True),
    sa.Column('root_gb', sa.Integer(), nullable=True),
    sa.Column('ephemeral_gb', sa.Integer(), nullable=True),
    sa.Column('progress', sa.Integer(), nullable=True),
    sa.Column('launched_at', TIMESTAMP, nullable=True),
    sa.Column('terminated_at', TIMESTAMP, nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=True),
    sa.Column('updated_at', TIMESTAMP, nullable=True),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('deleted', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid', name='uniq_instances0uuid')
    )
    op.create_index('instances_deleted_deleted_at_idx', 'instances', ['deleted', 'deleted_at'], unique=False)
    op.create_index('instances_host_node_deleted_idx', 'instances', ['host', 'node', 'deleted'], unique=False)
    op.create_index('instances_task_state_updated_at_idx', 'instances', ['task_state', 'updated_at'], unique=False)

    op.create_table('migrations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('instance_uuid', sa.String(length=36), nullable=False),
    sa.Column('source_compute', sa.String(length=255), nullable=True),
    sa.Column('dest_compute', sa.String(length=255), nullable=True),
    sa.Column('source_node', sa.String(length=255), nullable=True),
    sa.Column('dest_node', sa.String(length=255), nullable=True),
    sa.Column('dest_host', sa.String(length=255), nullable=True),
    sa.Column('old_instance_type_id', sa.Integer(), nullable=True),
    sa.Column('new_instance_type_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=255), nullable=True),
    sa.Column('migration_type', sa.String(length=32), nullable=True),
    sa.Column('hidden', sa.Boolean(), nullable=True),
    sa.Column('progress', sa.Integer(), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=True),
    sa.Column('updated_at', TIMESTAMP, nullable=True),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('deleted', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid', name='uniq_migrations0uuid')
    )
    op.create_index('migrations_source_idx', 'migrations', ['source_compute', 'source_node', 'deleted'], unique=False)
    op.create_index('migrations_dest_idx', 'migrations', ['dest_compute', 'dest_node', 'deleted'], unique=False)
    op.create_index('migrations_instance_uuid_status_idx', 'migrations', ['instance_uuid', 'status'], unique=False)

    op.create_table('operations',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('instance_uuid', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('step', sa.String(length=64), nullable=True),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(length=255), nullable=True),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('params', LONGTEXT, nullable=True),
    sa.Column('state', LONGTEXT, nullable=True),
    sa.Column('migration_id', sa.Integer(), nullable=True),
    sa.Column('request_id', sa.String(length=255), nullable=True),
    sa.Column('step_started_at', TIMESTAMP, nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.Column('finished_at', TIMESTAMP, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('operations_instance_uuid_status_idx', 'operations', ['instance_uuid', 'status'], unique=False)
    op.create_index('operations_status_owner_idx', 'operations', ['status', 'owner'], unique=False)

    op.create_table('periodic_claims',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('task', sa.String(length=64), nullable=False),
    sa.Column('period', sa.BigInteger(), nullable=False),
    sa.Column('item', sa.String(length=255), nullable=False),
    sa.Column('owner', sa.String(length=255), nullable=False),
    sa.Column('claimed_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('task', 'period', 'item', name='uniq_periodic_claims0task0period0item')
    )
    op.create_index('periodic_claims_claimed_at_idx', 'periodic_claims', ['claimed_at'], unique=False)

    op.create_table('periodic_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('task', sa.String(length=64), nullable=False),
    sa.Column('period', sa.BigInteger(), nullable=False),
    sa.Column('owner', sa.String(length=255), nullable=False),
    sa.Column('started_at', TIMESTAMP, nullable=False),
    sa.Column('finished_at', TIMESTAMP, nullable=True),
    sa.Column('items', sa.Integer(), nullable=False),
    sa.Column('handled', LONGTEXT, nullable=True),
    sa.Column('result', sa.String(length=32), nullable=True),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('duration', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('periodic_runs_task_period_idx', 'periodic_runs', ['task', 'period'], unique=False)

    op.create_table('proxies',
    sa.Column('member', sa.String(length=255), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=True),
    sa.Column('started_at', TIMESTAMP, nullable=False),
    sa.Column('heartbeat_at', TIMESTAMP, nullable=False),
    sa.Column('stopped', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('member')
    )
    op.create_table('services',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('binary', sa.String(length=255), nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=True),
    sa.Column('report_count', sa.Integer(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('disabled_reason', sa.String(length=255), nullable=True),
    sa.Column('forced_down', sa.Boolean(), nullable=False),
    sa.Column('last_seen_up', TIMESTAMP, nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=True),
    sa.Column('updated_at', TIMESTAMP, nullable=True),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('deleted', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('host', 'binary', 'deleted', name='uniq_services0host0binary0deleted'),
    sa.UniqueConstraint('uuid', name='uniq_services0uuid')
    )
    op.create_table('instance_actions_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event', sa.String(length=255), nullable=True),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('start_time', TIMESTAMP, nullable=True),
    sa.Column('finish_time', TIMESTAMP, nullable=True),
    sa.Column('result', sa.String(length=255), nullable=True),
    sa.Column('traceback', sa.Text(), nullable=True),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=True),
    sa.Column('updated_at', TIMESTAMP, nullable=True),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('deleted', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['instance_actions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('action_id', 'event', 'deleted', name='uniq_instance_actions_events0action_id0event0deleted')
    )
    op.create_table('instance_metadata',
    sa.Column('instance_uuid', sa.String(length=36), nullable=False),
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=True),
    sa.Column('updated_at', TIMESTAMP, nullable=True),
    sa.ForeignKeyConstraint(['instance_uuid'], ['instances.uuid'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('instance_uuid', 'key', name='uniq_instance_metadata0instance_uuid0key')
    )
    op.create_table('instance_system_metadata',
    sa.Column('instance_uuid', sa.String(length=36), nullable=False),
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=True),
    sa.Column('updated_at', TIMESTAMP, nullable=True),
    sa.ForeignKeyConstraint(['instance_uuid'], ['instances.uuid'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('instance_uuid', 'key', name='uniq_instance_system_metadata0instance_uuid0key')
    )
