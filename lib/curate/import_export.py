"""Dataset actions the screens need, built from the store and the file formats."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from lib.curate.dataset import STATUSES, Dataset, NewRow, Row
from lib.curate.formats import split, to_csv
from lib.db import dataset_store
from lib.openai_format.checks import Finding, check_examples
from lib.openai_format.jsonl import ParsedFile, read_jsonl, to_jsonl
from lib.settings import SAMPLE_DIR
from lib.words import plural

SAMPLE_FILE = SAMPLE_DIR / "limericks.jsonl"
SAMPLE_NAME = "Elle limericks"
ExportFormat = Literal["jsonl", "csv"]


def _new_rows(parsed: ParsedFile, include_errors: bool) -> list[NewRow]:
    new_rows = []
    for line, example in parsed.importable_examples(include_errors):
        meta = parsed.metadata.get(line, {})
        status = meta["status"] if meta.get("status") in STATUSES else "draft"
        new_rows.append(NewRow(example, status, meta.get("tags", ""), meta.get("note", "")))
    return new_rows


def import_parsed(dataset_id: int, parsed: ParsedFile, include_errors: bool, source: str) -> int:
    """Add a checked file's examples to a dataset (CSV status/tags/note kept); returns how many."""
    new_rows = _new_rows(parsed, include_errors)
    dataset_store.add_rows(dataset_id, new_rows, f"Imported {len(new_rows)} examples from {source}")
    return len(new_rows)


def import_into(name: str, parsed: ParsedFile, include_errors: bool, source: str) -> tuple[Dataset, int, bool]:
    """Import into the dataset called ``name``, made (with the rows, in one transaction) if there is none.

    Returns the dataset, how many examples were added, and whether the dataset is new.
    """
    new_rows = _new_rows(parsed, include_errors)
    summary = f"Imported {plural(len(new_rows), 'example')} from {source}"
    existing = dataset_store.find_dataset(name)
    if existing is None:
        return dataset_store.create_dataset(name, new_rows, summary), len(new_rows), True
    dataset_store.add_rows(existing.id, new_rows, summary)
    return dataset_store.get_dataset(existing.id), len(new_rows), False


def import_new(name: str, parsed: ParsedFile, include_errors: bool, source: str) -> tuple[Dataset, int]:
    """A new dataset holding the file's examples, made with them in one transaction; how many were added."""
    new_rows = _new_rows(parsed, include_errors)
    summary = f"Imported {plural(len(new_rows), 'example')} from {source}"
    return dataset_store.create_dataset(name, new_rows, summary), len(new_rows)


def load_sample(name: str = SAMPLE_NAME) -> Dataset:
    """Create a dataset holding Elle's sample limericks."""
    dataset = dataset_store.create_dataset(name)
    import_parsed(dataset.id, read_jsonl(SAMPLE_FILE.read_bytes()), include_errors=False, source=SAMPLE_FILE.name)
    return dataset_store.get_dataset(dataset.id)


def check_rows(rows: Sequence[Row]) -> list[Finding]:
    """Findings for a dataset, numbered by row (row 1 is the first example)."""
    return check_examples((number, row.example) for number, row in enumerate(rows, start=1))


def approved(rows: Sequence[Row]) -> list[Row]:
    return [row for row in rows if row.status == "approved"]


def export(rows: Sequence[Row], fmt: ExportFormat) -> bytes:
    """The rows as an OpenAI JSONL or a CSV file (CSV keeps status, tags and note)."""
    if fmt == "csv":
        return to_csv((row.example, {"status": row.status, "tags": row.tags, "note": row.note}) for row in rows)
    return to_jsonl(row.example for row in rows)


VALIDATION_TAG = "validation"  # a row tagged so is always held out for validation, never trained on


def held_out(row: Row) -> bool:
    return VALIDATION_TAG in (tag.strip() for tag in row.tags.split(","))


def split_rows(rows: Sequence[Row], validation_fraction: float, seed: int) -> tuple[list[Row], list[Row]]:
    """Training and validation rows: rows tagged 'validation' held out, the rest split repeatably."""
    train, valid = split([row for row in rows if not held_out(row)], validation_fraction, seed)
    pinned = [row for row in rows if held_out(row)]
    return train, sorted([*valid, *pinned], key=lambda row: (row.position, row.id))


def export_split(rows: Sequence[Row], validation_fraction: float, seed: int) -> tuple[bytes, bytes]:
    """Training and validation JSONL files from a repeatable split."""
    train, valid = split_rows(rows, validation_fraction, seed)
    return to_jsonl(r.example for r in train), to_jsonl(r.example for r in valid)
