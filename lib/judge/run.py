"""The evaluation run's domain: a run, its stored answers and reviewers' ratings.

Plain, immutable values: the store (lib/db/run_store.py) reads and writes them, pages and steps pass them on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
