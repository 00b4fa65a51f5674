"""Launching a fine-tuning job: which rows, which split, the checks that stop a launch, upload and record."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import openai
from openai.types.fine_tuning import FineTuningJob
from openai.types.fine_tuning.job_create_params import Method

from lib.curate import import_export
from lib.curate.dataset import Dataset, Row
from lib.curate.import_export import check_rows
from lib.db import provenance_store
from lib.errors import DatasetError
from lib.openai_format.checks import Finding
from lib.openai_format.examples import is_preference
from lib.openai_format.jsonl import to_jsonl
from lib.openai_format.rules import MIN_EXAMPLES, suffix_problem
from lib.price.tokens import ExampleTokens
from lib.retrieve.source import TrainingPassages
from lib.train.provenance import Provenance
from lib.train.providers import ProviderConfig, calling
from lib.train.with_passages import with_passages
from lib.words import plural


class ExampleChoice(StrEnum):
    """Which of a dataset's rows are trained on."""

    ALL_BUT_REJECTED = "all_but_rejected"
    APPROVED_ONLY = "approved_only"


EXAMPLE_LABELS = {ExampleChoice.ALL_BUT_REJECTED: "All but rejected", ExampleChoice.APPROVED_ONLY: "Approved only"}
DEFAULT_VALIDATION_FRACTION = 0.1  # Train's validation share until the user moves it


@dataclass(frozen=True)
class LaunchSettings:
    """What the user chose on the launch screen; None means "auto"."""

    base_model: str
    examples: ExampleChoice = ExampleChoice.ALL_BUT_REJECTED
    validation_fraction: float = 0.0
    n_epochs: int | None = None
    batch_size: int | None = None
    learning_rate_multiplier: float | None = None
    suffix: str = ""
    seed: int | None = None
    early_stopping_patience: int | None = None  # the local provider's; needs validation examples
    method: str = "supervised"  # "dpo" for preference data (method_for)
    beta: float | None = None  # DPO: how far the tuned model may move from the reference (None: auto)
    passages: TrainingPassages | None = None  # retrieved passages put in each example's prompt (with_passages)

    def method_body(self) -> dict[str, Any]:
        """The job's ``method``: supervised with its hyperparameters, or DPO with beta too."""
        if self.method == "dpo":
            asked = {k: v for k, v in self.hyperparameters().items() if k != "early_stopping_patience"}
            return {"type": "dpo", "dpo": {"hyperparameters": {**asked, "beta": self.beta or "auto"}}}
        return {"type": "supervised", "supervised": {"hyperparameters": self.hyperparameters()}}

    def hyperparameters(self) -> dict[str, Any]:
        asked: dict[str, Any] = {
            "n_epochs": self.n_epochs or "auto",
            "batch_size": self.batch_size or "auto",
            "learning_rate_multiplier": self.learning_rate_multiplier or "auto",
        }
        if self.early_stopping_patience:
            asked["early_stopping_patience"] = self.early_stopping_patience
        return asked


def chosen_rows(rows: Sequence[Row], choice: ExampleChoice) -> list[Row]:
    if choice == ExampleChoice.APPROVED_ONLY:
        return [row for row in rows if row.status == "approved"]
    return [row for row in rows if row.status != "rejected"]


def method_for(rows: Sequence[Row]) -> str:
    """ "dpo" when every row is a preference example, "supervised" when none is; a mix cannot be trained."""
    preferences = sum(is_preference(row.example) for row in rows)
    if preferences and preferences < len(rows):
        raise DatasetError(
            f"These examples mix {preferences} preference lines with {len(rows) - preferences} chats: a job trains "
            "on one kind. Filter by kind on Examples, or put them in separate datasets."
        )
    return "dpo" if preferences else "supervised"


def method_for_or_none(rows: Sequence[Row]) -> str | None:
    """method_for, or None for a mix of kinds."""
    try:
        return method_for(rows)
    except DatasetError:
        return None


def split_rows(rows: Sequence[Row], settings: LaunchSettings) -> tuple[list[Row], list[Row]]:
    """Training and validation rows: a repeatable split (the seed, or 0, fixes it); rows tagged 'validation'
    are always held out."""
    return import_export.split_rows(rows, settings.validation_fraction, settings.seed or 0)


@dataclass(frozen=True)
class Split:
    """The rows a job uses: those chosen (ExampleChoice), split into training and validation rows."""

    chosen: list[Row]
    training: list[Row]
    validation: list[Row]


def training_split(chosen: Sequence[Row], settings: LaunchSettings) -> Split:
    """The chosen rows (``chosen_rows``) split as ``split_rows`` does: computed once, then passed on."""
    training, validation = split_rows(chosen, settings)
    return Split(list(chosen), training, validation)


def default_split(rows: Sequence[Row]) -> Split:
    """The rows Train starts with before the user chooses: all but rejected, the default validation share held
    out (and rows tagged 'validation'), seed 0."""
    settings = LaunchSettings("", validation_fraction=DEFAULT_VALIDATION_FRACTION)
    return training_split(chosen_rows(rows, settings.examples), settings)


