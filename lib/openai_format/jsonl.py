"""Reading and writing OpenAI JSONL fine-tuning files (shared by the app and the local server).

The reader never stops at a bad line: each bad line becomes a finding with its 1-based
line number and every good line is kept.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from lib.openai_format.checks import Finding, check_examples, error_lines, sort_findings
from lib.openai_format.examples import Example

MAX_DEPTH = 32  # far deeper than any real chat example; guards the code that walks examples


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
        value = line_value(parsed.findings, number, raw, escapes)
        if value is not UNREADABLE:
            append((number, value))


def line_value(findings: list[Finding], number: int, raw: bytes, escapes: bool = True) -> Any:
    """One non-blank line's JSON value, or UNREADABLE with the reason appended to ``findings``.

    ``escapes`` False says the file holds no surrogate escape at all, which spares a search per line."""
    try:  # msgspec's C parser for the lines that are plain good JSON; any doubt goes the careful way
        value = _FAST_DECODE(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # bad bytes, NaN, 1e400, huge ints
        value = _careful_line(findings, number, raw)
        if value is UNREADABLE:
            return UNREADABLE
    brackets = raw.count(b"[") + raw.count(b"{")  # cheap bound on the depth: walk only when it could be too deep
    if brackets > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        findings.append(_too_deep(number))
        return UNREADABLE
    if escapes and _SURROGATE_BYTES.search(raw) and _has_lone_surrogate(value):
        findings.append(_lone_surrogate(number))
        return UNREADABLE
    return value


UNREADABLE = object()  # what line_value gives for a line that holds no JSON value
_FAST_DECODE = msgspec.json.Decoder().decode
_SURROGATE_BYTES = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _careful_line(findings: list[Finding], number: int, raw: bytes) -> Any:
    """One line read with the standard library, to say exactly what is wrong with it (a finding, and
    UNREADABLE), or its value where only the fast parser refused it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"Not valid UTF-8 (byte {exc.start + 1}): save the file as UTF-8."
        findings.append(Finding(number, "invalid_utf8", "error", message))
        return UNREADABLE
    try:
        return _parse_line(text)
    except json.JSONDecodeError as exc:
        message = f"Not valid JSON: {exc.msg} (column {exc.colno})."
    except ValueError as exc:  # an integer of over 4,300 digits, NaN, Infinity, 1e400
        message = f"Not valid JSON for a training file: {exc}."
        if "digits" in str(exc):
            message = "Not valid JSON for a training file: a number has more than 4,300 digits."
    except RecursionError:
        findings.append(_too_deep(number))
        return UNREADABLE
    findings.append(Finding(number, "invalid_json", "error", message))
    return UNREADABLE


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
