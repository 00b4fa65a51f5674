"""``python -m lib validate FILE [--model MODEL] [--json]``: check a dataset file from a pipeline.

Exit status: 0 no errors, 1 errors found, 2 the arguments or the file cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lib.curate.format_checks import error_lines, sort_findings
from lib.curate.formats import ParsedFile, read_file
from lib.db import price_store
from lib.errors import StudioError
from lib.price.pricing import ModelInfo, UnknownModelError, estimate, models, over_limit_finding, resolve
from lib.price.tokens import Counter


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib", description="Tuning Studio command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check a JSONL or CSV fine-tuning file")
    validate.add_argument("file", type=Path, help="the .jsonl or .csv file to check")
    validate.add_argument("--model", help="count tokens and price training for this model (e.g. gpt-4o-mini)")
    validate.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return parser


def report(parsed: ParsedFile, model: ModelInfo | None = None) -> dict[str, Any]:
    """The machine-readable summary of a checked file; with a model, tokens and training cost too."""
    figures: dict[str, Any] = {}
    findings = parsed.findings
    if model is not None:
        valid = parsed.valid_examples()
        counts = Counter(model.encoding).count_all([example for _, example in valid])
        found = estimate(counts, model)
        too_long = [over_limit_finding(valid[i][0], counts[i].total, model) for i in found.over_limit]
        findings = sort_findings([*findings, *too_long])
        figures = {
            "model": model.name,
            "tokens": found.tokens_report(),
            "epochs": found.epochs,
            "billed_tokens": found.billed_tokens,
            "cost_usd": round(found.cost_usd, 4),
        }
    bad = error_lines(findings)
    return {
        "examples": parsed.lines_read,
        "valid": sum(1 for line, _ in parsed.examples if line not in bad),
        "errors": sum(1 for f in findings if f.severity == "error"),
        "warnings": sum(1 for f in findings if f.severity == "warning"),
        "findings": [f.to_dict() for f in findings],
        **figures,
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
    if "model" in summary:
        tokens = summary["tokens"]
        print(
            f"{summary['model']}: {tokens['total']:,} tokens ({tokens['assistant']:,} trained), "
            f"{summary['epochs']} epochs, {summary['billed_tokens']:,} billed tokens, ${summary['cost_usd']:.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        model = resolve(args.model, models(price_store.price_overrides())) if args.model else None
    except UnknownModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        data = args.file.read_bytes()
        parsed = read_file(args.file.name, data)
    except (OSError, StudioError) as exc:
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"error: cannot use {args.file}: {message}", file=sys.stderr)
        return 2
    try:
        summary = report(parsed, model)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        _print_text(args.file, summary)
    return 1 if summary["errors"] else 0
