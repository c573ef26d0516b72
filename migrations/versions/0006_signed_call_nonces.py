"""signed_call_nonces: the nonces of signed calls, shared by the proxies

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

A captured signed call was refused again only by the proxy process that
had served it, and only until it restarted: each kept the nonces it had
seen in memory. This table is the one record every proxy checks and
writes before serving a signed call (nova_proxy.db.nonces). Its rows live
a little longer than the signature window ([proxy] signature_max_age).
"""

from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'signed_call_nonces',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('expires_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('digest'))
    op.create_index('signed_call_nonces_expires_at_idx',
                    'signed_call_nonces', ['expires_at'], unique=False)


def downgrade():
    op.drop_table('signed_call_nonces')
