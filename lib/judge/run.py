"""The evaluation run's domain: its contenders and settings, where its prompts come from, the run itself, its
stored answers and reviewers' ratings, and how a run's record is read (its contenders, settings and subject).

Plain, immutable values and pure functions: the store (lib/db/run_store.py) reads and writes runs, answers and
ratings; evaluation.py answers a run's prompts, the scorecard and Rate read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lib.openai_format.examples import conversation

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
    rhymes: str = ""  # a rhyme scheme its lines are made to end on (local provider, lib.local.rhyme_guide); "": none

    @property
    def kind(self) -> str:
        """The approach it stands for: base, few-shot, tuned, base + retrieval, tuned + retrieval (+ rhymes)."""
        if self.shots:
            kind = "few-shot"
        else:
            model = "tuned" if self.tuned else "base"
            kind = f"{model} + retrieval" if self.passages else model
        return f"{kind} + rhymes" if self.rhymes else kind


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


def default_label(model: str, shots: int, passages: int = 0, rhymes: str = "") -> str:
    """A short name: 'gpt-4o-mini (3-shot)', 'gpt-4o-mini + 3 passages', 'tuned elle:abc123' for
    'ft:gpt-4o-mini:org:elle:abc123', with ' + rhymes' when its lines are made to rhyme."""
    name = model
    if model.startswith("ft:"):
        name = "tuned " + ":".join(part for part in model.split(":")[3:] if part)
    if shots:
        name = f"{name} ({shots}-shot)"
    if passages:
        name = f"{name} + {passages} passages"
    return f"{name} + rhymes" if rhymes else name


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


def reviewer_key(name: str) -> str:
    """How reviewer names are matched everywhere: case and surrounding or repeated spaces do not matter."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class EvalRun:
    id: int
    name: str
    created_at: str
    provider: str
    prompt_source: str
    settings: dict[str, Any]  # temperature, max_tokens, seed, rubric, shots source
    contenders: list[dict[str, Any]]  # label, model, shots
    reviews_needed: int = 2  # reviewers each item needs: the review queue offers an item until it has them
    shared_with: tuple[str, ...] = ()  # reviewers' e-mails who may rate it when sign-in is configured


@dataclass(frozen=True)
class StoredAnswer:
    position: int
    contender: str
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cost_usd: float
    passages: tuple[dict[str, Any], ...] = ()  # what retrieval put in the prompt: file, origin, text, score
    messages: list[dict[str, Any]] | None = None  # exactly what the model was sent (None: runs made before)


@dataclass(frozen=True)
class Rating:
    run_id: int
    reviewer: str
    position: int
    left: str
    right: str
    winner: str  # a contender's label, or "tie"
    scores: dict[str, list[int]]  # contender label -> one score per rubric criterion
    note: str = ""
    created_at: str = ""
    repeat: bool = False  # a second look at an item with sides swapped: measures consistency, never counted twice


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


def settings_of(run: EvalRun) -> RunSettings:
    return RunSettings(**run.settings)
