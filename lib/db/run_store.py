"""Evaluation runs: their settings and prompts, the contenders' answers, and reviewers' ratings."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from lib.db.connection import connect, insert_id, now, transaction, upsert
from lib.db.schema import eval_answers, eval_items, eval_runs, ratings, repeat_ratings, reservations
from lib.errors import RunError
from lib.judge.run import EvalRun, Rating, StoredAnswer, reviewer_key


def create_run(
    name: str,
    provider: str,
    prompt_source: str,
    settings: dict[str, Any],
    contenders: list[dict[str, Any]],
    items: list[tuple[str, list[dict[str, Any]]]],
    reviews_needed: int = 2,
    shared_with: Sequence[str] = (),
) -> EvalRun:
    """Save a run's settings and prompts before any answer exists.

    ``items``: (where the prompt came from, e.g. "row:123", its chat messages), in order.
    """
    if not items:
        raise RunError("The prompt set has no prompts.")
    if reviews_needed < 1:
        raise RunError("Each item needs at least one reviewer.")
    with transaction() as conn:
        run = insert(eval_runs).values(
            name=name.strip() or "Evaluation", created_at=now(), provider=provider, prompt_source=prompt_source,
            settings=json.dumps(settings), contenders=json.dumps(contenders), reviews_needed=reviews_needed,
            shared_with=_emails(shared_with),
        )  # fmt: skip
        run_id = insert_id(conn, run)
        conn.execute(
            insert(eval_items),
            [
                {"run_id": run_id, "position": position, "messages": json.dumps(messages), "source": source}
                for position, (source, messages) in enumerate(items, start=1)
            ],
        )
    return get_run(run_id)


_RUN_COLUMNS = (
    eval_runs.c.id, eval_runs.c.name, eval_runs.c.created_at, eval_runs.c.provider, eval_runs.c.prompt_source,
    eval_runs.c.settings, eval_runs.c.contenders, eval_runs.c.reviews_needed, eval_runs.c.shared_with,
)  # fmt: skip


def _run(row: Sequence[Any]) -> EvalRun:
    return EvalRun(
        row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), json.loads(row[6]), row[7],
        tuple(json.loads(row[8])),
    )  # fmt: skip


def get_run(run_id: int) -> EvalRun:
    with connect() as conn:
        row = conn.execute(select(*_RUN_COLUMNS).where(eval_runs.c.id == run_id)).first()
    if row is None:
        raise RunError(f"There is no evaluation run {run_id}.")
    return _run(row)


def list_runs() -> list[EvalRun]:
    """Every evaluation run, newest first."""
    with connect() as conn:
        return [_run(row) for row in conn.execute(select(*_RUN_COLUMNS).order_by(eval_runs.c.id.desc()))]


def _emails(shared_with: Sequence[str]) -> str:
    return json.dumps(sorted({email.strip().lower() for email in shared_with if email.strip()}))


def share_run(run_id: int, reviews_needed: int, shared_with: Sequence[str]) -> EvalRun:
    """How many reviewers each item needs, and who may rate the run when sign-in is on (e-mails)."""
    if reviews_needed < 1:
        raise RunError("Each item needs at least one reviewer.")
    with transaction() as conn:
        conn.execute(
            eval_runs.update()
            .where(eval_runs.c.id == run_id)
            .values(
                reviews_needed=reviews_needed,
                shared_with=_emails(shared_with),
            )
        )
    return get_run(run_id)


def run_items(run_id: int) -> dict[int, list[dict[str, Any]]]:
    """The run's prompts by position (1 is the first)."""
    i = eval_items.c
    with connect() as conn:
        found = conn.execute(select(i.position, i.messages).where(i.run_id == run_id).order_by(i.position))
        return {position: json.loads(messages) for position, messages in found}


def run_item_sources(run_id: int) -> dict[int, str]:
    """Where each of the run's prompts came from, by position ("" for runs made before this was kept)."""
    i = eval_items.c
    with connect() as conn:
        found = conn.execute(select(i.position, i.source).where(i.run_id == run_id).order_by(i.position))
        return {position: source or "" for position, source in found}


def save_answer(run_id: int, answer: StoredAnswer) -> None:
    row = {
        "run_id": run_id, "position": answer.position, "contender": answer.contender, "text": answer.text,
        "prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
        "latency_s": answer.latency_s, "cost_usd": answer.cost_usd, "passages": json.dumps(list(answer.passages)),
        "messages": None if answer.messages is None else json.dumps(answer.messages),
    }  # fmt: skip
    with transaction() as conn:
        upsert(conn, eval_answers, row, ["run_id", "position", "contender"])


def run_answers(run_id: int) -> list[StoredAnswer]:
    a = eval_answers.c
    with connect() as conn:
        found = conn.execute(
            select(a.position, a.contender, a.text, a.prompt_tokens, a.completion_tokens, a.latency_s, a.cost_usd,
                   a.passages, a.messages).where(a.run_id == run_id).order_by(a.position, a.contender)
        )  # fmt: skip
        return [
            StoredAnswer(position, contender, text, prompt, completion, latency, cost, tuple(json.loads(passages)),
                         None if messages is None else json.loads(messages))
            for position, contender, text, prompt, completion, latency, cost, passages, messages in found
        ]  # fmt: skip


