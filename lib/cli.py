"""Tuning Studio's command line, for pipelines:

- ``python -m lib validate FILE [--model MODEL] [--json]``: check a dataset file;
- ``python -m lib scorecard RATINGS.csv --tuned NAME --baseline NAME [--margin 0.05] [--judge REVIEWER
  [--count-judge]] [--json]``: the verdict from the Scorecard's "Ratings (CSV)" export;
- ``python -m lib judge --run RUN_ID --model MODEL [--provider local] [--name NAME] [--calibrate K] [--json]``:
  a model judges a run's pairs in both orders, its votes kept apart from people's;
- ``python -m lib check --question Q --answer A [--pack elle] [--json]``: the automatic checks of one answer;
- ``python -m lib train FILE --model BASE [--knowledge FILE [--passages K] [--template T]] [--epochs N]
  [--provider local|openai|azure] [--suffix S] [--json]``: a job launched as Train launches it and followed to
  its end (progress on stderr); exit 1 when it fails;
- ``python -m lib ask --model M --user U [--system S] [--shots K] [--knowledge FILE [--passages K] [--template T]]
  [--provider local|openai|azure|compatible --base-url URL [--api-key-env VAR]] [--json]``:
  one answer as Compare gives it, with its tokens, latency and the passages retrieved into its prompt (a model
  trained with passages gets them as it was trained: the same k and template);
- ``python -m lib doctor FILE [--eval EVALFILE] [--json]``: near-duplicates, contradictions, evaluation
  overlap, personal data and outliers, by line;
- ``python -m lib import FILE --dataset NAME [--include-errors]``: add a file's examples to a dataset of the
  configured store (made if it does not exist), in one transaction; the lines with errors are said and left out;
- ``python -m lib export NAME [--format jsonl|csv] [--approved]``: a dataset to standard output;
- ``python -m lib evaluate --prompts eval-file:PATH|dataset:NAME|heldout:JOB_ID --contender NAME=MODEL[,shots=K]
  [,passages=K] … --candidate NAME --baseline NAME [--knowledge FILE] [--shots-from dataset:NAME] [--provider
  local|openai|azure] [--json]``: an evaluation run made and answered as Evaluate does (progress on stderr);
- ``python -m lib draft --examples FILE [--knowledge FILE] --n N --model MODEL [--seeds K] [--provider local|openai|
  azure|compatible]``: a model drafts N examples in the file's style, one passage each (uncovered ones first), as
  JSONL on standard output (progress on stderr);
- ``python -m lib check-preferences --prompts run:ID|dataset:NAME --model MODEL [--checks elle] [--n 4]
  [--temperature 0.9] [--max-pairs 2] [--provider local|openai|azure] [--json]``: n answers per prompt, paired by
  the checks they pass into a new preference dataset (exit 1 when no two answers differ);
- ``python -m lib export-run RUN_ID``: a run as one JSON object, with exactly what each model was sent;
- ``python -m lib export-model MODEL --format gguf|hf|ollama [--quant q8_0|f16] --out PATH``: a local model taken
  anywhere, through STUDIO_LOCAL_URL.

The store is the app's: STUDIO_DATABASE_URL (PostgreSQL) when set, else SQLite under STUDIO_DATA_DIR.
Exit status: 0 fine, 1 errors found (validate, import: the good lines are in), 2 the arguments or the file
cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lib.cli_parser import command_line
from lib.cli_provider import PROVIDER_COMMANDS
from lib.curate.formats import file_kind, read_file
from lib.db import price_store
from lib.errors import StudioError
from lib.judge.answer_checks import PACKS
from lib.openai_format.checks import sort_findings
from lib.openai_format.stream import StreamCheck, check_jsonl_file
from lib.price.pricing import ModelInfo, UnknownModelError, estimate, models, over_limit_finding, resolve
from lib.price.tokens import Counter, ExampleTokens
from lib.words import plural


def report(path: Path, model: ModelInfo | None = None) -> dict[str, Any]:
    """The machine-readable summary of a checked file; with a model, tokens and training cost too.

    A JSONL file is read line by line (memory stays flat whatever its size); a CSV file is read whole."""
    counter = Counter(model.encoding) if model is not None else None
    counted: list[tuple[int, ExampleTokens]] = []

    def count(line: int, example: Any) -> None:
        if counter is not None:
            counted.append((line, counter.count(example)))

    if file_kind(path.name) == "csv":
        parsed = read_file(path.name, path.read_bytes())
        valid = parsed.valid_examples()
        for line, example in valid:
            count(line, example)
        checked = StreamCheck(parsed.lines_read, len(valid), parsed.findings)
    else:
        checked = check_jsonl_file(path, count)
    findings, figures = checked.findings, {}
    if model is not None:
        found = estimate([tokens for _, tokens in counted], model)
        too_long = [over_limit_finding(counted[i][0], counted[i][1].total, model) for i in found.over_limit]
        findings = sort_findings([*findings, *too_long])
        figures = {
            "model": model.name,
            "tokens": found.tokens_report(),
            "epochs": found.epochs,
            "billed_tokens": found.billed_tokens,
            "cost_usd": round(found.cost_usd, 4),
        }
    return {
        "examples": checked.lines_read,
        "valid": checked.valid,
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
        f"{plural(summary['examples'], 'example')}, {summary['valid']} valid, "
        f"{plural(summary['errors'], 'error')}, {plural(summary['warnings'], 'warning')}"
    )
    if "model" in summary:
        tokens = summary["tokens"]
        print(
            f"{summary['model']}: {tokens['total']:,} tokens ({tokens['assistant']:,} trained), "
            f"{summary['epochs']} epochs, {summary['billed_tokens']:,} billed tokens, ${summary['cost_usd']:.2f}"
        )


def _scorecard(args: argparse.Namespace) -> int:
    from lib.judge.reports import no_nan, read_ratings_csv  # scipy and friends: only for this command
    from lib.judge.summary import summary

    if not 0 <= args.margin < 0.5:
        print("error: --margin must be at least 0 and below 0.5", file=sys.stderr)
        return 2
    if (args.cost_tuned is None) != (args.cost_baseline is None):
        print("error: give both --cost-tuned and --cost-baseline, or neither", file=sys.stderr)
        return 2
    try:
        ratings, criteria = read_ratings_csv(args.file.read_bytes())
    except (OSError, StudioError) as exc:
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"error: cannot use {args.file}: {message}", file=sys.stderr)
        return 2
    names = {label for r in ratings for label in (r.left, r.right)}
    reviewers = {" ".join(r.reviewer.split()).lower() for r in ratings}
    if args.judge is not None and " ".join(args.judge.split()).lower() not in reviewers:
        print(f"error: --judge {args.judge!r} is not a reviewer in the file", file=sys.stderr)
        return 2
    if args.count_judge and args.judge is None:
        print("error: --count-judge needs --judge REVIEWER", file=sys.stderr)
        return 2
    for option, name in (("--tuned", args.tuned), ("--baseline", args.baseline)):
        if name not in names:
            print(
                f"error: {option} {name!r} is not a contender in the file: {', '.join(sorted(names))}", file=sys.stderr
            )
            return 2
    costs = None if args.cost_tuned is None else (args.cost_tuned, args.cost_baseline)
    found = summary(ratings, criteria, args.tuned, args.baseline, args.margin, costs, args.judge, args.count_judge)
    if args.json:
        print(json.dumps(no_nan(found), ensure_ascii=False, allow_nan=False))
    else:
        if found["duplicates"]:
            print(f"{plural(found['duplicates'], 'rating')} replaced by a later rating of the same pair of the same "
                  "item by the same reviewer (the last counts).")  # fmt: skip
        print(f"Verdict: {found['verdict']['decision']}")
        for reason in found["verdict"]["reasons"]:
            print(f"- {reason}")
    return 0


def _check(args: argparse.Namespace) -> int:
    checks = PACKS[args.pack]
    found = checks.run(args.question, args.answer)
    if args.json:
        print(json.dumps(found))
    else:
        marks = {True: "yes", False: "no", None: "not stated"}
        for key, label in checks.checks.items():
            print(f"{label}: {marks[found[key]]}")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from lib.curate import doctor  # datasketch and the personal-data rules: only for this command
    from lib.judge.run import prompt_messages, question_of

    try:
        parsed = read_file(args.file.name, args.file.read_bytes())
        evaluation = read_file(args.eval.name, args.eval.read_bytes()) if args.eval else None
    except (OSError, StudioError) as exc:
        message = f"cannot use {exc.filename}: {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
    prompts = []
    if evaluation is not None:
        asked = evaluation.importable_examples(include_errors=True)  # a prompt without an answer is a prompt
        prompts = [(f"{args.eval.name}:{line}", question_of(prompt_messages(e))) for line, e in asked]
    found = doctor.diagnose(parsed.valid_examples(), prompts)
    if args.json:
        print(json.dumps({"findings": [d.to_dict() for d in found]}, ensure_ascii=False))
    else:
        for diagnosis in found:
            lines = ",".join(str(n) for n in diagnosis.lines)
            print(f"{args.file}:{lines}: {diagnosis.severity} {diagnosis.code}: {diagnosis.message}")
        print(f"{plural(len(found), 'finding')}, {plural(sum(d.severity == 'error' for d in found), 'error')}")
    return 1 if any(d.severity == "error" for d in found) else 0


def _transfer(args: argparse.Namespace) -> int:
    from lib.curate import import_export
    from lib.db import connection, dataset_store

    store = connection.describe()
    if args.command == "export":
        dataset = dataset_store.find_dataset(args.name)
        if dataset is None:
            names = ", ".join(f"'{d.name}'" for d in dataset_store.list_datasets()) or "none"
            print(f"error: no dataset named '{args.name}' in {store.engine} ({store.where}); there are: {names}",
                  file=sys.stderr)  # fmt: skip
            return 2
        rows = dataset_store.rows(dataset.id)
        sys.stdout.buffer.write(
            import_export.export(import_export.approved(rows) if args.approved else rows, args.format)
        )
        return 0
    try:
        parsed = read_file(args.file.name, args.file.read_bytes())
    except (OSError, StudioError) as exc:
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"error: cannot use {args.file}: {message}", file=sys.stderr)
        return 2
    for finding in sort_findings(parsed.errors):
        where = f"line {finding.line}" if finding.line is not None else "file"
        print(f"{args.file}:{where}: error {finding.code}: {finding.message}", file=sys.stderr)
    try:
        dataset, added, new = import_export.import_into(args.dataset, parsed, args.include_errors, args.file.name)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    left_out = len(parsed.importable_examples(True)) - added
    print(f"Imported {plural(added, 'example')} into {'new ' if new else ''}dataset '{dataset.name}' "
          f"({dataset.n_examples} in all) in {store.engine} ({store.where})"
          + (f"; {left_out} lines with errors left out" if left_out else ""))  # fmt: skip
    return 1 if parsed.errors and not args.include_errors else 0


def main(argv: list[str] | None = None) -> int:
    """Run one command; an unexpected failure is said in one line and exits 2, never as a traceback."""
    args = command_line().parse_args(argv)
    for value in vars(args).values():  # a FIFO would hang, /dev/zero fill the memory: files only
        if isinstance(value, Path) and value.exists() and not value.is_file():
            print(f"error: {value} is not a regular file (a pipe or a device): give a file.", file=sys.stderr)
            return 2
    try:
        return _run(args)
    except Exception as exc:  # the last guard: a pipeline reads exit 1 as "errors found", so it must not be that
        print(f"error: {args.command} failed unexpectedly: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "scorecard":
        return _scorecard(args)
    if args.command == "check":
        return _check(args)
    if args.command in PROVIDER_COMMANDS:
        return PROVIDER_COMMANDS[args.command](args)
    if args.command == "doctor":
        return _doctor(args)
    if args.command in ("import", "export"):
        return _transfer(args)
    try:
        model = resolve(args.model, models(price_store.price_overrides())) if args.model else None
    except UnknownModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        summary = report(args.file, model)
    except OSError as exc:
        print(f"error: cannot use {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        _print_text(args.file, summary)
    return 1 if summary["errors"] else 0
