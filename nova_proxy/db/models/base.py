"""What every model shares: the declarative ``Base``, the column types
and the mixins.

Every timestamp is naive UTC; MySQL/MariaDB columns keep microseconds.
"""

from sqlalchemy import DateTime
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import mapped_column

__all__ = ['Base', 'IPAddress', 'LongText', 'SoftDeleteMixin', 'Timestamp',
           'TimestampMixin']

# Microseconds matter: heartbeats, journal ordering and CAS on updated_at.
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')
# Any length, as TEXT is on PostgreSQL and SQLite (MariaDB's TEXT: 64 KB).
LongText = Text().with_variant(mysql.MEDIUMTEXT(), 'mysql', 'mariadb')
# An IPv4 or IPv6 address, as nova stores it: PostgreSQL's INET, else text
# long enough for the longest IPv6 form.
IPAddress = String(39).with_variant(postgresql.INET(), 'postgresql')


class Base(DeclarativeBase):
    pass


class TimestampMixin:
    created_at = mapped_column(Timestamp, nullable=True)
    updated_at = mapped_column(Timestamp, nullable=True)


class SoftDeleteMixin:
    """nova's soft deletion: ``deleted`` is 0 for a live row and the row's
    id once deleted, so unique constraints can include it."""

    deleted_at = mapped_column(Timestamp, nullable=True)
    deleted = mapped_column(Integer, nullable=False, default=0)
