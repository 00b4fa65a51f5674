"""Contenders, prompt sets, answers and who rates what: the plain logic behind Compare, Evaluate and Rate."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletionMessageParam

from lib.curate import doctor
from lib.curate.dataset import Row
from lib.db import dataset_store, price_store, provenance_store, run_store
from lib.errors import RunError, StudioError
from lib.judge.run import EvalRun, StoredAnswer
from lib.openai_format.examples import conversation
from lib.openai_format.jsonl import read_jsonl
from lib.price import pricing
from lib.retrieve import search
from lib.retrieve.search import Hit
from lib.settings import SAMPLE_DIR
from lib.train.provenance import Provenance
from lib.train.providers import ProviderConfig, calling

EVAL_FILE = SAMPLE_DIR / "limericks-eval.jsonl"
DEFAULT_RUBRIC = ["Follows the limerick form", "Factually correct", "Pleasant to read"]
TIE = "tie"


@dataclass(frozen=True)
class Contender:
    """A model as it is asked: with ``shots`` examples from a dataset in its prompt (a few-shot baseline) or bare."""

    label: str
    model: str
    shots: int = 0
    passages: int = 0  # passages retrieved from the run's knowledge source into its prompt
    tuned: bool = False  # a fine-tuned model (recorded when the run is made, from the jobs that made models)
    job_id: str = ""  # the fine-tuning job that made it, where the app launched that job

    @property
    def kind(self) -> str:
        """The approach it stands for: base, few-shot, tuned, base + retrieval, tuned + retrieval."""
        if self.shots:
            return "few-shot"
        model = "tuned" if self.tuned else "base"
        return f"{model} + retrieval" if self.passages else model


@dataclass(frozen=True)
class RunSettings:
    temperature: float = 0.0
    max_tokens: int = 120
    seed: int = 0
    rubric: list[str] = field(default_factory=lambda: list(DEFAULT_RUBRIC))
    shots_dataset: int | None = None  # where a few-shot contender's examples come from
    shots_version: int | None = None
    shots_rows: list[int] | None = None  # the pool: row ids of that version (None: runs made before pools)
    checks: str | None = "elle"  # the answer-check pack (lib.judge.answer_checks); None: no automatic checks
    margin: float = 0.05  # the verdict's equivalence margin around an even split
    repeat_share: float = 0.1  # share of items each reviewer sees a second time, sides swapped
    guideline: str = ""  # shown to reviewers above every item; empty: one made from the rubric
    knowledge_source: int | None = None  # where retrieval contenders' passages come from
    knowledge_version: int | None = None
    knowledge_name: str = ""
    candidate: str = ""  # the contender being judged (usually the tuned model), by label
    baseline: str = ""  # the contender it is judged against


def guideline_of(settings: RunSettings) -> str:
    """What reviewers read before rating: the run's own guideline, or one made from its rubric."""
    if settings.guideline.strip():
        return settings.guideline.strip()
    criteria = "; ".join(c.lower() for c in settings.rubric)
    return (
        "Read the prompt, then both answers. Pick the answer that serves the person asking better (a tie when "
        f"neither does), and score each answer from 1 (poor) to 5 (excellent) on: {criteria}. Judge the answers, "
        "not their length; if you are unsure, skip the item and come back to it later."
    )


def default_label(model: str, shots: int, passages: int = 0) -> str:
    """A short name: 'gpt-4o-mini (3-shot)', 'gpt-4o-mini + 3 passages', or 'tuned elle:abc123' for
    'ft:gpt-4o-mini:org:elle:abc123'."""
    name = model
    if model.startswith("ft:"):
        name = "tuned " + ":".join(part for part in model.split(":")[3:] if part)
    if shots:
        name = f"{name} ({shots}-shot)"
    return f"{name} + {passages} passages" if passages else name


def prompt_messages(example: Any) -> list[dict[str, Any]]:
    """An example as a prompt: its messages up to (not including) the last assistant turn."""
    messages = [dict(m) for m in conversation(example)]
    while messages and messages[-1].get("role") == "assistant":
        messages.pop()
    return [{k: v for k, v in m.items() if k in ("role", "content", "name")} for m in messages]


def question_of(prompt: list[dict[str, Any]]) -> str:
    """The last user message of a prompt: what is being asked."""
    return next((str(m["content"]) for m in reversed(prompt) if m["role"] == "user"), "")


