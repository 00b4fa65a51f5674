"""Which dataset version made which job. No foreign keys: the record outlives the dataset."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "job_provenance",
        sa.Column("provider", sa.Text, primary_key=True),
        sa.Column("job_id", sa.Text, primary_key=True),
        sa.Column("dataset_id", sa.Integer, nullable=False),
        sa.Column("dataset_name", sa.Text, nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("n_examples", sa.Integer, nullable=False),
        sa.Column("training_file", sa.Text, nullable=False),
        sa.Column("validation_file", sa.Text),
        sa.Column("base_model", sa.Text, nullable=False),
        sa.Column("fine_tuned_model", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
    )
