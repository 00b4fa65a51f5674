"""Who rates what: each reviewer's own random order, blind sides, a few repeats with sides swapped, and saving."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

from lib.db import run_store
from lib.errors import RunError
from lib.judge.run import TIE, EvalRun, Rating, reviewer_key, settings_of

REPEAT_AFTER = 3  # a repeated item comes back this many items after its first showing


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


@dataclass(frozen=True)
class Assignment:
    position: int
    left: str
    right: str
    repeat: bool = False  # a second showing of an item the reviewer rated, sides swapped


def pair_for(run: EvalRun, position: int) -> tuple[str, str]:
    """The pair of contenders compared on an item: the same for every reviewer, so reviewers can be compared."""
    pairs = list(combinations([c["label"] for c in run.contenders], 2))
    offset = _seed(run.id, "pairs") % len(pairs)
    return pairs[(position + offset) % len(pairs)]


def assignments(run: EvalRun, reviewer: str) -> list[Assignment]:
    """A reviewer's items in their own random order, sides drawn per item and reviewer.

    A share of the items (the run's ``repeat_share``) comes back a few items later with its sides
    swapped, to measure the reviewer's consistency.
    """
    positions = sorted(run_store.run_items(run.id))
    key = reviewer_key(reviewer)
    random.Random(_seed(run.id, key)).shuffle(positions)
    queue = []
    for position in positions:
        first, second = pair_for(run, position)
        if _seed(run.id, key, position) % 2:
            first, second = second, first
        queue.append(Assignment(position, first, second))
    share = settings_of(run).repeat_share
    repeats = min(len(queue), math.ceil(share * len(queue))) if share > 0 else 0
    step = len(queue) / repeats if repeats else 0
    for n in reversed(range(repeats)):  # from the back, so earlier insertion points stay put
        original = queue[int(n * step)]
        again = Assignment(original.position, original.right, original.left, repeat=True)
        queue.insert(min(len(queue), int(n * step) + 1 + REPEAT_AFTER), again)
    return queue


def next_assignment(run: EvalRun, reviewer: str, skipped: Sequence[int] = ()) -> tuple[Assignment | None, int, int]:
    """The reviewer's next item from the run's review queue (None when nothing is left for them), how many items
    they have rated, and how many they can rate in all as things stand (repeats, shown again to measure
    consistency, are not counted: rating one does not move the progress).

    A first look is offered only on an item that still needs reviewers (the run's ``reviews_needed``, counting
    others' open reservations); it is then reserved for this reviewer a few minutes. A repeat is offered once
    the item's first rating is in. Items the reviewer ``skipped`` (oldest first) come back only at the end.
    """
    rated = {r.position for r in run_store.run_ratings(run.id, reviewer)}
    repeated = {r.position for r in run_store.run_ratings(run.id, reviewer, repeats=True)}
    queue = assignments(run, reviewer)

    def waiting(a: Assignment) -> bool:
        return a.position in rated and a.position not in repeated if a.repeat else a.position not in rated

    later = set(skipped)
    ordered = [a for a in queue if waiting(a) and a.position not in later]
    ordered += [a for p in skipped for a in queue if a.position == p and waiting(a)]
    taken = run_store.places_taken(run.id, reviewer)
    available = [a for a in ordered if a.repeat or taken.get(a.position, 0) < run.reviews_needed]
    done = len(rated)
    upcoming = available[0] if available else None
    if upcoming is None or not upcoming.repeat:
        firsts = [a.position for a in available if not a.repeat]
        got = run_store.reserve(run.id, reviewer, firsts)  # with none: gives up what the reviewer held
        upcoming = next((a for a in available if a.position == got and not a.repeat), None)
        upcoming = upcoming or next((a for a in available if a.repeat), None)  # others took the rest meanwhile
    return upcoming, done, done + sum(1 for a in available if not a.repeat)


def queue_status(
    run: EvalRun, ratings: Sequence[Rating] | None = None, items: Iterable[int] | None = None
) -> list[dict[str, object]]:
    """Per item: who rated it, who holds it now, and how many more reviewers it needs (the Reviewers tab).

    ``ratings`` and ``items`` (positions): the run's, where the page has read them already; else they are read.
    """
    by_item: dict[int, list[str]] = {}
    for r in run_store.run_ratings(run.id) if ratings is None else ratings:
        by_item.setdefault(r.position, []).append(r.reviewer)
    held = run_store.active_reservations(run.id)
    return [
        {
            "Item": position,
            "Rated by": ", ".join(sorted(by_item.get(position, []), key=str.casefold)),
            "Being rated by": ", ".join(sorted(held.get(position, []), key=str.casefold)),
            "Still needs": max(0, run.reviews_needed - len(by_item.get(position, []))),
        }
        for position in sorted(run_store.run_items(run.id) if items is None else items)
    ]


def rate(
    run: EvalRun, reviewer: str, assignment: Assignment, choice: str, scores: dict[str, list[int]], note: str = ""
) -> Rating:
    """Save a rating: ``choice`` is "A" (left), "B" (right) or "tie"."""
    winner = {"A": assignment.left, "B": assignment.right}.get(choice, TIE)
    rubric = settings_of(run).rubric
    for label in (assignment.left, assignment.right):
        marks = scores.get(label, [])
        if len(marks) != len(rubric) or any(not 1 <= m <= 5 for m in marks):
            raise RunError(f"Score each answer 1 to 5 on all {len(rubric)} criteria.")
    rating = Rating(
        run.id, reviewer, assignment.position, assignment.left, assignment.right, winner, scores, note,
        repeat=assignment.repeat,
    )  # fmt: skip
    run_store.save_rating(rating)
    return rating
