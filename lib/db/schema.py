"""The tables as the stores query them (SQLAlchemy Core). Schema changes are Alembic revisions in migrations/.

Text columns hold JSON and timestamps ("YYYY-MM-DD HH:MM:SS", UTC) the same way on SQLite and PostgreSQL.
Names that users type (datasets, knowledge sources, reviewers) are matched without regard to case:
queries compare ``lower()`` of both sides, and the migrations make the unique keys case-blind on both engines.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Integer, MetaData, Table, Text

metadata = MetaData()


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True, autoincrement=True)


datasets = Table(
    "datasets", metadata, _id(), Column("name", Text), Column("created_at", Text), Column("updated_at", Text)
)
examples = Table(
    "examples",
    metadata,
    _id(),
    Column("dataset_id", Integer, ForeignKey("datasets.id", ondelete="CASCADE")),
    Column("position", Integer),
    Column("body", Text),
    Column("status", Text),
    Column("tags", Text),
    Column("note", Text),
)
versions = Table(
    "versions",
    metadata,
    _id(),
    Column("dataset_id", Integer, ForeignKey("datasets.id", ondelete="CASCADE")),
    Column("created_at", Text),
    Column("summary", Text),
    Column("n_examples", Integer),
    Column("undoes", Integer),
)
changes = Table(
    "changes",
    metadata,
    Column("version_id", Integer, ForeignKey("versions.id", ondelete="CASCADE")),
    Column("example_id", Integer),
    Column("before", Text),
    Column("after", Text),
    Column("seq", Integer),  # order within the version: undo replays it backwards
)
price_overrides = Table(
    "price_overrides",
    metadata,
    Column("model", Text, primary_key=True),
    Column("field", Text, primary_key=True),
    Column("value", Float),
)
job_provenance = Table(
    "job_provenance",
    metadata,
    Column("provider", Text, primary_key=True),
    Column("job_id", Text, primary_key=True),
    Column("dataset_id", Integer),
    Column("dataset_name", Text),
    Column("version_id", Integer),
    Column("n_examples", Integer),
    Column("training_file", Text),
    Column("validation_file", Text),
    Column("base_model", Text),
    Column("fine_tuned_model", Text),
    Column("created_at", Text),
    Column("training_rows", Text),
    Column("validation_rows", Text),
    Column("estimated_cost_usd", Float),
    Column("status", Text),  # the job's last status the app saw
    Column("knowledge", Text),  # JSON: the passages it was trained with (TrainingPassages), NULL for none
)
eval_runs = Table(
    "eval_runs",
    metadata,
    _id(),
    Column("name", Text),
    Column("created_at", Text),
    Column("provider", Text),
    Column("prompt_source", Text),
    Column("settings", Text),
    Column("contenders", Text),
    Column("reviews_needed", Integer),  # reviewers each item needs before the queue stops offering it
    Column("shared_with", Text),  # JSON list of reviewers' e-mails who may rate it when sign-in is on
)
eval_items = Table(
    "eval_items",
    metadata,
    Column("run_id", Integer, ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("messages", Text),
    Column("source", Text),
)
eval_answers = Table(
    "eval_answers",
    metadata,
    Column("run_id", Integer, ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("contender", Text, primary_key=True),
    Column("text", Text),
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("latency_s", Float),
    Column("cost_usd", Float),
    Column("passages", Text),
    Column("messages", Text),  # exactly what the model was sent (JSON); NULL for answers made before
)


def _rating_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("run_id", Integer, ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True),
        Column("reviewer", Text, primary_key=True),
        Column("position", Integer, primary_key=True),
        Column("left_contender", Text),
        Column("right_contender", Text),
        Column("winner", Text),
        Column("scores", Text),
        Column("note", Text),
        Column("created_at", Text),
    )


ratings = _rating_table("ratings")
repeat_ratings = _rating_table("repeat_ratings")  # second looks, sides swapped: consistency, never counted twice
reservations = Table(  # the item a reviewer has open, held for them a few minutes
    "reservations",
    metadata,
    Column("run_id", Integer, ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("reviewer", Text, primary_key=True),  # lib.judge.run.reviewer_key of the name
    Column("name", Text),
    Column("position", Integer),
    Column("expires_at", Text),
)
judges = Table(  # a model that judged a run's pairs: its votes are kept apart from people's ratings
    "judges",
    metadata,
    Column("run_id", Integer, ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("name", Text, primary_key=True),
    Column("model", Text),
    Column("provider", Text),
    Column("prompt", Text),
    Column("calibration", Text),  # JSON list of the positions shown to it as examples
    Column("created_at", Text),
)
judge_votes = Table(
    "judge_votes",
    metadata,
    Column("run_id", Integer, ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("judge", Text, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("left_contender", Text),
    Column("right_contender", Text),
    Column("first_choice", Text),
    Column("second_choice", Text),
    Column("winner", Text),
    Column("criteria", Text),
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("latency_s", Float),
    Column("cost_usd", Float),
)
knowledge_sources = Table(
    "knowledge_sources",
    metadata,
    _id(),
    Column("name", Text),
    Column("created_at", Text),
    Column("updated_at", Text),
    Column("passage_template", Text),  # how a CSV row becomes a passage: "{name} has atomic number {number}."
)
knowledge_versions = Table(
    "knowledge_versions",
    metadata,
    _id(),
    Column("source_id", Integer, ForeignKey("knowledge_sources.id", ondelete="CASCADE")),
    Column("created_at", Text),
    Column("summary", Text),
)
knowledge_passages = Table(
    "knowledge_passages",
    metadata,
    Column("version_id", Integer, ForeignKey("knowledge_versions.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("file", Text),
    Column("origin", Text),
    Column("text", Text),
)
