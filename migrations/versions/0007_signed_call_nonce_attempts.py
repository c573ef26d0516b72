"""signed_call_nonces.attempt: whose INSERT put the nonce there

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

On PostgreSQL (psycopg2) a signed call's nonce is now one INSERT
committed as it runs (nova_proxy.db.nonces), without a transaction
around it. When the connection is lost during that statement, the proxy
runs it again on a new connection and may find the nonce already there:
its own, committed before the connection was lost, or a replay's. Each
INSERT writes a random token of its call in this column, which the proxy
reads back to tell the two apart. Rows written by earlier releases keep
NULL, which no token matches; all of them are purged within two
signature windows.
"""

from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('signed_call_nonces',
                  sa.Column('attempt', sa.String(length=32)))


def downgrade():
    with op.batch_alter_table('signed_call_nonces') as batch:
        batch.drop_column('attempt')
