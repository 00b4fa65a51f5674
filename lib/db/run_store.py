"""Evaluation runs: their settings and prompts, the contenders' answers, and reviewers' ratings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lib.db.connection import connect, now, transaction
from lib.errors import RunError


@dataclass(frozen=True)
class EvalRun:
    id: int
    name: str
    created_at: str
    provider: str
    prompt_source: str
    settings: dict[str, Any]  # temperature, max_tokens, seed, rubric, shots source
    contenders: list[dict[str, Any]]  # label, model, shots


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


def create_run(
    name: str,
    provider: str,
    prompt_source: str,
    settings: dict[str, Any],
    contenders: list[dict[str, Any]],
    items: list[tuple[str, list[dict[str, Any]]]],
) -> EvalRun:
    """Save a run's settings and prompts before any answer exists.

    ``items``: (where the prompt came from, e.g. "row:123", its chat messages), in order.
    """
    if not items:
        raise RunError("The prompt set has no prompts.")
    with transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO eval_runs (name, created_at, provider, prompt_source, settings, contenders) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                name.strip() or "Evaluation",
                now(),
                provider,
                prompt_source,
                json.dumps(settings),
                json.dumps(contenders),
            ),
        )
        run_id = int(cursor.lastrowid or 0)
        conn.executemany(
            "INSERT INTO eval_items (run_id, position, messages, source) VALUES (?, ?, ?, ?)",
            [
                (run_id, position, json.dumps(messages), source)
                for position, (source, messages) in enumerate(items, start=1)
            ],
        )
    return get_run(run_id)


def _run(row: tuple[Any, ...]) -> EvalRun:
    return EvalRun(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), json.loads(row[6]))


def get_run(run_id: int) -> EvalRun:
    with connect() as conn:
        row = conn.execute("SELECT * FROM eval_runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise RunError(f"There is no evaluation run {run_id}.")
    return _run(row)


def list_runs() -> list[EvalRun]:
    """Every evaluation run, newest first."""
    with connect() as conn:
        return [_run(row) for row in conn.execute("SELECT * FROM eval_runs ORDER BY id DESC")]


def run_items(run_id: int) -> dict[int, list[dict[str, Any]]]:
    """The run's prompts by position (1 is the first)."""
    with connect() as conn:
        found = conn.execute("SELECT position, messages FROM eval_items WHERE run_id = ? ORDER BY position", (run_id,))
        return {position: json.loads(messages) for position, messages in found}


def run_item_sources(run_id: int) -> dict[int, str]:
    """Where each of the run's prompts came from, by position ("" for runs made before this was kept)."""
    with connect() as conn:
        found = conn.execute("SELECT position, source FROM eval_items WHERE run_id = ? ORDER BY position", (run_id,))
        return {position: source or "" for position, source in found}


def save_answer(run_id: int, answer: StoredAnswer) -> None:
    with transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO eval_answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, answer.position, answer.contender, answer.text, answer.prompt_tokens,
             answer.completion_tokens, answer.latency_s, answer.cost_usd, json.dumps(list(answer.passages))),
        )  # fmt: skip


def run_answers(run_id: int) -> list[StoredAnswer]:
    with connect() as conn:
        found = conn.execute(
            "SELECT position, contender, text, prompt_tokens, completion_tokens, latency_s, cost_usd, passages "
            "FROM eval_answers WHERE run_id = ? ORDER BY position, contender",
            (run_id,),
        )
        return [
            StoredAnswer(position, contender, text, prompt, completion, latency, cost, tuple(json.loads(passages)))
            for position, contender, text, prompt, completion, latency, cost, passages in found
        ]


def save_rating(rating: Rating) -> None:
    """Save (or replace) one reviewer's rating of one item, in its own transaction."""
    if not rating.reviewer.strip():
        raise RunError("Give your name before rating.")
    table = "repeat_ratings" if rating.repeat else "ratings"
    with transaction() as conn:
        conn.execute(
            f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rating.run_id, rating.reviewer.strip(), rating.position, rating.left, rating.right, rating.winner,
             json.dumps(rating.scores), rating.note, rating.created_at or now()),
        )  # fmt: skip


def run_ratings(run_id: int, reviewer: str | None = None, repeats: bool = False) -> list[Rating]:
    """A run's ratings (one per reviewer and item), or with ``repeats`` the second looks at repeated items.

    Reviewer names match without regard to case or surrounding spaces, as everywhere in the app.
    """
    table = "repeat_ratings" if repeats else "ratings"
    query = f"SELECT * FROM {table} WHERE run_id = ?" + (" AND reviewer = ?" if reviewer is not None else "")
    arguments: tuple[Any, ...] = (run_id,) if reviewer is None else (run_id, reviewer.strip())
    with connect() as conn:
        found = conn.execute(query + " ORDER BY created_at, reviewer, position", arguments).fetchall()
    return [Rating(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], r[8], repeats) for r in found]
