"""Where an evaluation run's prompts come from: Elle's evaluation file, a dataset version's rows, or the rows a
training job held out (read from its record); the warning when a tuned contender was trained on them; and the
questions training data must not contain (the doctor's evaluation-overlap check)."""

from __future__ import annotations

from collections.abc import Sequence

from lib.curate import doctor
from lib.curate.dataset import Row
from lib.db import dataset_versions, provenance_store, run_store
from lib.judge.run import Contender, Prompt, prompt_messages, question_of
from lib.openai_format.jsonl import read_jsonl
from lib.settings import SAMPLE_DIR
from lib.train.provenance import Provenance

EVAL_FILE = SAMPLE_DIR / "limericks-eval.jsonl"


def eval_file_prompts() -> list[Prompt]:
    """Elle's held-out questions (data/limericks-eval.jsonl)."""
    parsed = read_jsonl(EVAL_FILE.read_bytes())
    return [
        Prompt(f"{EVAL_FILE.name}:{line}", prompt_messages(example))
        for line, example in parsed.importable_examples(include_errors=True)
    ]


def dataset_prompts(rows: Sequence[Row]) -> list[Prompt]:
    """Every row of a dataset version as a prompt."""
    return [Prompt(f"row:{row.id}", prompt_messages(row.example)) for row in rows]


def held_out_prompts(made: Provenance) -> list[Prompt]:
    """The exact rows a training job held out for validation, read from its record (never re-derived)."""
    by_id = {row.id: row for row in dataset_versions.rows_at(made.dataset_id, made.version_id)}
    return [Prompt(f"row:{i}", prompt_messages(by_id[i].example)) for i in made.validation_rows if i in by_id]


def training_overlap(provider: str, contenders: Sequence[Contender], prompts: Sequence[Prompt]) -> list[str]:
    """A warning for each tuned contender trained on some of these prompts: its answers to them flatter it."""
    questions = [(p.source, question_of(p.messages)) for p in prompts]
    said = []
    for contender in contenders:
        made = provenance_store.provenance_of_model(provider, contender.model)
        if made is None or not made.training_rows:
            continue
        by_id = {row.id: row for row in dataset_versions.rows_at(made.dataset_id, made.version_id)}
        trained = [(n, by_id[i].example) for n, i in enumerate(made.training_rows, start=1) if i in by_id]
        if found := doctor.eval_overlap_of(trained, questions):
            said.append(
                f"{contender.label} was trained on {len(found)} of these prompts ({made.dataset_name} "
                f"v{made.version_id}): its answers to them flatter it. Remove them from the dataset with the "
                "doctor on Examples and train again, or choose other prompts."
            )
    return said


def evaluation_questions() -> tuple[tuple[str, str], ...]:
    """What training data must not contain, as (where it comes from, question): Elle's evaluation questions and
    the prompts of every stored run that did not take them from a dataset's own rows."""
    found = [(p.source, question_of(p.messages)) for p in eval_file_prompts()]
    for run in run_store.list_runs():
        sources = run_store.run_item_sources(run.id)
        for position, prompt in run_store.run_items(run.id).items():
            source = sources.get(position, "")
            if not source.startswith("row:"):
                found.append((f"run {run.id} item {position}", question_of(prompt)))
    return tuple(found)