def save_rating(rating: Rating) -> None:
    """Save (or replace) one reviewer's rating of one item, in its own transaction."""
    if not rating.reviewer.strip():
        raise RunError("Give your name before rating.")
    row = {
        "run_id": rating.run_id, "reviewer": rating.reviewer.strip(), "position": rating.position,
        "left_contender": rating.left, "right_contender": rating.right, "winner": rating.winner,
        "scores": json.dumps(rating.scores), "note": rating.note, "created_at": rating.created_at or now(),
    }  # fmt: skip
    with transaction() as conn:
        upsert(conn, repeat_ratings if rating.repeat else ratings, row, ["run_id", "reviewer", "position"], "reviewer")
        if not rating.repeat:  # done: the item's place in the queue is now a rating, not a reservation
            r = reservations.c
            mine = (
                r.run_id == rating.run_id,
                r.reviewer == reviewer_key(rating.reviewer),
                r.position == rating.position,
            )
            conn.execute(delete(reservations).where(*mine))


def run_ratings(run_id: int, reviewer: str | None = None, repeats: bool = False) -> list[Rating]:
    """A run's ratings (one per reviewer and item), or with ``repeats`` the second looks at repeated items.

    Reviewer names match without regard to case or surrounding spaces, as everywhere in the app.
    """
    table = repeat_ratings if repeats else ratings
    query = select(table).where(table.c.run_id == run_id)
    if reviewer is not None:
        query = query.where(func.lower(table.c.reviewer) == reviewer.strip().lower())
    with connect() as conn:
        found = conn.execute(query.order_by(table.c.created_at, table.c.reviewer, table.c.position)).fetchall()
    return [Rating(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], r[8], repeats) for r in found]


# ---- review queues ------------------------------------------------------------------------

RESERVATION_MINUTES = 10  # an item a reviewer has open is not offered to more reviewers than it needs


def _later(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")


def reserve(run_id: int, reviewer: str, candidates: Sequence[int]) -> int | None:
    """Hold the first of ``candidates`` (positions, in the reviewer's order) that still needs a reviewer.

    An item is open while its ratings plus others' unexpired reservations are fewer than the run's
    ``reviews_needed``. The reviewer's previous reservation in this run is given up. None: nothing is open.
    One transaction, with the run locked, so two reviewers never take the last place on an item.
    """
    key = reviewer_key(reviewer)
    with transaction() as conn:
        locked = select(eval_runs.c.reviews_needed).where(eval_runs.c.id == run_id)
        if conn.dialect.name == "postgresql":
            locked = locked.with_for_update()
        needed = conn.execute(locked).scalar()
        if needed is None:
            raise RunError(f"There is no evaluation run {run_id}.")
        taken = _places_taken(conn, run_id, reviewer)
        chosen = next((p for p in candidates if taken.get(p, 0) < needed), None)
        r = reservations.c
        conn.execute(delete(reservations).where(r.run_id == run_id, r.reviewer == key))
        if chosen is not None:
            expires = _later(RESERVATION_MINUTES)
            held = {
                "run_id": run_id,
                "reviewer": key,
                "name": reviewer.strip(),
                "position": chosen,
                "expires_at": expires,
            }
            conn.execute(insert(reservations).values(**held))
        return chosen


def places_taken(run_id: int, reviewer: str) -> dict[int, int]:
    """Per item, how many of its places are taken for ``reviewer``: ratings, and others' unexpired reservations."""
    with connect() as conn:
        return _places_taken(conn, run_id, reviewer)


def _places_taken(conn: Connection, run_id: int, reviewer: str) -> dict[int, int]:
    key = reviewer_key(reviewer)
    taken = _rated_counts(conn, run_id)
    for position, holders in _reservations(conn, run_id).items():
        taken[position] = taken.get(position, 0) + sum(reviewer_key(name) != key for name in holders)
    return taken


def rated_counts(run_id: int) -> dict[int, int]:
    """How many reviewers rated each item (by position)."""
    with connect() as conn:
        return _rated_counts(conn, run_id)


def _rated_counts(conn: Connection, run_id: int) -> dict[int, int]:
    r = ratings.c
    found = conn.execute(select(r.position, func.count()).where(r.run_id == run_id).group_by(r.position))
    return {position: int(count) for position, count in found}


def _reservations(conn: Connection, run_id: int) -> dict[int, list[str]]:
    r = reservations.c
    held: dict[int, list[str]] = {}
    for position, name in conn.execute(select(r.position, r.name).where(r.run_id == run_id, r.expires_at > now())):
        held.setdefault(position, []).append(name)
    return held


def active_reservations(run_id: int) -> dict[int, list[str]]:
    """Who holds which item now (reviewers' names by position); expired reservations are not counted."""
    with connect() as conn:
        return _reservations(conn, run_id)
