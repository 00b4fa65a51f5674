"""Contenders, prompt sets, answers and who rates what: the plain logic behind Compare, Evaluate and Rate."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletionMessageParam

from lib import pricing, store
from lib.errors import DatasetError, StudioError
from lib.examples import conversation
from lib.formats import read_jsonl
from lib.paths import SAMPLE_DIR
from lib.providers import ProviderConfig, calling
from lib.store import EvalRun, Rating, Row, StoredAnswer
from lib.training import EXAMPLE_CHOICES, LaunchSettings, chosen_rows, split_rows

EVAL_FILE = SAMPLE_DIR / "limericks-eval.jsonl"
DEFAULT_RUBRIC = ["Follows the limerick form", "Factually correct", "Pleasant to read"]
TIE = "tie"


@dataclass(frozen=True)
class Contender:
    """A model as it is asked: with ``shots`` examples from a dataset in its prompt (a few-shot baseline) or bare."""

    label: str
    model: str
    shots: int = 0

    @property
    def kind(self) -> str:
        if self.shots:
            return "few-shot"
        return "tuned" if self.model.startswith("ft:") else "base"


@dataclass(frozen=True)
class Settings:
    temperature: float = 0.0
    max_tokens: int = 120
    seed: int = 0
    rubric: list[str] = field(default_factory=lambda: list(DEFAULT_RUBRIC))
    shots_dataset: int | None = None  # where a few-shot contender's examples come from
    shots_version: int | None = None


def default_label(model: str, shots: int) -> str:
    """A short name: 'gpt-4o-mini (3-shot)', or 'tuned elle:abc123' for 'ft:gpt-4o-mini:org:elle:abc123'."""
    name = model
    if model.startswith("ft:"):
        name = "tuned " + ":".join(part for part in model.split(":")[3:] if part)
    return f"{name} ({shots}-shot)" if shots else name


def prompt_messages(example: Any) -> list[dict[str, Any]]:
    """An example as a prompt: its messages up to (not including) the last assistant turn."""
    messages = [dict(m) for m in conversation(example)]
    while messages and messages[-1].get("role") == "assistant":
        messages.pop()
    return [{k: v for k, v in m.items() if k in ("role", "content", "name")} for m in messages]


def question_of(prompt: list[dict[str, Any]]) -> str:
    """The last user message of a prompt: what is being asked."""
    return next((str(m["content"]) for m in reversed(prompt) if m["role"] == "user"), "")


def eval_file_prompts() -> list[list[dict[str, Any]]]:
    """Elle's held-out questions (data/limericks-eval.jsonl)."""
    return [
        prompt_messages(example)
        for _, example in read_jsonl(EVAL_FILE.read_bytes()).importable_examples(include_errors=True)
    ]


def validation_prompts(rows: Sequence[Row], share: float, seed: int) -> list[list[dict[str, Any]]]:
    """The prompts Train held out for validation with this share and seed (from all but the rejected rows)."""
    settings = LaunchSettings("", EXAMPLE_CHOICES[0], share, seed=seed)
    _, held_out = split_rows(chosen_rows(rows, settings.examples), settings)
    return [prompt_messages(row.example) for row in held_out]


def shot_pairs(examples: Sequence[Any], k: int, seed: int) -> list[dict[str, Any]]:
    """k question/answer pairs picked (repeatably) from training examples, as chat messages."""
    single = [conversation(e) for e in examples]
    usable = [[m for m in c if m.get("role") in ("user", "assistant")][-2:] for c in single]
    usable = [pair for pair in usable if [m.get("role") for m in pair] == ["user", "assistant"]]
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