def earlier_turns(prompt: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The user and assistant turns before the last user message: what "it" in a follow-up question refers to."""
    last = max((i for i, m in enumerate(prompt) if m["role"] == "user"), default=0)
    return [m for m in prompt[:last] if m["role"] in ("user", "assistant")]


class PromptSource(StrEnum):
    """Where an evaluation run's prompts come from."""

    EVAL_FILE = "eval_file"  # Elle's held-out questions
    HELD_OUT = "held_out"  # the validation rows a training job held out, as Train recorded them
    DATASET = "dataset"  # every example of a dataset version


@dataclass(frozen=True)
class Prompt:
    """One prompt of a run and where it came from ("limericks-eval.jsonl:3", "row:123")."""

    source: str
    messages: list[dict[str, Any]]


def eval_file_prompts() -> list[Prompt]:
    """Elle's held-out questions (data/limericks-eval.jsonl)."""
    parsed = read_jsonl(EVAL_FILE.read_bytes())
    return [
        Prompt(f"{EVAL_FILE.name}:{line}", prompt_messages(example))
        for line, example in parsed.importable_examples(include_errors=True)
    ]


def dataset_prompts(rows: Sequence[Row]) -> list[Prompt]:
    """Every row of a dataset version as a prompt."""
    return [Prompt(f"row:{row.id}", prompt_messages(row.example)) for row in rows]


def held_out_prompts(made: Provenance) -> list[Prompt]:
    """The exact rows a training job held out for validation, read from its record (never re-derived)."""
    by_id = {row.id: row for row in dataset_store.rows_at(made.dataset_id, made.version_id)}
    return [Prompt(f"row:{i}", prompt_messages(by_id[i].example)) for i in made.validation_rows if i in by_id]


def training_overlap(provider: str, contenders: Sequence[Contender], prompts: Sequence[Prompt]) -> list[str]:
    """A warning for each tuned contender trained on some of these prompts: its answers to them flatter it."""
    questions = [(p.source, question_of(p.messages)) for p in prompts]
    said = []
    for contender in contenders:
        made = provenance_store.provenance_of_model(provider, contender.model)
        if made is None or not made.training_rows:
            continue
        by_id = {row.id: row for row in dataset_store.rows_at(made.dataset_id, made.version_id)}
        trained = [(n, by_id[i].example) for n, i in enumerate(made.training_rows, start=1) if i in by_id]
        if found := doctor.eval_overlap_of(trained, questions):
            said.append(
                f"{contender.label} was trained on {len(found)} of these prompts ({made.dataset_name} "
                f"v{made.version_id}): its answers to them flatter it. Remove them from the dataset with the "
                "doctor on Examples and train again, or choose other prompts."
            )
    return said


def _same_question(a: Any, b: Any) -> bool:
    return " ".join(str(a).split()).casefold() == " ".join(str(b).split()).casefold()


def shot_pairs(examples: Sequence[Any], k: int, seed: int, asked: str = "") -> list[dict[str, Any]]:
    """k question/answer pairs picked (repeatably) from training examples, as chat messages; none asks ``asked``
    (the prompt being answered), so a few-shot contender is never shown the answer it is asked for."""
    single = [conversation(e) for e in examples]
    usable = [[m for m in c if m.get("role") in ("user", "assistant")][-2:] for c in single]
    usable = [pair for pair in usable if [m.get("role") for m in pair] == ["user", "assistant"]]
    if asked:
        usable = [pair for pair in usable if not _same_question(pair[0].get("content"), asked)]
    chosen = random.Random(seed).sample(usable, min(k, len(usable)))
    return [{"role": m["role"], "content": m["content"]} for pair in chosen for m in pair]


def request_messages(prompt: list[dict[str, Any]], shots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The prompt with few-shot pairs placed after its system message."""
    system = [m for m in prompt if m["role"] == "system"]
    rest = [m for m in prompt if m["role"] != "system"]
    return system + shots + rest


@dataclass(frozen=True)
class Answer:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cost_usd: float


def answer_cost(config: ProviderConfig, contender: Contender, prompt_tokens: int, completion_tokens: int) -> float:
    """What one answer costs at the listed prices (0 on the local provider, or for a model with no price)."""
    if config.kind == "local":
        return 0.0
    try:
        info = pricing.resolve(contender.model, pricing.models(price_store.price_overrides()))
    except StudioError:
        return 0.0
    input_price = info.tuned_input if contender.tuned else info.base_input
    output_price = info.tuned_output if contender.tuned else info.base_output
    return (prompt_tokens * input_price + completion_tokens * output_price) / 1_000_000


def ask(
    client: openai.OpenAI,
    config: ProviderConfig,
    contender: Contender,
    messages: list[dict[str, Any]],
    settings: RunSettings,
) -> Answer:
    """One chat completion, timed, with its tokens and cost."""
    started = time.perf_counter()
    with calling(config):
        response = client.chat.completions.create(
            model=contender.model,
            messages=cast(list[ChatCompletionMessageParam], messages),
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            seed=settings.seed,
        )
    latency = time.perf_counter() - started
    usage = response.usage
    prompt_tokens = usage.prompt_tokens if usage else 0
    completion_tokens = usage.completion_tokens if usage else 0
    return Answer(
        response.choices[0].message.content or "",
        prompt_tokens,
        completion_tokens,
        latency,
        answer_cost(config, contender, prompt_tokens, completion_tokens),
    )


def ask_streaming(
    client: openai.OpenAI,
    config: ProviderConfig,
    contender: Contender,
    messages: list[dict[str, Any]],
    settings: RunSettings,
    on_text: Callable[[str], object],
) -> Answer:
    """One chat completion, streamed: ``on_text`` is called with the answer so far as it grows. Timed (to the
    last token), with its tokens and cost, as ``ask``."""
    started = time.perf_counter()
    text, prompt_tokens, completion_tokens = "", 0, 0
    with calling(config):
        stream = client.chat.completions.create(
            model=contender.model,
            messages=cast(list[ChatCompletionMessageParam], messages),
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            seed=settings.seed,
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.usage is not None:
                prompt_tokens, completion_tokens = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
            piece = "".join(choice.delta.content or "" for choice in chunk.choices if choice.delta)
            if piece:
                text += piece
                on_text(text)
    latency = time.perf_counter() - started
    cost = answer_cost(config, contender, prompt_tokens, completion_tokens)
    return Answer(text, prompt_tokens, completion_tokens, latency, cost)


def contender_messages(
    contender: Contender, prompt: list[dict[str, Any]], shots: list[dict[str, Any]], settings: RunSettings
) -> tuple[list[dict[str, Any]], list[Hit]]:
    """What a contender is sent for one prompt: few-shot pairs and retrieved passages added; and those passages."""
    messages = request_messages(prompt, shots)
    if not contender.passages or settings.knowledge_version is None:
        return messages, []
    hits = search.retrieve(settings.knowledge_version, question_of(prompt), contender.passages)
    return search.with_passages(messages, hits, settings.knowledge_name or "the knowledge source"), hits


def shots_for(settings: RunSettings) -> list[Any]:
    """The examples few-shot contenders draw from: the run's recorded pool of rows of its dataset version (runs
    made before pools were recorded: the whole version)."""
    if settings.shots_dataset is None or settings.shots_version is None:
        return []
    rows = {row.id: row for row in dataset_store.rows_at(settings.shots_dataset, settings.shots_version)}
    pool = settings.shots_rows if settings.shots_rows is not None else list(rows)
    return [rows[i].example for i in pool if i in rows]


def shot_pool(provider: str, contenders: Sequence[Contender], dataset: Any | None) -> tuple[int, int, list[int]] | None:
    """Where few-shot contenders take their examples from, as (dataset id, version id, row ids): the training rows
    recorded for the job behind the run's tuned contender, so never one of its validation rows; without such a
    job, every row of ``dataset`` (the chosen dataset). None when there is neither."""
    for contender in contenders:
        made = provenance_store.provenance_of_model(provider, contender.model)
        if made is not None and made.training_rows:
            return made.dataset_id, made.version_id, list(made.training_rows)
    if dataset is None:
        return None
    return dataset.id, dataset.version_id, [row.id for row in dataset_store.rows_at(dataset.id, dataset.version_id)]


def describe_settings(settings: RunSettings) -> str:
    """A run's settings as a person reads them."""
    checks = "no automatic checks" if settings.checks is None else f"checks: {settings.checks}"
    knowledge = f" · passages from “{settings.knowledge_name}”" if settings.knowledge_version is not None else ""
    return (
        f"temperature {settings.temperature:g} · up to {settings.max_tokens} tokens · seed {settings.seed} · "
        f"rubric: {'; '.join(settings.rubric)} · {checks} · margin {settings.margin:.0%} · "
        f"{settings.repeat_share:.0%} of items shown twice{knowledge}"
    )


def contenders_of(run: EvalRun) -> list[Contender]:
    found = []
    for recorded in run.contenders:
        if "tuned" not in recorded:  # a run made before contenders recorded it: OpenAI's and ours are named ft:…
            recorded = recorded | {"tuned": str(recorded["model"]).startswith("ft:")}
        found.append(Contender(**recorded))
    return found


def default_subject(contenders: Sequence[Contender]) -> tuple[str | None, str | None]:
    """The default candidate and baseline: the first tuned contender, judged against a few-shot one if any, else
    the bare base model."""
    tuned = next((c.label for c in contenders if c.kind == "tuned"), None)
    baseline = next((c.label for c in contenders if c.kind == "few-shot"), None) or next(
        (c.label for c in contenders if c.kind == "base"), None
    )
    return tuned, baseline


def subject_of(run: EvalRun) -> tuple[str | None, str | None]:
    """The run's recorded candidate and baseline (runs made before they were recorded: the defaults)."""
    settings = settings_of(run)
    if settings.candidate and settings.baseline:
        return settings.candidate, settings.baseline
    return default_subject(contenders_of(run))


def recorded_contenders(provider: str, contenders: Sequence[Contender]) -> list[Contender]:
    """The contenders with what the record knows: whether each model was fine-tuned, and by which job."""
    found = []
    for contender in contenders:
        made = provenance_store.provenance_of_model(provider, contender.model)
        if made is not None:
            contender = replace(contender, tuned=True, job_id=made.job_id)
        found.append(contender)
    return found


def settings_of(run: EvalRun) -> RunSettings:
    return RunSettings(**run.settings)


def create_run(
    name: str,
    config: ProviderConfig,
    prompt_source: str,
    prompts: Sequence[Prompt],
    contenders: Sequence[Contender],
    settings: RunSettings,
    reviews_needed: int = 2,
) -> EvalRun:
    labels = [c.label for c in contenders]
    if len(contenders) < 2:
        raise RunError("Choose at least two contenders to compare.")
    if len(set(labels)) != len(labels):
        raise RunError("Two contenders have the same name: give each its own.")
    if TIE in labels:
        raise RunError(f"'{TIE}' cannot be a contender's name.")
    if any(c.shots for c in contenders) and settings.shots_dataset is None:
        raise RunError("A few-shot contender needs a dataset to take its examples from.")
    if any(c.passages for c in contenders) and settings.knowledge_version is None:
        raise RunError("A retrieval contender needs a knowledge source: add one on the Knowledge screen.")
    contenders = recorded_contenders(config.kind, contenders)
    candidate, baseline = settings.candidate, settings.baseline
    if candidate or baseline:
        if candidate not in labels or baseline not in labels:
            raise RunError("The candidate and the baseline must both be contenders of the run.")
        if candidate == baseline:
            raise RunError("The candidate and the baseline must be two different contenders.")
    else:
        found = default_subject(contenders)
        settings = replace(settings, candidate=found[0] or "", baseline=found[1] or "")
    return run_store.create_run(
        name,
        config.kind,
        prompt_source,
        asdict(settings),
        [asdict(c) for c in contenders],
        [(p.source, p.messages) for p in prompts],
        reviews_needed=reviews_needed,
    )


def generate(
    run: EvalRun,
    client: openai.OpenAI,
    config: ProviderConfig,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> int:
    """Answer every prompt with every contender; each answer is saved as it arrives, so a stopped run resumes."""
    settings = settings_of(run)
    items = run_store.run_items(run.id)
    contenders = contenders_of(run)
    done = {(a.position, a.contender) for a in run_store.run_answers(run.id)}
    examples = shots_for(settings)
    total = len(items) * len(contenders)
    count = len(done)
    for position, prompt in items.items():
        for contender in contenders:
            if (position, contender.label) in done:
                continue
            asked = question_of(prompt)
            shots = shot_pairs(examples, contender.shots, settings.seed + position, asked) if contender.shots else []
            messages, hits = contender_messages(contender, prompt, shots, settings)
            answer = ask(client, config, contender, messages, settings)
            passages = tuple(hit.to_dict() for hit in hits)
            stored = StoredAnswer(position, contender.label, **asdict(answer), passages=passages, messages=messages)
            run_store.save_answer(run.id, stored)
            count += 1
            progress(count, total)
    return count
