"""Second looks at a few items, sides swapped, kept apart from the ratings the scorecard counts."""

from lib.db.migrations.versions.r0004_evaluations import rating_table

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    rating_table("repeat_ratings")
