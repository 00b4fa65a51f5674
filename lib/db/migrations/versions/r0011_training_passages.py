"""A knowledge source says how its CSV rows become passages (a sentence template); a job records the passages it
was trained with."""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.add_column("knowledge_sources", sa.Column("passage_template", sa.Text, nullable=True))
    op.add_column("job_provenance", sa.Column("knowledge", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("job_provenance", "knowledge")
    op.drop_column("knowledge_sources", "passage_template")
