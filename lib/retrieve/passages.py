"""Knowledge files split into passages: CSV rows, Markdown or text sections, JSONL records.

Every reader is total: it keeps each passage it can read and says, by line or row, what it could not.
"""

from __future__ import annotations

import csv
import io
import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path, PurePath

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
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


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


def template_fields(template: str) -> list[str]:
    """The column names a passage template fills in ("{name} has atomic number {number}." -> name, number)."""
    try:
        return [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as exc:
        why = f"The passage template cannot be read ({exc}): name columns in braces, like {{name}}."
        raise KnowledgeError(why) from None


def _check_template(template: str, header: list[str], file_name: str) -> None:
    fields = template_fields(template)
    if not fields:
        raise KnowledgeError("The passage template names no column: put column names in braces, like {name}.")
    if missing := [f for f in fields if f not in header]:
        raise KnowledgeError(
            f"The passage template names {', '.join('{' + f + '}' for f in missing)}, which {file_name} does not "
            f"have (its columns: {', '.join(header)})."
        )


def render_row(template: str, cells: dict[str, str]) -> str:
    """A row written as its template's sentences; a sentence whose columns are all empty in this row is left out
    ("It is also spelled {also}." only where a row has another spelling)."""
    sentences = [s for s in _SENTENCE_END.split(template.strip()) if s]
    kept = [s for s in sentences if not (fields := template_fields(s)) or any(cells.get(f, "") for f in fields)]
    try:
        return " ".join(sentence.format_map(cells).strip() for sentence in kept)
    except (ValueError, IndexError, KeyError, AttributeError) as exc:
        why = f"The passage template cannot write this row ({exc}): use plain {{column}} fields."
        raise KnowledgeError(why) from None


def read_csv(data: bytes, file_name: str, text_column: str = ALL_COLUMNS, template: str = "") -> ReadPassages:
    """One passage per row: the template's sentence (``template``), the chosen column, or every column as
    "name: value" joined with " · ".

    A small model reads a sentence ("Vanadium has atomic number 23 and the symbol V.") far better than fields
    (measured in docs/benchmarks.md): give CSV sources a template.
    """
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
    if template:
        _check_template(template, header, file_name)
    read = ReadPassages()
    for record in records:
        if isinstance(record, Finding):  # a row that cannot be read is said; the rows after it are read
            read.findings.append(record)
            continue
        row_number, row = record
        cells = dict(zip(header, (c.strip() for c in row), strict=False))
        if template:
            try:
                passage = render_row(template, cells) if any(cells.values()) else ""
            except KnowledgeError as error:
                read.findings.append(Finding(row_number, "template", "error", str(error)))
                continue
        elif text_column:
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


def read_file(data: bytes, file_name: str, text_column: str = ALL_COLUMNS, template: str = "") -> ReadPassages:
    """The passages of one uploaded knowledge file, by its kind (from the file name); ``template``: for CSV."""
    kind = kind_of(file_name)
    if kind == "csv":
        return read_csv(data, file_name, text_column, template)
    if kind == "markdown":
        return read_markdown(data, file_name)
    if kind == "jsonl":
        return read_jsonl(data, file_name)
    return read_text(data, file_name)


SAMPLE_SOURCE = "Elements (sample)"
SAMPLE_FILE = SAMPLE_DIR / "elements.csv"
SAMPLE_TEMPLATE = "{name} has atomic number {number} and the symbol {symbol}. It is also spelled {also}."


def add_upload(
    source_id: int, file_name: str, data: bytes, text_column: str = ALL_COLUMNS, template: str | None = None
) -> tuple[Source, ReadPassages]:
    """Read a file and add its passages as a new version (a file of the same name is replaced).

    ``template``: how CSV rows become passages, kept with the source for its next CSV files; None: the source's
    own. Raises KnowledgeError, changing nothing, when the file gives no passage at all.
    """
    source = knowledge_store.source(source_id)
    if template is None:
        template = "" if text_column else source.passage_template
    read = _readable(data, file_name, text_column, template)
    return _add(source, file_name, read, template), read


def _readable(data: bytes, file_name: str, text_column: str, template: str) -> ReadPassages:
    read = read_file(data, file_name, text_column, template)
    if not read.passages:
        problems = "; ".join(f"line {f.line}: {f.message}" for f in read.findings[:3])
        raise KnowledgeError(f"{file_name} gave no passage{': ' + problems if problems else ''}.")
    return read


def _add(source: Source, file_name: str, read: ReadPassages, template: str) -> Source:
    """The read passages as the source's new version; a CSV's template kept with the source once it has worked."""
    if template and template != source.passage_template and kind_of(file_name) == "csv":
        knowledge_store.set_passage_template(source.id, template)
    return knowledge_store.add_file(source.id, file_name, read.passages)


def default_template(path: Path) -> str | None:
    """The template a knowledge file is read with when none is given: the sample's for Elle's elements file."""
    return SAMPLE_TEMPLATE if path.resolve() == SAMPLE_FILE.resolve() else None


def source_from_file(path: Path, template: str | None = None, name: str = "") -> Source:
    """A knowledge source (named after the file, or ``name``) holding the file's passages; a new version only when
    the file or the template changed. ``template``: how CSV rows become passages; None: the source's own, and for
    Elle's sample file the sample's template. Nothing is made or changed when the file gives no passage."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KnowledgeError(f"cannot read {path}: {exc.strerror or exc}") from exc
    template = default_template(path) if template is None else template
    found = next((s for s in knowledge_store.sources() if s.name == (name or path.name)), None)
    use = template if template is not None else (found.passage_template if found else "")
    read = _readable(data, path.name, ALL_COLUMNS, use)
    if found is not None and use == found.passage_template:
        kept = [p for p in knowledge_store.passages_at(found.version_id) if p.file == path.name]
        if kept == read.passages:
            return found
    return _add(found or knowledge_store.create_source(name or path.name), path.name, read, use)


def load_sample_source() -> Source:
    """Elle's knowledge source: one sentence per element ("Vanadium has atomic number 23 and the symbol V."); the
    one there if loaded before (a sample loaded before templates is written again as sentences)."""
    found = next((s for s in knowledge_store.sources() if s.name == SAMPLE_SOURCE), None)
    if found is not None and found.n_passages and found.passage_template == SAMPLE_TEMPLATE:
        return found
    return source_from_file(SAMPLE_FILE, SAMPLE_TEMPLATE, SAMPLE_SOURCE)
