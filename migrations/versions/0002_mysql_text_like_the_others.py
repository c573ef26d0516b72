"""MariaDB/MySQL: text stored and compared as on the other backends

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

On PostgreSQL and SQLite a text column holds any length and strings
compare byte for byte. On MariaDB the initial schema left TEXT (64 KB: a
longer metadata value or event traceback failed there only) and the
database's default collation (utf8mb4_general_ci: metadata keys 'a' and
'A', or 'a' and 'a ', collided in the unique key). This revision gives
every table utf8mb4 with a binary collation that does not pad (the first
the server has of utf8mb4_nopad_bin, MariaDB's, utf8mb4_0900_bin,
MySQL's, and utf8mb4_bin) and the remaining TEXT columns MEDIUMTEXT, as
nova_proxy.db.models declares them. Nothing changes on other backends.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

TABLES = ('compute_nodes', 'instance_actions', 'instance_faults',
          'instances', 'migrations', 'operations', 'periodic_claims',
          'periodic_runs', 'proxies', 'services', 'instance_actions_events',
          'instance_metadata', 'instance_system_metadata')
# Columns 0001 left TEXT on MariaDB.
WIDENED = (('instance_metadata', 'value'),
           ('instance_system_metadata', 'value'),
           ('instance_actions_events', 'traceback'),
           ('instance_actions_events', 'details'),
           ('operations', 'error'),
           ('periodic_runs', 'details'))
COLLATIONS = ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin', 'utf8mb4_bin')


def _is_mysql(bind):
    return bind.dialect.name in ('mysql', 'mariadb')


def _convert(bind, collation):
    # MariaDB refuses to change the collation of a column a foreign key
    # uses (even with foreign_key_checks off): the keys are dropped, and
    # made again once both of their sides are converted.
    inspector = sa.inspect(bind)
    keys = [(table, key) for table in TABLES
            for key in inspector.get_foreign_keys(table)]
    for table, key in keys:
        op.drop_constraint(key['name'], table, type_='foreignkey')
    for table in TABLES:
        op.execute('ALTER TABLE %s CONVERT TO CHARACTER SET utf8mb4 '
                   'COLLATE %s' % (table, collation))
    for table, key in keys:
        op.create_foreign_key(
            key['name'], table, key['referred_table'],
            key['constrained_columns'], key['referred_columns'],
            ondelete=key.get('options', {}).get('ondelete'))


def upgrade():
    bind = op.get_bind()
    if not _is_mysql(bind):
        return
    available = {row[0] for row in bind.execute(sa.text(
        "SELECT collation_name FROM information_schema.collations "
        "WHERE character_set_name = 'utf8mb4'"))}
    _convert(bind, next(c for c in COLLATIONS if c in available))
    for table, column in WIDENED:
        op.alter_column(table, column, type_=mysql.MEDIUMTEXT(),
                        existing_type=sa.Text(), existing_nullable=True)


def downgrade():
    bind = op.get_bind()
    if not _is_mysql(bind):
        return
    for table, column in WIDENED:
        op.alter_column(table, column, type_=sa.Text(),
                        existing_type=mysql.MEDIUMTEXT(),
                        existing_nullable=True)
    _convert(bind, bind.execute(sa.text(
        'SELECT @@collation_database')).scalar_one())