def answer_cost(config: ProviderConfig, model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """What one answer costs at the listed prices (0 on the local provider, or for a model with no price)."""
    if config.kind == "local":
        return 0.0
    try:
        info = pricing.resolve(model)
    except StudioError:
        return 0.0
    tuned = model.startswith("ft:")
    input_price = info.tuned_input if tuned else info.base_input
    output_price = info.tuned_output if tuned else info.base_output
    return (prompt_tokens * input_price + completion_tokens * output_price) / 1_000_000


def ask(
    client: openai.OpenAI,
    config: ProviderConfig,
    contender: Contender,
    messages: list[dict[str, Any]],
    settings: Settings,
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
        answer_cost(config, contender.model, prompt_tokens, completion_tokens),
    )


def shots_for(settings: Settings) -> list[Any]:
    """The examples few-shot contenders draw from (the dataset version stored with the run)."""
    if settings.shots_dataset is None or settings.shots_version is None:
        return []
    return [row.example for row in store.rows_at(settings.shots_dataset, settings.shots_version)]


def contenders_of(run: EvalRun) -> list[Contender]:
    return [Contender(**c) for c in run.contenders]


def settings_of(run: EvalRun) -> Settings:
    return Settings(**run.settings)


def create_run(
    name: str,
    config: ProviderConfig,
    prompt_source: str,
    prompts: list[list[dict[str, Any]]],
    contenders: Sequence[Contender],
    settings: Settings,
) -> EvalRun:
    labels = [c.label for c in contenders]
    if len(contenders) < 2:
        raise DatasetError("Choose at least two contenders to compare.")
    if len(set(labels)) != len(labels):
        raise DatasetError("Two contenders have the same name: give each its own.")
    if TIE in labels:
        raise DatasetError(f"'{TIE}' cannot be a contender's name.")
    if any(c.shots for c in contenders) and settings.shots_dataset is None:
        raise DatasetError("A few-shot contender needs a dataset to take its examples from.")
    return store.create_run(
        name, config.kind, prompt_source, asdict(settings), [asdict(c) for c in contenders], prompts
    )


def generate(
    run: EvalRun,
    client: openai.OpenAI,
    config: ProviderConfig,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> int:
    """Answer every prompt with every contender; each answer is saved as it arrives, so a stopped run resumes."""
    settings = settings_of(run)
    items = store.run_items(run.id)
    contenders = contenders_of(run)
    done = {(a.position, a.contender) for a in store.run_answers(run.id)}
    examples = shots_for(settings)
    total = len(items) * len(contenders)
    count = len(done)
    for position, prompt in items.items():
        for contender in contenders:
            if (position, contender.label) in done:
                continue
            shots = shot_pairs(examples, contender.shots, settings.seed + position) if contender.shots else []
            answer = ask(client, config, contender, request_messages(prompt, shots), settings)
            store.save_answer(run.id, StoredAnswer(position, contender.label, *asdict(answer).values()))
            count += 1
            progress(count, total)
    return count


# ---- who rates what -------------------------------------------------------------------------


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


@dataclass(frozen=True)
class Assignment:
    position: int
    left: str
    right: str


def pair_for(run: EvalRun, position: int) -> tuple[str, str]:
    """The pair of contenders compared on an item: the same for every reviewer, so reviewers can be compared."""
    pairs = list(combinations([c["label"] for c in run.contenders], 2))
    offset = _seed(run.id, "pairs") % len(pairs)
    return pairs[(position + offset) % len(pairs)]


def assignments(run: EvalRun, reviewer: str) -> list[Assignment]:
    """A reviewer's items in their own random order, each pair's sides drawn per item and reviewer."""
    positions = sorted(store.run_items(run.id))
    key = reviewer.strip().casefold()
    random.Random(_seed(run.id, key)).shuffle(positions)
    result = []
    for position in positions:
        first, second = pair_for(run, position)
        if _seed(run.id, key, position) % 2:
            first, second = second, first
        result.append(Assignment(position, first, second))
    return result


def next_assignment(run: EvalRun, reviewer: str) -> tuple[Assignment | None, int, int]:
    """The reviewer's next unrated item (None when done), how many they rated and how many there are."""
    rated = {r.position for r in store.run_ratings(run.id, reviewer)}
    queue = assignments(run, reviewer)
    upcoming = next((a for a in queue if a.position not in rated), None)
    return upcoming, len(rated), len(queue)


def rate(
    run: EvalRun, reviewer: str, assignment: Assignment, choice: str, scores: dict[str, list[int]], note: str = ""
) -> Rating:
    """Save a rating: ``choice`` is "A" (left), "B" (right) or "tie"."""
    winner = {"A": assignment.left, "B": assignment.right}.get(choice, TIE)
    rubric = settings_of(run).rubric
    for label in (assignment.left, assignment.right):
        marks = scores.get(label, [])
        if len(marks) != len(rubric) or any(not 1 <= m <= 5 for m in marks):
            raise DatasetError(f"Score each answer 1 to 5 on all {len(rubric)} criteria.")
    rating = Rating(run.id, reviewer, assignment.position, assignment.left, assignment.right, winner, scores, note)
    store.save_rating(rating)
    return rating
