"""Reading and writing datasets: OpenAI JSONL and system,user,assistant CSV.

Readers never stop at a bad line: each bad line becomes a finding with its 1-based
line number and every good line is kept.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from lib.curate.examples import Example, single_turn, table_fields
from lib.curate.format_checks import Finding, check_examples, error_lines, sort_findings
from lib.errors import DatasetError

MAX_DEPTH = 32  # far deeper than any real chat example; guards the code that walks examples
CSV_COLUMNS = ("system", "user", "assistant")
CSV_EXTRA_COLUMNS = ("status", "tags", "note")

T = TypeVar("T")
csv.field_size_limit(2**31 - 1)  # a long answer is a long cell: never refuse one (the default is 131,072)


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


_BOMS = [  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
]
_GZIP, _ZIP = b"\x1f\x8b", b"PK\x03\x04"


def as_utf8(data: bytes) -> tuple[bytes, list[Finding]]:
    """The file's bytes as UTF-8, whatever Unicode encoding its byte-order mark names; a note of what was done.

    A compressed file cannot be read as text: that is one error finding for the whole file.
    """
    if data.startswith(_GZIP) or data.startswith(_ZIP):
        kind = "gzip" if data.startswith(_GZIP) else "zip"
        message = f"This is a {kind}-compressed file: unpack it first and upload the .jsonl or .csv inside."
        return b"", [Finding(None, "compressed_file", "error", message)]
    head = data[:400]
    mostly_zeros = bool(head) and head.count(0) * 4 >= len(head)  # JSON or CSV text in UTF-16/32: many zero bytes
    for mark, encoding in _BOMS:
        if data.startswith(mark) and (encoding == "utf-8" or mostly_zeros):
            if encoding == "utf-8":
                return data[len(mark) :], []
            text = data[len(mark) :].decode(encoding, errors="replace")
            note = f"The file was saved as {encoding.upper()}; it was read as such (UTF-8 is the usual choice)."
            return text.encode("utf-8", errors="surrogatepass"), [Finding(None, "converted_encoding", "warning", note)]
    if head and head.count(0) * 3 >= len(head):  # UTF-16 without a mark: every other byte is zero
        encoding = "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"
        text = data.decode(encoding, errors="replace")
        note = f"The file looks like {encoding.upper()} without a byte-order mark; it was read as such."
        return text.encode("utf-8", errors="surrogatepass"), [Finding(None, "converted_encoding", "warning", note)]
    return data, []


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is too large a number to keep")
    return value


def _parse_line(text: str) -> Any:
    """One line's JSON value; refuses what would not survive being written back (NaN, Infinity, 1e400)."""
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if any("\ud800" <= ch <= "\udfff" for ch in item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def read_jsonl(data: bytes) -> ParsedFile:
    """Parse JSONL bytes line by line; total: any bytes give findings with line numbers and keep every good line.

    BOMs (UTF-8/16/32), CRLF, blank lines and a missing final newline are fine; a JSON array is read
    element by element (with a note that JSON Lines has one example per line).
    """
    parsed = ParsedFile()
    data, notes = as_utf8(data)
    parsed.findings.extend(notes)
    if data.lstrip()[:1] == b"[" and (array := _json_array(data)) is not None:
        return _read_array(parsed, array)
    escapes = _SURROGATE_BYTES.search(data) is not None  # once for the file: rare, and then checked per line
    collecting = gc.isenabled()
    gc.disable()  # parsed JSON is never cyclic: the collector would only walk 50,000 fresh dicts again and again
    try:
        _read_lines(parsed, data, escapes)
        parsed.findings = sort_findings([*parsed.findings, *check_examples(parsed.examples)])
    finally:
        if collecting:
            gc.enable()
    return parsed


def _read_lines(parsed: ParsedFile, data: bytes, escapes: bool) -> None:
    append = parsed.examples.append
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        parsed.lines_read += 1
        try:  # msgspec's C parser for the lines that are plain good JSON; any doubt goes the careful way
            value = _FAST_DECODE(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # bad bytes, NaN, 1e400, huge ints
            value = _careful_line(parsed, number, raw)
            if value is _UNREADABLE:
                continue
        brackets = raw.count(b"[") + raw.count(b"{")  # cheap bound on the depth: walk only when it could be too deep
        if brackets > MAX_DEPTH and _depth(value) > MAX_DEPTH:
            parsed.findings.append(_too_deep(number))
            continue
        if escapes and _SURROGATE_BYTES.search(raw) and _has_lone_surrogate(value):
            parsed.findings.append(_lone_surrogate(number))
            continue
        append((number, value))


_UNREADABLE = object()
_FAST_DECODE = msgspec.json.Decoder().decode
_SURROGATE_BYTES = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _careful_line(parsed: ParsedFile, number: int, raw: bytes) -> Any:
    """One line read with the standard library, to say exactly what is wrong with it (a finding, and
    _UNREADABLE), or its value where only the fast parser refused it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"Not valid UTF-8 (byte {exc.start + 1}): save the file as UTF-8."
        parsed.findings.append(Finding(number, "invalid_utf8", "error", message))
        return _UNREADABLE
    try:
        return _parse_line(text)
    except json.JSONDecodeError as exc:
        message = f"Not valid JSON: {exc.msg} (column {exc.colno})."
    except ValueError as exc:  # an integer of over 4,300 digits, NaN, Infinity, 1e400
        message = f"Not valid JSON for a training file: {exc}."
        if "digits" in str(exc):
            message = "Not valid JSON for a training file: a number has more than 4,300 digits."
    except RecursionError:
        parsed.findings.append(_too_deep(number))
        return _UNREADABLE
    parsed.findings.append(Finding(number, "invalid_json", "error", message))
    return _UNREADABLE


def _json_array(data: bytes) -> list[Any] | None:
    """The file as one JSON array, if that is what it is (a pretty-printed export)."""
    try:
        value = _parse_line(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, list) else None


def _read_array(parsed: ParsedFile, array: list[Any]) -> ParsedFile:
    note = (
        f"This is a JSON array, not JSON Lines (one example per line): its {len(array)} elements were read as "
        "examples, numbered by their position in the array."
    )
    parsed.findings.append(Finding(None, "json_array", "warning", note))
    for number, value in enumerate(array, start=1):
        parsed.lines_read += 1
        if _depth(value) > MAX_DEPTH:
            parsed.findings.append(_too_deep(number))
        elif _has_lone_surrogate(value):
            parsed.findings.append(_lone_surrogate(number))
        else:
            parsed.examples.append((number, value))
    parsed.findings = sort_findings([*parsed.findings, *check_examples(parsed.examples)])
    return parsed


def _lone_surrogate(line: int) -> Finding:
    message = "Holds a lone surrogate escape (such as \\ud800), which is not a character: remove it."
    return Finding(line, "invalid_text", "error", message)


def _too_deep(line: int) -> Finding:
    return Finding(line, "too_deep", "error", f"Nested more than {MAX_DEPTH} levels deep: not a chat example.")


def to_jsonl(examples: Iterable[Example]) -> bytes:
    """One compact JSON object per line, UTF-8, newline-terminated."""
    return "".join(json.dumps(ex, ensure_ascii=False) + "\n" for ex in examples).encode("utf-8")


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
