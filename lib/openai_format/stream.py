"""Checking a JSONL training file as a stream: one line in memory at a time, whatever the file's size.

The findings are those of ``read_jsonl`` on the whole file; memory grows by 16 bytes a line (the duplicate
digests) and with the findings, never with the examples. A file that is one JSON array, or is saved as UTF-16 or
UTF-32, cannot be read line by line in its bytes and is read whole.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lib.openai_format.checks import Duplicates, Finding, check_example, sort_findings, too_few
from lib.openai_format.jsonl import UNREADABLE, as_utf8, line_value, read_jsonl

MAX_LINE_BYTES = 64 * 2**20  # far more than a model's context in text; past it a line is refused, not held
_HEAD_BYTES = 64 * 1024

OnValid = Callable[[int, Any], None]  # (line, example) for every example without an error, in file order


@dataclass
class StreamCheck:
    """What a streamed check found: counts and findings, no examples."""

    lines_read: int = 0  # non-blank lines
    valid: int = 0  # examples without an error
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


def check_jsonl_file(path: Path, on_valid: OnValid | None = None) -> StreamCheck:
    """Check a JSONL file line by line; ``on_valid`` sees each valid example as it is read. OSError if unreadable."""
    with path.open("rb") as stream:
        head = stream.read(_HEAD_BYTES)
        _, notes = as_utf8(head)
        if any(n.severity == "error" for n in notes):  # compressed: nothing to read line by line
            few = too_few(0)
            return StreamCheck(findings=notes + ([few] if few else []))
        if notes or head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":  # UTF-16/32 or one JSON array: read whole
            return _checked_whole(head + stream.read(), on_valid)
        stream.seek(3 if head.startswith(b"\xef\xbb\xbf") else 0)
        collecting = gc.isenabled()
        gc.disable()  # parsed JSON is never cyclic: see read_jsonl
        try:
            return _check_lines(_lines(stream), on_valid)
        finally:
            if collecting:
                gc.enable()


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """(line number, the line without its end) for every line; None for a line over MAX_LINE_BYTES."""
    number = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass  # skip to the line's end without holding it
            yield number, None
            continue
        yield number, raw.rstrip(b"\n").rstrip(b"\r")


def _check_lines(lines: Iterator[tuple[int, bytes | None]], on_valid: OnValid | None) -> StreamCheck:
    checked = StreamCheck()
    findings = checked.findings
    duplicates = Duplicates()
    readable = 0
    for number, raw in lines:
        if raw is None:
            checked.lines_read += 1
            message = f"Longer than {MAX_LINE_BYTES // 2**20} MB: not one chat example (is a line end missing?)."
            findings.append(Finding(number, "line_too_long", "error", message))
            continue
        if not raw.strip():
            continue
        checked.lines_read += 1
        value = line_value(findings, number, raw)
        if value is UNREADABLE:
            continue
        readable += 1
        problems = check_example(value, number)
        findings += problems
        duplicates.add(number, value)
        if not any(p.severity == "error" for p in problems):
            checked.valid += 1
            if on_valid is not None:
                on_valid(number, value)
    findings += duplicates.findings()
    if (few := too_few(readable)) is not None:
        findings.append(few)
    checked.findings = sort_findings(findings)
    return checked


def _checked_whole(data: bytes, on_valid: OnValid | None) -> StreamCheck:
    parsed = read_jsonl(data)
    valid = parsed.valid_examples()
    if on_valid is not None:
        for line, example in valid:
            on_valid(line, example)
    return StreamCheck(parsed.lines_read, len(valid), parsed.findings)
