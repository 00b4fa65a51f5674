"""Reading and writing datasets: system,user,assistant CSV, and either format by file name (JSONL: openai_format).

The reader never stops at a bad row: each bad row becomes a finding with its row number (as a
spreadsheet numbers it) and every good row is kept.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterable, Sequence
from typing import TypeVar

from lib.errors import DatasetError
from lib.openai_format.checks import Finding, check_examples, sort_findings
from lib.openai_format.examples import Example, single_turn, table_fields
from lib.openai_format.jsonl import ParsedFile, as_utf8, read_jsonl

CSV_COLUMNS = ("system", "user", "assistant")
CSV_EXTRA_COLUMNS = ("status", "tags", "note")

T = TypeVar("T")
csv.field_size_limit(2**31 - 1)  # a long answer is a long cell: never refuse one (the default is 131,072)


def csv_delimiter(text: str) -> str:
    """Comma, semicolon or tab: whichever the header line has most of (comma for an empty file)."""
    first_line = text.split("\n", 1)[0]
    return max(",;\t", key=first_line.count) if first_line else ","


def read_csv(data: bytes) -> ParsedFile:
    """Parse a system,user,assistant CSV (status, tags, note optional); rows numbered as in a spreadsheet.

    Comma, semicolon or tab separated (sniffed from the header); cells of any length.
    """
    data, notes = as_utf8(data)
    if notes and notes[0].severity == "error":
        raise DatasetError(notes[0].message)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"The CSV is not valid UTF-8 (byte {exc.start + 1}): save it as UTF-8.") from exc
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=csv_delimiter(text))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise DatasetError(f"The CSV's header row cannot be read: {exc}.") from exc
    if header is None:
        raise DatasetError("The CSV is empty: it needs a header row with system,user,assistant.")
    columns = [name.strip().lower() for name in header]
    twice = sorted({name for name in columns if name and columns.count(name) > 1})
    if twice:
        where = ", ".join(
            f"'{n}' (columns {', '.join(str(i + 1) for i, c in enumerate(columns) if c == n)})" for n in twice
        )
        raise DatasetError(f"The CSV has a column more than once: {where}. Keep one of each.")
    missing = [name for name in ("user", "assistant") if name not in columns]
    if missing:
        found = ", ".join(header) or "nothing"
        raise DatasetError(
            f"The CSV needs columns system,user,assistant; missing {', '.join(missing)} (found {found})."
        )
    parsed = ParsedFile(findings=list(notes))
    row_number = 1
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a quote never closed: the rest of the file is one cell
            parsed.findings.append(Finding(row_number + 1, "invalid_csv", "error", f"Cannot be read as CSV: {exc}."))
            break
        row_number += 1
        if not any(cell.strip() for cell in row):
            continue
        parsed.lines_read += 1
        if len(row) > len(columns):
            parsed.findings.append(
                Finding(row_number, "extra_cells", "warning", f"{len(row)} cells but {len(columns)} columns.")
            )
        cells = dict(zip(columns, row, strict=False))
        example = single_turn(cells.get("system", ""), cells.get("user", ""), cells.get("assistant", ""))
        parsed.examples.append((row_number, example))
        parsed.metadata[row_number] = {k: cells[k] for k in CSV_EXTRA_COLUMNS if cells.get(k)}
    parsed.findings = sort_findings([*parsed.findings, *check_examples(parsed.examples)])
    return parsed


def to_csv(rows: Iterable[tuple[Example, dict[str, str]]]) -> bytes:
    """system,user,assistant,status,tags,note; multi-turn examples keep their first question and last answer."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *CSV_EXTRA_COLUMNS])
    for example, meta in rows:
        writer.writerow([*table_fields(example), *(meta.get(k, "") for k in CSV_EXTRA_COLUMNS)])
    return out.getvalue().encode("utf-8")


def read_file(name: str, data: bytes) -> ParsedFile:
    """Pick the reader by file extension (.jsonl/.json or .csv)."""
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix == "csv":
        return read_csv(data)
    if suffix in ("jsonl", "json", "txt"):
        return read_jsonl(data)
    raise DatasetError(f"'{name}' is neither .jsonl nor .csv: export your data as OpenAI JSONL or CSV.")


def split(items: Sequence[T], validation_fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """A repeatable train/validation split: same items, fraction and seed give the same split."""
    if not 0 <= validation_fraction < 1:
        raise DatasetError("The validation share must be at least 0 and below 1.")
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_valid = round(len(items) * validation_fraction)
    valid = sorted(order[:n_valid])
    chosen = set(valid)
    return [items[i] for i in range(len(items)) if i not in chosen], [items[i] for i in valid]
