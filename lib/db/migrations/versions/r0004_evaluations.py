"""Evaluation runs, their prompts and answers, and reviewers' ratings."""

import sqlalchemy as sa
from alembic import op

from lib.db.migrations.common import case_blind_column, case_blind_unique, identity

revision = "0004"
down_revision = "0003"


def run_fk() -> sa.Column[int]:
    return sa.Column("run_id", sa.Integer, sa.ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True)


def rating_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("run_id", sa.Integer, sa.ForeignKey("eval_runs.id", ondelete="CASCADE"), nullable=False),
        case_blind_column("reviewer"),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("left_contender", sa.Text, nullable=False),
        sa.Column("right_contender", sa.Text, nullable=False),
        sa.Column("winner", sa.Text, nullable=False),
        sa.Column("scores", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "reviewer", "position"),
    )
    case_blind_unique(name, ["run_id", "reviewer", "position"], "reviewer")


def upgrade() -> None:
    op.create_table(
        "eval_runs",
        identity(),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("prompt_source", sa.Text, nullable=False),
        sa.Column("settings", sa.Text, nullable=False),
        sa.Column("contenders", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "eval_items", run_fk(), sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("messages", sa.Text, nullable=False),
    )  # fmt: skip
    op.create_table(
        "eval_answers",
        run_fk(),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("contender", sa.Text, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("latency_s", sa.Float, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
    )
    rating_table("ratings")
