"""A model as judge of a run: who judged (model, provider, prompt, the items shown to it as examples) and each
vote, in both orders, kept apart from people's ratings."""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "judges",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("calibration", sa.Text, nullable=False),  # JSON: the positions shown to it as examples
        sa.Column("created_at", sa.Text, nullable=False),
    )
    op.create_table(
        "judge_votes",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("judge", sa.Text, primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("left_contender", sa.Text, nullable=False),
        sa.Column("right_contender", sa.Text, nullable=False),
        sa.Column("first_choice", sa.Text),  # A, B, tie, or NULL (no vote): left shown as A
        sa.Column("second_choice", sa.Text),  # the same pair with the sides swapped: right shown as A
        sa.Column("winner", sa.Text),  # a contender, tie (also when the choice flips), or NULL: no vote
        sa.Column("criteria", sa.Text, nullable=False),  # JSON: criterion -> contender or tie, where both orders agree
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("latency_s", sa.Float, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
    )
