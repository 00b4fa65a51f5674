"""``python -m lib validate FILE [--json]``: check a dataset file from a pipeline.

Exit status: 0 no errors, 1 errors found, 2 the arguments or the file cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lib.errors import StudioError
from lib.formats import ParsedFile, read_file
from lib.validation import error_lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib", description="Tuning Studio command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check a JSONL or CSV fine-tuning file")
    validate.add_argument("file", type=Path, help="the .jsonl or .csv file to check")
    validate.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return parser


def report(parsed: ParsedFile) -> dict[str, Any]:
    """The machine-readable summary of a checked file."""
    bad = error_lines(parsed.findings)
    return {
        "examples": parsed.lines_read,
        "valid": sum(1 for line, _ in parsed.examples if line not in bad),
        "errors": sum(1 for f in parsed.findings if f.severity == "error"),
        "warnings": sum(1 for f in parsed.findings if f.severity == "warning"),
        "findings": [f.to_dict() for f in parsed.findings],
    }


def _print_text(path: Path, summary: dict[str, Any]) -> None:
    for finding in summary["findings"]:
        where = f"line {finding['line']}" if finding["line"] is not None else "file"
        field = f" [{finding['field']}]" if finding["field"] else ""
        print(f"{path}:{where}: {finding['severity']} {finding['code']}{field}: {finding['message']}")
    print(
        f"{summary['examples']} examples, {summary['valid']} valid, "
        f"{summary['errors']} errors, {summary['warnings']} warnings"
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        data = args.file.read_bytes()
        parsed = read_file(args.file.name, data)
    except (OSError, StudioError) as exc:
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"error: cannot use {args.file}: {message}", file=sys.stderr)
        return 2
    summary = report(parsed)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        _print_text(args.file, summary)
    return 1 if summary["errors"] else 0