def uploaded_examples(rows: Sequence[Row], settings: LaunchSettings, validation: bool = False) -> list[dict[str, Any]]:
    """What is uploaded for ``rows``: their examples, with retrieved passages when the settings train with them
    (distractors only in training examples)."""
    examples = [row.example for row in rows]
    if settings.passages is None:
        return examples
    return with_passages(examples, settings.passages, settings.seed or 0, distractors=not validation)


def training_counts(
    rows: Sequence[Row], counts: Sequence[ExampleTokens], training_rows: Sequence[Row]
) -> list[ExampleTokens]:
    """Token counts of the examples that will be trained on (``counts`` is aligned with ``rows``), in order."""
    by_id = {row.id: count for row, count in zip(rows, counts, strict=True)}
    return [by_id[row.id] for row in training_rows]


def blocking_findings(
    rows: Sequence[Row], choice: ExampleChoice, findings: Sequence[Finding] | None = None
) -> list[Finding]:
    """The errors in the chosen examples that stop a launch (warnings do not); lines are dataset rows.

    ``findings``: the rows' findings when already known (the screens cache them per version).
    """
    chosen = {row.id for row in chosen_rows(rows, choice)}
    return [
        finding
        for finding in (check_rows(rows) if findings is None else findings)
        if finding.severity == "error" and (finding.line is None or rows[finding.line - 1].id in chosen)
    ]


def _metadata(dataset: Dataset, settings: LaunchSettings) -> dict[str, str]:
    found = {"dataset": dataset.name[:500], "dataset_version": str(dataset.version_id)}
    if settings.passages is not None:
        found |= {"knowledge": settings.passages.source_name[:500], "passages": str(settings.passages.k)}
    return found


def launch(
    client: openai.OpenAI,
    config: ProviderConfig,
    dataset: Dataset,
    rows: Sequence[Row],
    settings: LaunchSettings,
    progress: Callable[[float, str], None] = lambda fraction, text: None,
    estimated_cost_usd: float | None = None,
    split: Split | None = None,
    findings: Sequence[Finding] | None = None,
) -> FineTuningJob:
    """Check, upload and start training on the chosen ``rows``; record which data made the job.

    ``split`` and ``findings``: the split and the rows' findings the screen already made for these rows and
    settings (else they are made here). The record keeps the exact training and validation row ids and the cost
    estimate the user saw, so Evaluate and the scorecard read them instead of deciding again.
    """
    if errors := blocking_findings(rows, settings.examples, findings):
        raise DatasetError(f"The chosen examples have {plural(len(errors), 'error')}; fix them before training.")
    split = split or training_split(chosen_rows(rows, settings.examples), settings)
    chosen, training_rows, validation_rows = split.chosen, split.training, split.validation
    if len(training_rows) < MIN_EXAMPLES:
        raise DatasetError(f"Training needs at least {MIN_EXAMPLES} examples; this choice has {len(training_rows)}.")
    if method_for(chosen) != settings.method:
        raise DatasetError(f"These examples need a {method_for(chosen)} job, not {settings.method}.")
    if settings.early_stopping_patience and not validation_rows:
        raise DatasetError("Early stopping watches the validation loss: choose a validation share above 0 %.")
    if problem := suffix_problem(settings.suffix.strip()):
        raise DatasetError(problem)
    stem = f"{dataset.name}-v{dataset.version_id}"
    with calling(config):
        progress(0.1, f"Uploading {len(training_rows)} training examples…")
        training_file = client.files.create(
            file=(f"{stem}-train.jsonl", to_jsonl(uploaded_examples(training_rows, settings))), purpose="fine-tune"
        )
        validation_id = None
        if validation_rows:
            progress(0.4, f"Uploading {len(validation_rows)} validation examples…")
            validation_file = client.files.create(
                file=(f"{stem}-validation.jsonl", to_jsonl(uploaded_examples(validation_rows, settings, True))),
                purpose="fine-tune",
            )
            validation_id = validation_file.id
        progress(0.7, "Creating the fine-tuning job…")
        job = client.fine_tuning.jobs.create(
            model=settings.base_model,
            training_file=training_file.id,
            validation_file=validation_id or openai.omit,
            method=cast(Method, settings.method_body()),
            suffix=settings.suffix.strip() or openai.omit,
            seed=settings.seed if settings.seed is not None else openai.omit,
            metadata=_metadata(dataset, settings),
        )
    provenance_store.record_job(
        Provenance(
            provider=config.kind,
            job_id=job.id,
            dataset_id=dataset.id,
            dataset_name=dataset.name,
            version_id=dataset.version_id,
            n_examples=len(chosen),
            training_file=training_file.id,
            validation_file=validation_id,
            base_model=settings.base_model,
            training_rows=tuple(row.id for row in training_rows),
            validation_rows=tuple(row.id for row in validation_rows),
            estimated_cost_usd=estimated_cost_usd,
            passages=settings.passages,
        )
    )
    progress(1.0, f"Started {job.id}.")
    return job
