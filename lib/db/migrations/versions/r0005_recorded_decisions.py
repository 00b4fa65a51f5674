"""Train records the exact rows it trained and held out, and its cost estimate; eval items their source."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("job_provenance", sa.Column("training_rows", sa.Text))
    op.add_column("job_provenance", sa.Column("validation_rows", sa.Text))
    op.add_column("job_provenance", sa.Column("estimated_cost_usd", sa.Float))
    op.add_column("eval_items", sa.Column("source", sa.Text))
