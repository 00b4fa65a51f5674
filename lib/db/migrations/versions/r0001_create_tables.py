"""Datasets, their examples, and every version of them with its change log."""

import sqlalchemy as sa
from alembic import op

from lib.db.migrations.common import case_blind_unique, identity, name_column

revision = "0001"
down_revision = None


def upgrade() -> None:
    auto = {"sqlite_autoincrement": True}  # ids are never reused: undo puts a deleted example back under its id
    op.create_table(
        "datasets", identity(), name_column(), sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False), **auto,
    )  # fmt: skip
    case_blind_unique("datasets", ["name"], "name")
    op.create_table(
        "examples",
        identity(),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="draft"),
        sa.Column("tags", sa.Text, nullable=False, server_default=""),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        **auto,
    )
    op.create_index("examples_by_dataset", "examples", ["dataset_id", "position"])
    op.create_table(
        "versions",
        identity(),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("n_examples", sa.Integer, nullable=False),
        sa.Column("undoes", sa.Integer),
        **auto,
    )
    op.create_index("versions_by_dataset", "versions", ["dataset_id", "id"])
    op.create_table(
        "changes",
        sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("example_id", sa.Integer, nullable=False),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
    )
    op.create_index("changes_by_version", "changes", ["version_id"])
