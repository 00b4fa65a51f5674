"""Review queues: reviewers each item needs, who a run is shared with, reserved items; an order for changes."""

import sqlalchemy as sa
from alembic import op

from lib.db.migrations.common import is_sqlite

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.add_column("eval_runs", sa.Column("reviews_needed", sa.Integer, nullable=False, server_default="2"))
    op.add_column("eval_runs", sa.Column("shared_with", sa.Text, nullable=False, server_default="[]"))
    op.create_table(
        "reservations",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("reviewer", sa.Text, primary_key=True),  # the reviewer's key: case-folded, spaces collapsed
        sa.Column("name", sa.Text, nullable=False),  # as the reviewer wrote it
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.Text, nullable=False),
    )
    # Undo replays a version's changes backwards; SQLite kept their order in rowid, which PostgreSQL has not.
    op.add_column("changes", sa.Column("seq", sa.Integer, nullable=False, server_default="0"))
    if is_sqlite():
        op.execute("UPDATE changes SET seq = rowid")
