"""Agreement before trust: a judge's votes against the reviewers' majority, item by item.

The unit is a pair of an item. Where the people's majority is split (two choices equally often), the item is
left out and counted. Ties are a third category. Cohen's κ is undefined (None, never 0) with no shared
item or when both always gave one same answer; its 95% interval comes from a bootstrap over items. Items shown
to the judge as examples (calibration) are never used to measure it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from lib.judge import stats
from lib.judge.run import TIE, Rating
from lib.judge.tables import latest
from lib.judge.votes import JudgeVote

Unit = tuple[int, frozenset[str]]  # an item's position and the pair rated on it
WEAK_KAPPA = 0.4  # below this, a judge's agreement is no better than "fair": the scorecard warns when counting it


def _unit(rating: Rating) -> Unit:
    return rating.position, frozenset((rating.left, rating.right))


def _majority(choices: Sequence[str]) -> str | None:
    counted = Counter(choices).most_common()
    if not counted or (len(counted) > 1 and counted[0][1] == counted[1][1]):
        return None  # split: no majority
    return counted[0][0]


def people_majority(people: Sequence[Rating]) -> dict[Unit, str | None]:
    """Per item pair, the people's majority winner (a contender or tie); None where they are split."""
    by_unit: dict[Unit, list[str]] = {}
    for r in latest(people).values():
        by_unit.setdefault(_unit(r), []).append(r.winner)
    return {unit: _majority(choices) for unit, choices in by_unit.items()}


def _criterion_winner(rating: Rating, index: int) -> str | None:
    left, right = rating.scores.get(rating.left, []), rating.scores.get(rating.right, [])
    if len(left) <= index or len(right) <= index:
        return None
    return rating.left if left[index] > right[index] else rating.right if right[index] > left[index] else TIE


def kappa_with_interval(
    first: Sequence[str], second: Sequence[str], resamples: int = 1000, seed: int = 0
) -> tuple[float | None, float | None, float | None]:
    """Cohen's κ and its 95% bootstrap interval over items (None where undefined)."""
    kappa = stats.cohen_kappa(first, second)
    if kappa is None or len(first) < 2:
        return kappa, None, None
    rng = np.random.default_rng(seed)
    drawn = []
    for _ in range(resamples):
        chosen = rng.integers(0, len(first), len(first))
        value = stats.cohen_kappa([first[i] for i in chosen], [second[i] for i in chosen])
        if value is not None:
            drawn.append(value)
    if len(drawn) < resamples // 2:
        return kappa, None, None
    low, high = np.percentile(drawn, [2.5, 97.5])
    return kappa, float(low), float(high)


def _compare(judged: dict[Unit, str], majority: dict[Unit, str | None]) -> dict[str, Any]:
    shared = [unit for unit in judged if unit in majority and majority[unit] is not None]
    split = sum(1 for unit in judged if unit in majority and majority[unit] is None)
    mine = [judged[u] for u in shared]
    theirs = [str(majority[u]) for u in shared]
    kappa, low, high = kappa_with_interval(mine, theirs)
    agreement = sum(a == b for a, b in zip(mine, theirs, strict=True)) / len(shared) if shared else None
    return {"items": len(shared), "split": split, "agreement": agreement, "kappa": kappa, "kappa_low": low,
            "kappa_high": high}  # fmt: skip


def position_bias(judge: Sequence[Rating], votes: Sequence[JudgeVote] = ()) -> float | None:
    """How often the judge chose the answer shown first (A) when it chose one: near 0.5 is unbiased. From the
    single-order choices where known (votes), else from the ratings' left side."""
    if votes:
        shown_first = [c for v in votes for c in (v.first_choice, v.second_choice) if c in ("A", "B")]
        return sum(c == "A" for c in shown_first) / len(shown_first) if shown_first else None
    decided = [r for r in judge if r.winner != TIE]
    return sum(r.winner == r.left for r in decided) / len(decided) if decided else None


def judge_agreement(
    name: str,
    judge: Sequence[Rating],
    people: Sequence[Rating],
    rubric: Sequence[str] = (),
    votes: Sequence[JudgeVote] = (),
    calibration: Sequence[int] = (),
) -> dict[str, Any]:
    """The judge against the people's per-item majority: raw agreement, κ with its interval, per criterion for a
    rubric run, position bias, and what was left out (split majorities, no votes, calibration examples)."""
    measured = [r for r in latest(judge).values() if r.position not in calibration]
    judged = {_unit(r): r.winner for r in measured}
    found = {"reviewer": name, **_compare(judged, people_majority(people))}
    criteria = []
    for index, criterion in enumerate(rubric):
        theirs: dict[Unit, list[str]] = {}
        for r in latest(people).values():
            if (winner := _criterion_winner(r, index)) is not None:
                theirs.setdefault(_unit(r), []).append(winner)
        mine = {(v.position, frozenset((v.left, v.right))): v.criteria[criterion] for v in votes
                if criterion in v.criteria and v.position not in calibration}  # fmt: skip
        compared = _compare(mine, {u: _majority(c) for u, c in theirs.items()})
        criteria.append({"criterion": criterion, **compared})
    bias = position_bias(measured, [v for v in votes if v.position not in calibration])
    used = [v for v in votes if v.position not in calibration]
    return found | {
        "position_bias": bias,
        "no_votes": sum(v.winner is None for v in used),
        "flips": sum(v.flipped for v in used),
        "calibration": len(calibration),
        "criteria": criteria,
    }


def weak(found: dict[str, Any]) -> bool:
    """Whether the judge's κ interval reaches below 0.4 (or κ cannot be told): counting it needs a warning."""
    low = found.get("kappa_low")
    return low is None or (isinstance(low, float) and (math.isnan(low) or low < WEAK_KAPPA))
