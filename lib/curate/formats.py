"""Reading and writing datasets: OpenAI JSONL and system,user,assistant CSV.

Readers never stop at a bad line: each bad line becomes a finding with its 1-based
line number and every good line is kept.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lib.curate.examples import Example, single_turn, table_fields
from lib.curate.format_checks import Finding, check_examples, error_lines, sort_findings
from lib.errors import DatasetError

MAX_DEPTH = 32  # far deeper than any real chat example; guards the code that walks examples
CSV_COLUMNS = ("system", "user", "assistant")
CSV_EXTRA_COLUMNS = ("status", "tags", "note")

T = TypeVar("T")


@dataclass
class ParsedFile:
    """What a file held: examples with their line numbers, and every finding."""

    examples: list[tuple[int, Any]] = field(default_factory=list)  # (line, parsed JSON value)
    findings: list[Finding] = field(default_factory=list)
    lines_read: int = 0  # non-blank lines
    metadata: dict[int, dict[str, str]] = field(default_factory=dict)  # CSV: line -> status/tags/note

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def valid_examples(self) -> list[tuple[int, Example]]:
        """Examples without any error, in file order."""
        bad = error_lines(self.findings)
        return [(line, ex) for line, ex in self.examples if line not in bad and isinstance(ex, dict)]

    def importable_examples(self, include_errors: bool) -> list[tuple[int, Example]]:
        """Examples to import: only valid ones, or every JSON object so its errors can be fixed in the app."""
        if include_errors:
            return [(line, ex) for line, ex in self.examples if isinstance(ex, dict)]
        return self.valid_examples()


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def read_jsonl(data: bytes) -> ParsedFile:
    """Parse JSONL bytes line by line (BOM, CRLF, blank lines and a missing final newline are fine)."""
    parsed = ParsedFile()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        parsed.lines_read += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            message = f"Not valid UTF-8 (byte {exc.start + 1}): save the file as UTF-8."
            parsed.findings.append(Finding(number, "invalid_utf8", "error", message))
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            message = f"Not valid JSON: {exc.msg} (column {exc.colno})."
            parsed.findings.append(Finding(number, "invalid_json", "error", message))
            continue
        except RecursionError:
            value = None
            parsed.findings.append(_too_deep(number))
            continue
        brackets = text.count("[") + text.count("{")  # cheap bound on the depth: walk only when it could be too deep
        if brackets > MAX_DEPTH and _depth(value) > MAX_DEPTH:
            parsed.findings.append(_too_deep(number))
            continue
        parsed.examples.append((number, value))
    parsed.findings = sort_findings([*parsed.findings, *check_examples(parsed.examples)])
    return parsed


def _too_deep(line: int) -> Finding:
    return Finding(line, "too_deep", "error", f"Nested more than {MAX_DEPTH} levels deep: not a chat example.")


def to_jsonl(examples: Iterable[Example]) -> bytes:
    """One compact JSON object per line, UTF-8, newline-terminated."""
    return "".join(json.dumps(ex, ensure_ascii=False) + "\n" for ex in examples).encode("utf-8")


def read_csv(data: bytes) -> ParsedFile:
    """Parse a system,user,assistant CSV (status, tags, note optional); rows numbered as in a spreadsheet."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"The CSV is not valid UTF-8 (byte {exc.start + 1}): save it as UTF-8.") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise DatasetError("The CSV is empty: it needs a header row with system,user,assistant.")
    columns = [name.strip().lower() for name in header]
    missing = [name for name in ("user", "assistant") if name not in columns]
    if missing:
        found = ", ".join(header) or "nothing"
        raise DatasetError(
            f"The CSV needs columns system,user,assistant; missing {', '.join(missing)} (found {found})."
        )
    parsed = ParsedFile()
    row_number = 1
    for row in reader:
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
