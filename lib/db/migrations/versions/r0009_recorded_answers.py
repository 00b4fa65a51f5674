"""Each answer keeps exactly the messages its model was sent (few-shot examples and passages included); each
recorded job its last status."""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.add_column("eval_answers", sa.Column("messages", sa.Text, nullable=True))
    op.add_column("job_provenance", sa.Column("status", sa.Text, nullable=True))
