"""proxies.release: the release each proxy worker runs

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

Written by the worker's heartbeat (nova_proxy.version.release()), read by
``nova-compute-proxy-status upgrade check`` (all live proxies on one
release) and ``nova-compute-proxy-manage status``. Rows of workers that
started before this revision keep NULL until their next heartbeat after a
restart.
"""

from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('proxies', sa.Column('release', sa.String(255)))


def downgrade():
    with op.batch_alter_table('proxies') as batch:
        batch.drop_column('release')
