"""Reading and writing datasets: system,user,assistant CSV, and either format by file name (JSONL: openai_format).

The reader never stops at a bad row: each bad row becomes a finding with its row number (as a
spreadsheet numbers it) and every good row is kept.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

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


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what Excel, Sheets and LibreOffice may run as a formula


def spreadsheet_safe(cell: Any) -> Any:
    """A cell no spreadsheet runs as a formula (OWASP: a leading apostrophe); numbers pass unchanged. A cell that
    already starts with an apostrophe gets one more, so ``from_spreadsheet`` gives back exactly what was written."""
    return "'" + cell if isinstance(cell, str) and cell.startswith((*FORMULA_STARTS, "'")) else cell


def from_spreadsheet(cell: str) -> str:
    """Undo ``spreadsheet_safe`` (our own exports read back give the text that was exported)."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] and cell[1:2] in (*FORMULA_STARTS, "'") else cell


def csv_records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]] | Finding]:
    """Each record (the header first) with its row number as a spreadsheet numbers it, or a Finding for a row that
    cannot be read. Python's reader lets a quote left open swallow the rest of the file into one cell without a
    word: here that row is reported and left out, and reading goes on from the line after it."""
    lines = text.splitlines(keepends=True)
    first_line, row_number = 0, 0
    while first_line < len(lines):
        reader = csv.reader(io.StringIO("".join(lines[first_line:]), newline=""), delimiter=delimiter, strict=True)
        read_to = 0  # physical lines of this pass read by complete records
        try:
            for record in reader:
                row_number += 1
                yield row_number, record
                read_to = reader.line_num
            return
        except csv.Error as exc:
            row_number += 1
            reason = "a quote is opened and never closed" if "end of data" in str(exc) else str(exc)
            yield Finding(row_number, "invalid_csv", "error", f"Cannot be read as CSV ({reason}): the row is left out.")
            first_line += read_to + 1  # on from the line after the one where the bad row starts


def read_csv(data: bytes) -> ParsedFile:
    """Parse a system,user,assistant CSV (status, tags, note optional); rows numbered as in a spreadsheet.

    Comma, semicolon or tab separated (sniffed from the header); cells of any length.
    """
    data, notes = as_utf8(data)
    if notes and notes[0].severity == "error":  # a compressed file: one finding for the whole file, as JSONL gives
        return ParsedFile(findings=list(notes))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"The CSV is not valid UTF-8 (byte {exc.start + 1}): save it as UTF-8.") from exc
    records = csv_records(text, csv_delimiter(text))
    first = next(records, None)
    if isinstance(first, Finding):
        raise DatasetError(f"The CSV's header row cannot be read: {first.message}")
    if first is None:
        raise DatasetError("The CSV is empty: it needs a header row with system,user,assistant.")
    header = first[1]
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
    for record in records:
        if isinstance(record, Finding):
            parsed.findings.append(record)
            parsed.lines_read += 1  # a row was there: it counts, unread
            continue
        row_number, row = record[0], [from_spreadsheet(cell) for cell in record[1]]
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
    """system,user,assistant,status,tags,note; multi-turn examples keep their first question and last answer.
    Safe to open in a spreadsheet (no cell runs as a formula); ``read_csv`` gives back the same text."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; a cell holding a lone \r is quoted too
    writer.writerow([*CSV_COLUMNS, *CSV_EXTRA_COLUMNS])
    for example, meta in rows:
        cells = [*table_fields(example), *(meta.get(k, "") for k in CSV_EXTRA_COLUMNS)]
        writer.writerow([spreadsheet_safe(cell) for cell in cells])
    return out.getvalue().encode("utf-8")


def file_kind(name: str) -> str:
    """'csv' or 'jsonl', by the file's extension (.jsonl/.json/.txt or .csv); DatasetError for anything else."""
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix == "csv":
        return "csv"
    if suffix in ("jsonl", "json", "txt"):
        return "jsonl"
    raise DatasetError(f"'{name}' is neither .jsonl nor .csv: export your data as OpenAI JSONL or CSV.")


def read_file(name: str, data: bytes) -> ParsedFile:
    """Pick the reader by file extension (.jsonl/.json or .csv)."""
    return read_csv(data) if file_kind(name) == "csv" else read_jsonl(data)


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
