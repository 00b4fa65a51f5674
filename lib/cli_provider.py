"""The commands that ask a model provider (python -m lib judge | export-model | train | ask | draft | evaluate |
export-run | check-preferences): each imports the SDK and its step only when it runs."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable

from lib.errors import StudioError
from lib.words import plural


def _judge(args: argparse.Namespace) -> int:
    from lib.judge import scripted  # the SDK: only for this command

    try:
        found = scripted.judge(args.run, args.model, args.provider, args.name, args.calibrate)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(found, ensure_ascii=False, allow_nan=False))
        return 0
    agreement = found["agreement"]
    kappa = "undefined" if agreement["kappa"] is None else f"{agreement['kappa']:.2f}"
    print(f"{found['judge']} judged {plural(found['votes'], 'pair')} of run {found['run_id']} in both orders: "
          f"{plural(found['no_votes'], 'no vote')}, {plural(found['flips'], 'flip')}; "
          f"κ against people {kappa} over {plural(agreement['items'], 'item')}.")  # fmt: skip
    return 0


def _export_model(args: argparse.Namespace) -> int:
    from lib.train import local_client

    try:
        written = local_client.export_model(args.model, args.format, args.quant, args.out)
    except (OSError, StudioError) as exc:
        print(f"error: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}", file=sys.stderr)
        return 2
    print(f"Wrote {written} ({written.stat().st_size / 2**20:,.1f} MB)")
    return 0


def _compatible(args: argparse.Namespace) -> str | None:
    """--base-url and --api-key-env into the variables the compatible provider reads; what is wrong, if anything."""
    from lib.train.providers import ENVIRONMENT

    if args.base_url:
        os.environ[ENVIRONMENT["compatible_url"]] = args.base_url
    if args.api_key_env:
        if not os.environ.get(args.api_key_env):
            return f"--api-key-env {args.api_key_env}: that variable is not set"
        os.environ[ENVIRONMENT["compatible_key"]] = os.environ[args.api_key_env]
    if args.provider == "compatible" and not os.environ.get(ENVIRONMENT["compatible_url"]):
        return "--provider compatible needs --base-url URL (or STUDIO_COMPATIBLE_URL)"
    return None


def _train(args: argparse.Namespace) -> int:
    """Exit 0 when the job succeeds, 1 when it fails or is cancelled, 2 for bad input or a provider that cannot
    train."""
    from lib.judge.asking import script_provider
    from lib.train import scripted
    from lib.train.providers import make_client

    request = scripted.TrainRequest(
        args.file, args.model, args.knowledge, args.passages, args.template, args.distractors, args.epochs,
        args.suffix, args.validation, args.seed,
    )  # fmt: skip
    try:
        config = script_provider(args.provider)
        client = make_client(config)
        job = scripted.start(client, config, request)
        print(f"Started {job.id} on {config.name}.", file=sys.stderr)
    except (OSError, StudioError) as exc:
        print(f"error: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}", file=sys.stderr)
        return 2
    try:
        job = scripted.follow(client, config, job)
    except StudioError as exc:
        print(f"error: following {job.id}: {exc}", file=sys.stderr)
        return 1
    found = {"job_id": job.id, "status": job.status, "fine_tuned_model": job.fine_tuned_model}
    if args.json:
        print(json.dumps(found))
    else:
        print(f"{job.id} {job.status}" + (f": {job.fine_tuned_model}" if job.fine_tuned_model else ""))
    if job.status != "succeeded" and job.error is not None and job.error.message:
        print(f"error: {job.error.message}", file=sys.stderr)
    return 0 if job.status == "succeeded" else 1


def _ask(args: argparse.Namespace) -> int:
    from lib.judge import asking  # the SDK and bm25s: only for this command

    if (problem := _compatible(args)) is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    try:
        question = asking.Question(
            args.model, args.user, args.system, args.shots, args.examples, args.knowledge, args.passages,
            args.template, args.provider, args.temperature, args.max_tokens, args.rhymes or "",
        )  # fmt: skip
        found = asking.ask_once(question)
    except (OSError, StudioError) as exc:
        message = f"cannot use {exc.filename}: {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
        return 0
    print(found["answer"])
    print(f"\n{found['prompt_tokens']} prompt + {found['completion_tokens']} completion tokens, {found['latency_s']} s")
    for number, hit in enumerate(found["retrieved"], start=1):
        print(f"[{number}] {hit['source']} (score {hit['score']}): {hit['text']}")
    return 0


def _draft(args: argparse.Namespace) -> int:
    from lib.curate import draft_estimate, drafts  # the SDK and bm25s: only for this command
    from lib.train.providers import make_client

    if (problem := _compatible(args)) is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    settings = drafts.DraftSettings(question_tokens=min(80, args.max_tokens), answer_tokens=args.max_tokens)
    request = drafts.FileRequest(args.examples, args.n, args.model, args.knowledge, args.provider, args.seeds, settings)
    try:
        plan = drafts.plan_files(request)
    except (OSError, StudioError) as exc:
        message = f"cannot use {exc.filename}: {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
    found = draft_estimate.estimate(plan.config, args.model, plan.seeds, plan.passages.passages, args.n, args.seeds)
    print(f"Drafting {plural(args.n, 'example')} with {args.model}. {found.sentence(args.model)}", file=sys.stderr)

    def emit(draft: drafts.Draft) -> None:
        print(json.dumps(draft.example, ensure_ascii=False), flush=True)
        print(f"  {draft.note}", file=sys.stderr)

    result = drafts.draft_examples(
        make_client(plan.config), plan.config, args.model, plan.seeds, plan.passages.passages, args.n,
        lambda done, total: print(f"{done}/{total}", file=sys.stderr), k=args.seeds, settings=settings,
        source_name=args.knowledge.name if args.knowledge else "", on_draft=emit,
    )  # fmt: skip
    print(result.sentence(), file=sys.stderr)
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
        return 2
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from lib.judge import scripted  # the SDK: only for these commands

    try:
        if args.command == "export-run":
            print(json.dumps(scripted.export_run(args.run_id), ensure_ascii=False))
            return 0
        request = scripted.Request(
            args.prompts, args.contender, args.candidate, args.baseline, args.provider, args.knowledge,
            args.shots_from, args.name, args.temperature, args.max_tokens, args.seed,
            None if args.checks == "none" else args.checks,
        )  # fmt: skip
        found = scripted.evaluate(request)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
        return 0
    print(f"Run {found['run_id']}: {plural(found['answers'], 'answer')}.")
    for contender, checks in found["checks"].items():
        print(f"{contender}: " + ", ".join(f"{check} {passed}" for check, passed in checks.items()))
    return 0


def _check_preferences(args: argparse.Namespace) -> int:
    """Exit 0 when a preference dataset was made, 1 when no two answers differed in the checks they pass, 2 for bad
    input."""
    from lib.judge import scripted  # the SDK: only for this command

    request = scripted.CheckRequest(args.prompts, args.model, args.provider, args.checks, args.n, args.temperature,
                                    args.max_pairs, args.max_tokens)  # fmt: skip
    try:
        found = scripted.preferences_from_checks(request)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
    elif found["dataset"]:
        print(f"Made “{found['dataset']}”: {plural(found['pairs'], 'preference pair')} from "
              f"{plural(found['prompts'], 'prompt')} ({plural(found['answers'], 'answer')}; left out: "
              f"{found['left_out']}).")  # fmt: skip
    else:
        print(f"No two of the {plural(found['answers'], 'answer')} differ in the checks they pass (left out: "
              f"{found['left_out']}): sample more, or at a higher temperature.", file=sys.stderr)  # fmt: skip
    return 0 if found["dataset"] else 1


PROVIDER_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "judge": _judge, "export-model": _export_model, "train": _train, "ask": _ask, "draft": _draft,
    "evaluate": _evaluate, "export-run": _evaluate, "check-preferences": _check_preferences,
}  # fmt: skip
