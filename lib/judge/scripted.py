"""Evaluation from a script: ``python -m lib evaluate`` makes and answers a run as Evaluate does, and
``python -m lib export-run`` prints a run as one JSON object (for pipelines and CI)."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lib.curate.dataset import Dataset
from lib.db import dataset_store, dataset_versions, provenance_store, run_store
from lib.errors import RunError
from lib.judge import answer_checks, evaluation
from lib.judge.asking import script_provider
from lib.judge.prompts import dataset_prompts, held_out_prompts
from lib.judge.run import Contender, EvalRun, Prompt, RunSettings, prompt_messages, question_of, settings_of, subject_of
from lib.openai_format.jsonl import read_jsonl
from lib.retrieve.passages import source_from_file
from lib.rhymes import SCHEMES
from lib.train.providers import ProviderKind, make_client


@dataclass(frozen=True)
class Request:
    """What ``python -m lib evaluate`` was asked for, as given on the command line."""

    prompts: str  # eval-file:PATH, dataset:NAME or heldout:JOB_ID
    contenders: list[str]  # NAME=MODEL[,shots=K][,passages=K]
    candidate: str
    baseline: str
    provider: ProviderKind = "local"
    knowledge: Path | None = None
    shots_from: str | None = None  # dataset:NAME
    name: str = ""
    temperature: float = 0.0
    max_tokens: int = 120
    seed: int = 0
    checks: str | None = answer_checks.ELLE.name


def parse_contender(text: str) -> Contender:
    """'tuned=ft:…' or 'fewshot=gpt-4o-mini,shots=3' or 'rag=smollm2,passages=3,rhymes=AABBA' as a contender."""
    head, *options = text.split(",")
    name, equals, model = head.partition("=")
    if not equals or not name.strip() or not model.strip():
        raise RunError(f"--contender '{text}': write NAME=MODEL[,shots=K][,passages=K][,rhymes=AABBA].")
    counts, rhymes = {"shots": 0, "passages": 0}, ""
    for option in options:
        key, _, value = (part.strip() for part in option.partition("="))
        if key == "rhymes" and value in SCHEMES:
            rhymes = value
        elif key in counts and value.isdigit():
            counts[key] = int(value)
        else:
            raise RunError(
                f"--contender '{text}': '{option}' is not shots=K or passages=K (K a whole number) "
                f"or rhymes={'|'.join(SCHEMES)}."
            )
    return Contender(name.strip(), model.strip(), counts["shots"], counts["passages"], rhymes=rhymes)


def _dataset(name: str) -> Dataset:
    found = dataset_store.find_dataset(name)
    if found is None:
        known = ", ".join(d.name for d in dataset_store.list_datasets()) or "none yet"
        raise RunError(f"There is no dataset '{name}' in the store (datasets: {known}).")
    return found


def prompts_of(spec: str, provider: str) -> tuple[list[Prompt], str, Dataset | None]:
    """The prompts, a description of where they came from, and the dataset that names them (if any)."""
    kind, _, value = spec.partition(":")
    if kind == "eval-file" and value:
        path = Path(value)
        try:
            parsed = read_jsonl(path.read_bytes())
        except OSError as exc:
            raise RunError(f"--prompts: cannot read {path}: {exc.strerror or exc}") from exc
        found = [
            Prompt(f"{path.name}:{line}", prompt_messages(example))
            for line, example in parsed.importable_examples(include_errors=True)
        ]
        return found, path.name, None
    if kind == "dataset" and value:
        dataset = _dataset(value)
        rows = dataset_store.rows(dataset.id)
        number = dataset_versions.version_number(dataset.id, dataset.version_id)
        return dataset_prompts(rows), f"{dataset.name} v{number}, all examples", dataset
    if kind == "heldout" and value:
        made = provenance_store.job_provenance(provider).get(value)
        if made is None or not made.validation_rows:
            raise RunError(f"--prompts: the store has no {provider} job '{value}' with validation rows held out.")
        number = dataset_versions.version_number(made.dataset_id, made.version_id)
        text = f"{made.dataset_name} v{number}, the validation rows held out by {made.job_id}"
        return held_out_prompts(made), text, None
    raise RunError(f"--prompts '{spec}': give eval-file:PATH, dataset:NAME or heldout:JOB_ID.")


def evaluate(request: Request) -> dict[str, Any]:
    """Make the run in the configured store, answer every prompt with every contender (progress on stderr), run
    the checks pack: the run's id, its number of answers and, per contender, each check's passed/total."""
    contenders = [parse_contender(text) for text in request.contenders]
    labels = [c.label for c in contenders]
    for role, label in (("--candidate", request.candidate), ("--baseline", request.baseline)):
        if label not in labels:
            raise RunError(f"{role} '{label}' is not one of the contenders ({', '.join(labels)}).")
    prompts, source_text, dataset = prompts_of(request.prompts, request.provider)
    if not prompts:
        raise RunError(f"--prompts '{request.prompts}' holds no prompt.")
    if request.checks is not None and request.checks not in answer_checks.PACKS:
        raise RunError(f"--checks: one of {', '.join(sorted(answer_checks.PACKS))}, or none.")
    if request.shots_from and not request.shots_from.startswith("dataset:"):
        raise RunError(f"--shots-from '{request.shots_from}': give dataset:NAME.")
    shots_dataset = _dataset(request.shots_from.partition(":")[2]) if request.shots_from else dataset
    config = script_provider(request.provider)
    pool = evaluation.shot_pool(config.kind, contenders, shots_dataset)
    source = source_from_file(request.knowledge) if request.knowledge else None
    settings = RunSettings(
        temperature=request.temperature, max_tokens=request.max_tokens, seed=request.seed,
        shots_dataset=pool[0] if pool else None, shots_version=pool[1] if pool else None,
        shots_rows=pool[2] if pool else None, checks=request.checks,
        knowledge_source=source.id if source else None, knowledge_version=source.version_id if source else None,
        knowledge_name=source.name if source else "", candidate=request.candidate, baseline=request.baseline,
    )  # fmt: skip
    name = request.name or f"{source_text}: {len(prompts)} prompts"
    run = evaluation.create_run(name, config, source_text, prompts, contenders, settings)

    def progress(done: int, total: int) -> None:
        print(f"\ranswered {done} of {total}", end="\n" if done == total else "", file=sys.stderr, flush=True)

    answered = evaluation.generate(run, make_client(config), config, progress)
    return {"run_id": run.id, "answers": answered, "checks": checks_passed(run)}


def checks_passed(run: EvalRun) -> dict[str, dict[str, str]]:
    """Per contender, each automatic check as 'passed/total' over the answers it applies to."""
    found = answer_checks.pack(settings_of(run).checks)
    if found is None:
        return {}
    questions = {p: question_of(m) for p, m in run_store.run_items(run.id).items()}
    tally: dict[str, dict[str, list[int]]] = {}
    for answer in run_store.run_answers(run.id):
        for check, passed in found.run(questions[answer.position], answer.text).items():
            counts = tally.setdefault(answer.contender, {}).setdefault(check, [0, 0])
            if passed is not None:
                counts[0] += int(passed)
                counts[1] += 1
    return {label: {check: f"{n}/{total}" for check, (n, total) in checks.items()} for label, checks in tally.items()}


def export_run(run_id: int) -> dict[str, Any]:
    """A run as one JSON object: its subject, its few-shot pool and every answer with exactly what was sent."""
    run = next((r for r in run_store.list_runs() if r.id == run_id), None)
    if run is None:
        raise RunError(f"There is no evaluation run {run_id} in the store.")
    settings = settings_of(run)
    candidate, baseline = subject_of(run)
    sources = run_store.run_item_sources(run.id)
    found = answer_checks.pack(settings.checks)
    items = run_store.run_items(run.id)
    answers = []
    for answer in run_store.run_answers(run.id):
        question = question_of(items[answer.position])
        answers.append({
            "contender": answer.contender, "position": answer.position, "prompt_source": sources.get(answer.position),
            "messages": answer.messages, "answer": answer.text, "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens, "latency_s": round(answer.latency_s, 3),
            "checks": found.run(question, answer.text) if found else {},
        })  # fmt: skip
    pool = None if settings.shots_dataset is None else {
        "dataset_id": settings.shots_dataset, "version_id": settings.shots_version, "rows": settings.shots_rows,
    }  # fmt: skip
    return {
        "run_id": run.id, "name": run.name, "settings": asdict(settings), "candidate": candidate,
        "baseline": baseline, "shots_pool": pool, "answers": answers,
    }  # fmt: skip


def judge(run_id: int, model: str, provider: ProviderKind, name: str = "", calibrate: int = 0) -> dict[str, Any]:
    """A model judges a stored run's pairs in both orders (progress on stderr): its votes, what was left out,
    and its agreement with the run's reviewers."""
    from lib.judge import judging
    from lib.judge.judge_agreement import judge_agreement
    from lib.judge.runs import load_run
    from lib.judge.votes import as_ratings

    if not any(r.id == run_id for r in run_store.list_runs()):
        raise RunError(f"There is no evaluation run {run_id} in the store.")
    data = load_run(run_id)
    config = script_provider(provider)

    def progress(done: int, total: int) -> None:
        print(f"\rjudged {done} of {total}", end="\n" if done == total else "", file=sys.stderr, flush=True)

    made = judging.judge_run(data.run, data.items, data.answers, data.ratings, make_client(config), config, model,
                             name, calibrate=calibrate, progress=progress)  # fmt: skip
    votes = load_run(run_id).judges
    mine = next(v for j, v in votes if j.name == made.name)
    rubric = settings_of(data.run).rubric
    found = judge_agreement(made.name, as_ratings(mine), data.ratings, rubric, mine, made.calibration)
    return {
        "run_id": run_id, "judge": made.name, "model": model, "votes": len(mine),
        "no_votes": found["no_votes"], "flips": found["flips"], "calibration": list(made.calibration),
        "prompt_tokens": sum(v.prompt_tokens for v in mine),
        "completion_tokens": sum(v.completion_tokens for v in mine),
        "cost_usd": round(sum(v.cost_usd for v in mine), 6), "seconds": round(sum(v.latency_s for v in mine), 3),
        "agreement": {k: found[k] for k in ("items", "split", "agreement", "kappa", "kappa_low", "kappa_high",
                                            "position_bias", "criteria")},
    }  # fmt: skip


