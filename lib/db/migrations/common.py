"""What the revisions share: names that users type are unique without regard to case, on both engines."""

import sqlalchemy as sa
from alembic import op


def is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def name_column(name: str = "name") -> sa.Column[str]:
    """A typed name: unique and NOCASE on SQLite; on PostgreSQL case_blind_unique adds a unique lower() index."""
    if is_sqlite():
        return sa.Column(name, sa.Text(collation="NOCASE"), nullable=False, unique=True)
    return sa.Column(name, sa.Text, nullable=False)


def case_blind_column(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.Text(collation="NOCASE") if is_sqlite() else sa.Text, nullable=False)


def case_blind_unique(table: str, columns: list[str], blind: str) -> None:
    """On PostgreSQL, a unique index with ``blind`` lowered (SQLite's NOCASE columns already are)."""
    if not is_sqlite():
        expressions = [sa.text(f"lower({c})") if c == blind else sa.text(c) for c in columns]
        op.create_index(f"{table}_{'_'.join(columns)}_key", table, expressions, unique=True)


def identity() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)
