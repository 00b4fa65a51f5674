"""Knowledge sources for retrieval, versioned like datasets; the passages each answer was given."""

import sqlalchemy as sa
from alembic import op

from lib.db.migrations.common import case_blind_unique, identity, name_column

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "knowledge_sources", identity(), name_column(), sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False), sqlite_autoincrement=True,
    )  # fmt: skip
    case_blind_unique("knowledge_sources", ["name"], "name")
    op.create_table(
        "knowledge_versions",
        identity(),
        sa.Column("source_id", sa.Integer, sa.ForeignKey("knowledge_sources.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "knowledge_passages",
        sa.Column(
            "version_id", sa.Integer, sa.ForeignKey("knowledge_versions.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.add_column("eval_answers", sa.Column("passages", sa.Text, nullable=False, server_default="[]"))
