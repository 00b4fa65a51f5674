"""Training from a script: ``python -m lib train`` imports a file, launches the job as Train does (passages
included) and follows it to the end."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openai
from openai.types.fine_tuning import FineTuningJob

from lib.curate import import_export
from lib.curate.dataset import Dataset
from lib.curate.formats import read_file
from lib.db import dataset_store, provenance_store
from lib.errors import DatasetError
from lib.retrieve.passages import source_from_file
from lib.retrieve.search import DEFAULT_DISTRACTOR_SHARE
from lib.retrieve.source import TrainingPassages
from lib.train import launch
from lib.train.launch import LaunchSettings
from lib.train.providers import ProviderConfig, calling
from lib.train.tracking import FINISHED


@dataclass(frozen=True)
class TrainRequest:
    file: Path
    model: str
    knowledge: Path | None = None
    passages: int = 3
    template: str | None = None  # None: the knowledge source's own (the sample's for data/elements.csv)
    distractor_share: float = DEFAULT_DISTRACTOR_SHARE
    epochs: int | None = None
    suffix: str = ""
    validation: float = 0.0
    seed: int | None = None


def dataset_from_file(path: Path) -> Dataset:
    """The dataset named after the file: the one already there when it holds exactly the file's examples, else a
    new one (``name 2``, …), so running a script twice trains the same rows without piling up copies."""
    try:
        parsed = read_file(path.name, path.read_bytes())
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if parsed.errors:
        first = parsed.errors[0]
        raise DatasetError(f"{path.name} line {first.line}: {first.message} (`python -m lib validate` lists all).")
    examples = [example for _, example in parsed.valid_examples()]
    names = (path.name, *(f"{path.name} {i}" for i in range(2, 1000)))
    for name in names:
        found = dataset_store.find_dataset(name)
        if found is None:
            return import_export.import_new(name, parsed, False, path.name)[0]
        if [row.example for row in dataset_store.rows(found.id)] == examples:
            return found
    raise DatasetError(f"Too many datasets are named after {path.name}: rename some.")


def start(client: openai.OpenAI, config: ProviderConfig, request: TrainRequest) -> FineTuningJob:
    """Import the file (and the knowledge file), then launch as Train does; the record keeps what it used."""
    if request.knowledge is None and request.template is not None:
        raise DatasetError("--template needs --knowledge: the CSV file whose rows it writes as passages.")
    if not 1 <= request.passages <= 20 or not 0 <= request.distractor_share <= 1:
        raise DatasetError("--passages must be 1 to 20 and --distractors between 0 and 1.")
    dataset = dataset_from_file(request.file)
    passages = None
    if request.knowledge is not None:
        source = source_from_file(request.knowledge, request.template)
        passages = TrainingPassages(source.id, source.version_id, source.name, request.passages,
                                    request.distractor_share, source.passage_template)  # fmt: skip
    rows = dataset_store.rows(dataset.id)
    chosen = launch.chosen_rows(rows, launch.ExampleChoice.ALL_BUT_REJECTED)
    settings = LaunchSettings(
        request.model, validation_fraction=request.validation, n_epochs=request.epochs, suffix=request.suffix,
        seed=request.seed, method=launch.method_for(chosen), passages=passages,
    )  # fmt: skip
    return launch.launch(client, config, dataset, rows, settings)


def follow(
    client: openai.OpenAI,
    config: ProviderConfig,
    job: FineTuningJob,
    say: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True),
    every_s: float = 2.0,
) -> FineTuningJob:
    """Poll the job until it finishes, saying each new event; the record learns its outcome and tuned model."""
    seen: set[str] = set()
    while True:
        with calling(config):
            job = client.fine_tuning.jobs.retrieve(job.id)
            events = list(client.fine_tuning.jobs.list_events(job.id, limit=50).data)
        for event in reversed(events):  # newest first from the API
            if event.id not in seen:
                seen.add(event.id)
                say(f"[{job.status}] {event.message}")
        if job.status in FINISHED:
            provenance_store.set_outcome(config.kind, job.id, job.status, job.fine_tuned_model)
            return job
        time.sleep(every_s)
