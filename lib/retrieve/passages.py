"""Knowledge files split into passages: CSV rows, Markdown or text sections, JSONL records.

Every reader is total: it keeps each passage it can read and says, by line or row, what it could not.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import PurePath

from lib.curate.formats import csv_delimiter, csv_records
from lib.db import knowledge_store
from lib.errors import KnowledgeError
from lib.openai_format.checks import Finding
from lib.openai_format.jsonl import as_utf8
from lib.retrieve.source import Passage, Source
from lib.settings import SAMPLE_DIR

MAX_CHARS = 1200  # a passage longer than this is split at paragraph, then sentence, boundaries
ALL_COLUMNS = ""  # the CSV text column meaning "every column, as 'name: value'"
KINDS = {".csv": "csv", ".tsv": "csv", ".md": "markdown", ".markdown": "markdown", ".txt": "text", ".jsonl": "jsonl"}
_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")


@dataclass
class ReadPassages:
    passages: list[Passage] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def kind_of(file_name: str) -> str:
    kind = KINDS.get(PurePath(file_name).suffix.lower())
    if kind is None:
        raise KnowledgeError(f"{file_name}: knowledge files are CSV, Markdown (.md), plain text (.txt) or JSONL.")
    return kind


def _text(data: bytes, file_name: str) -> str:
    data, notes = as_utf8(data)
    if notes and notes[0].severity == "error":
        raise KnowledgeError(f"{file_name}: {notes[0].message}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KnowledgeError(f"{file_name} is not UTF-8 text (byte {exc.start + 1}): save it as UTF-8.") from exc


def csv_columns(data: bytes, file_name: str = "file.csv") -> list[str]:
    """The header of a CSV, to choose its text column."""
    text = _text(data, file_name)
    header = text.split("\n", 1)[0]
    return [c.strip() for c in next(csv.reader(io.StringIO(header), delimiter=csv_delimiter(text)), [])]


def split_long(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Pieces of at most ``limit`` characters, cut between paragraphs, else sentences, else words."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    for separator in ("\n\n", "\n", ". ", " "):
        parts = text.split(separator)
        if len(parts) > 1:
            break
    pieces: list[str] = []
    current = ""
    for part in parts:
        joined = f"{current}{separator}{part}" if current else part
        if len(joined) <= limit:
            current = joined
            continue
        if current:
            pieces.append(current)
        current = part
        if len(current) > limit:  # one part too long on its own: cut by index, never re-copying the rest (linear)
            chunks = [current[start : start + limit] for start in range(0, len(current), limit)]
            pieces.extend(chunks[:-1])
            current = chunks[-1]
    if current.strip():
        pieces.append(current)
    return [p.strip() for p in pieces if p.strip()]


def read_csv(data: bytes, file_name: str, text_column: str = ALL_COLUMNS) -> ReadPassages:
    """One passage per row: the chosen column, or every column as "name: value" joined with " · "."""
    text = _text(data, file_name)
    records = csv_records(text, csv_delimiter(text))
    first = next(records, None)
    if isinstance(first, Finding):
        raise KnowledgeError(f"{file_name}'s header row cannot be read: {first.message}")
    header = [c.strip() for c in (first[1] if first else [])]
    if not any(header):
        raise KnowledgeError(f"{file_name} is empty: a knowledge CSV needs a header row.")
    if text_column and text_column not in header:
        raise KnowledgeError(f"{file_name} has no column “{text_column}” (it has {', '.join(header)}).")
    read = ReadPassages()
    for record in records:
        if isinstance(record, Finding):  # a row that cannot be read is said; the rows after it are read
            read.findings.append(record)
            continue
        row_number, row = record
        cells = dict(zip(header, (c.strip() for c in row), strict=False))
        if text_column:
            passage = cells.get(text_column, "")
        else:
            passage = " · ".join(f"{name}: {value}" for name, value in cells.items() if name and value)
        if not passage:
            if any(c.strip() for c in row):
                read.findings.append(Finding(row_number, "empty_passage", "warning", "No text in this row."))
            continue
        pieces = split_long(passage)
        for i, piece in enumerate(pieces, start=1):
            where = f"row {row_number}" + (f" (part {i})" if len(pieces) > 1 else "")
            read.passages.append(Passage(file_name, where, piece))
    return read


def read_markdown(data: bytes, file_name: str) -> ReadPassages:
    """One passage per section (a heading and the text under it, headings above it as a path); long ones split."""
    read = ReadPassages()
    path: list[str] = []
    lines: list[str] = []
    start = 1

    def flush() -> None:
        body = "\n".join(lines).strip()
        if not body:
            return
        title = " › ".join(path)
        pieces = split_long(body, MAX_CHARS - len(title) - 2)
        for i, piece in enumerate(pieces, start=1):
            where = f"line {start}" + (f" (part {i})" if len(pieces) > 1 else "")
            read.passages.append(Passage(file_name, where, f"{title}\n{piece}" if title else piece))

    for number, line in enumerate(_text(data, file_name).splitlines(), start=1):
        heading = _HEADING.match(line)
        if heading:
            flush()
            level = len(heading.group(1))
            path[:] = [*path[: level - 1], heading.group(2)]
            lines.clear()
            start = number
            continue
        lines.append(line)
    flush()
    return read


def read_text(data: bytes, file_name: str) -> ReadPassages:
    """Plain text: paragraphs gathered into passages of up to MAX_CHARS."""
    read = ReadPassages()
    text = _text(data, file_name)
    pieces = split_long(text)
    for i, piece in enumerate(pieces, start=1):
        read.passages.append(Passage(file_name, f"part {i}", piece))
    return read


def read_jsonl(data: bytes, file_name: str) -> ReadPassages:
    """One passage per line: its "text" field, or a chat's messages, or every text field joined."""
    read = ReadPassages()
    for number, line in enumerate(_text(data, file_name).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            read.findings.append(Finding(number, "invalid_json", "error", f"Not valid JSON: {exc.msg}."))
            continue
        passage = _record_text(record)
        if not passage:
            read.findings.append(Finding(number, "empty_passage", "warning", "No text found in this record."))
            continue
        for i, piece in enumerate(pieces := split_long(passage), start=1):
            where = f"line {number}" + (f" (part {i})" if len(pieces) > 1 else "")
            read.passages.append(Passage(file_name, where, piece))
    return read


def _record_text(record: object) -> str:
    if isinstance(record, str):
        return record.strip()
    if not isinstance(record, dict):
        return ""
    if isinstance(record.get("text"), str):
        return str(record["text"]).strip()
    if isinstance(record.get("messages"), list):
        return "\n".join(str(m.get("content") or "") for m in record["messages"] if isinstance(m, dict)).strip()
    return " · ".join(f"{k}: {v}" for k, v in record.items() if isinstance(v, str | int | float) and str(v).strip())


def read_file(data: bytes, file_name: str, text_column: str = ALL_COLUMNS) -> ReadPassages:
    """The passages of one uploaded knowledge file, by its kind (from the file name)."""
    kind = kind_of(file_name)
    if kind == "csv":
        return read_csv(data, file_name, text_column)
    if kind == "markdown":
        return read_markdown(data, file_name)
    if kind == "jsonl":
        return read_jsonl(data, file_name)
    return read_text(data, file_name)


SAMPLE_SOURCE = "Elements (sample)"
SAMPLE_FILE = SAMPLE_DIR / "elements.csv"


def add_upload(
    source_id: int, file_name: str, data: bytes, text_column: str = ALL_COLUMNS
) -> tuple[Source, ReadPassages]:
    """Read a file and add its passages as a new version (a file of the same name is replaced).

    Raises KnowledgeError, changing nothing, when the file gives no passage at all.
    """
    read = read_file(data, file_name, text_column)
    if not read.passages:
        problems = "; ".join(f"line {f.line}: {f.message}" for f in read.findings[:3])
        raise KnowledgeError(f"{file_name} gave no passage{': ' + problems if problems else ''}.")
    return knowledge_store.add_file(source_id, file_name, read.passages), read


def load_sample_source() -> Source:
    """Elle's knowledge source: one passage per element (number, symbol, name); the one there if loaded before."""
    found = next((s for s in knowledge_store.sources() if s.name == SAMPLE_SOURCE), None)
    if found is not None and found.n_passages:
        return found
    created = found or knowledge_store.create_source(SAMPLE_SOURCE)
    return add_upload(created.id, SAMPLE_FILE.name, SAMPLE_FILE.read_bytes())[0]