@dataclass(frozen=True)
class CheckRequest:
    """What ``python -m lib check-preferences`` was asked for."""

    prompts: str  # run:ID or dataset:NAME
    model: str
    provider: ProviderKind = "local"
    checks: str | None = None  # None: the run's pack (Elle's for a dataset)
    n: int = 4
    temperature: float = 0.9
    max_pairs: int = 2
    max_tokens: int = 120


def preferences_from_checks(request: CheckRequest) -> dict[str, Any]:
    """n answers per prompt from the model (with the passages it was trained with), paired by the checks they pass
    into a new preference dataset, as Scorecard's "Preferences from automatic checks" makes it (progress on
    stderr). ``dataset`` is None when no two answers differ in the checks they pass."""
    from lib.judge import check_preferences as made_from
    from lib.train import jobs

    if not 2 <= request.n <= 20 or request.max_pairs < 1:
        raise RunError("--n must be 2 to 20 and --max-pairs at least 1.")
    config = script_provider(request.provider)
    trained = jobs.trained_with(config.kind, request.model)
    kind, _, value = request.prompts.partition(":")
    if kind == "run" and value.isdigit():
        run = next((r for r in run_store.list_runs() if r.id == int(value)), None)
        if run is None:
            raise RunError(f"There is no evaluation run {value} in the store.")
        items, settings, origin = run_store.run_items(run.id), settings_of(run), made_from.run_origin(run)
    elif kind == "dataset" and value:
        dataset = _dataset(value)
        items = made_from.dataset_items(dataset_store.rows(dataset.id))
        settings = RunSettings(checks=answer_checks.ELLE.name)
        if trained is not None:
            settings = RunSettings(knowledge_source=trained.source_id, knowledge_version=trained.version_id,
                                   knowledge_name=trained.source_name, checks=settings.checks)  # fmt: skip
        origin = made_from.dataset_origin(dataset, dataset_versions.version_number(dataset.id, dataset.version_id))
    else:
        raise RunError(f"--prompts '{request.prompts}': give run:ID (a stored run) or dataset:NAME.")
    pack = answer_checks.pack(request.checks or settings.checks)
    if pack is None:
        raise RunError(f"--checks: give one of {', '.join(sorted(answer_checks.PACKS))} (this run chose none).")
    asked = made_from.prompts_for(request.model, items, settings, trained.k if trained else 0)

    def progress(done: int, total: int) -> None:
        print(f"\rsampled {done} of {total}", end="\n" if done == total else "", file=sys.stderr, flush=True)

    samples = made_from.sample(make_client(config), config, request.model, asked, request.n, request.temperature,
                               request.max_tokens, progress)  # fmt: skip
    texts = made_from.texts_of(samples)
    found = made_from.make_pairs(asked, texts, pack, request.max_pairs)
    dataset_made = made_from.make_dataset_from(origin, request.model, found.found) if found.found else None
    return {
        "dataset": dataset_made.name if dataset_made else None, "pairs": len(found.found), "prompts": found.prompts,
        "answers": sum(len(t) for t in texts.values()), "left_out": found.left_out(), "all_tied": found.all_tied,
    }  # fmt: skip
