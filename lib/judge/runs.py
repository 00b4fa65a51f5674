"""Judge's entry for the screens: evaluation runs, and one run's data loaded once per render.

Pages and lib/ui call this module, never lib/db. Making and answering a run is evaluation.py, who rates what
rating.py, the scorecard scorecard.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.db import judge_store, run_store
from lib.db.run_store import RESERVATION_MINUTES, get_run, list_runs
from lib.judge.run import EvalRun, Rating, StoredAnswer
from lib.judge.votes import Judge, JudgeVote

__all__ = ["RESERVATION_MINUTES", "RunData", "get_run", "list_runs", "load_run", "reviewer_ratings", "share_run"]


@dataclass(frozen=True)
class RunData:
    """Everything a screen shows of one run, read together: its prompts, answers, ratings and repeated looks."""

    run: EvalRun
    items: dict[int, list[dict[str, Any]]]  # the prompts by position (1 is the first)
    answers: list[StoredAnswer]
    ratings: list[Rating]  # people's: one per reviewer and item
    repeats: list[Rating]  # second looks at repeated items, sides swapped
    judges: list[tuple[Judge, list[JudgeVote]]] = field(default_factory=list)  # models that judged it, their votes


def load_run(run_id: int) -> RunData:
    """One run with its items, answers, ratings and repeats: the one read of them a page makes per render."""
    return RunData(
        run_store.get_run(run_id),
        run_store.run_items(run_id),
        run_store.run_answers(run_id),
        run_store.run_ratings(run_id),
        run_store.run_ratings(run_id, repeats=True),
        [(judge, judge_store.run_votes(run_id, judge.name)) for judge in judge_store.run_judges(run_id)],
    )


def reviewer_ratings(run_id: int, reviewer: str) -> list[Rating]:
    """One reviewer's ratings of a run (names match without regard to case or surrounding spaces)."""
    return run_store.run_ratings(run_id, reviewer)


def share_run(run_id: int, reviews_needed: int, shared_with: Sequence[str]) -> EvalRun:
    """How many reviewers each item needs, and who may rate the run when sign-in is on (e-mails)."""
    return run_store.share_run(run_id, reviews_needed, shared_with)
