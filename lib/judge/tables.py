"""The scorecard's tables: win rates per pair, rubric means, the ranking, reviewers' agreement, each reviewer's
ratings and consistency, and each contender's tokens, latency, cost and automatic checks.

The item is the unit of every interval: when several reviewers rate one item, their ratings are
averaged per item first (they judged the same pair of answers), so three reviewers of ten items are
ten observations, not thirty. Every pair a reviewer rated on an item counts (in that pair's table, and all
of them in the ranking); a second rating of the same pair of the same item by the same reviewer replaces the
first, and the scorecard says how many were replaced. Repeated items (a reviewer's second look, sides swapped) measure
consistency and are never counted twice.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from lib.judge import stats
from lib.judge.answer_checks import CheckPack
from lib.judge.run import TIE, Rating, StoredAnswer, reviewer_key

SCALE = (1.0, 5.0)  # the rubric's scores


@dataclass(frozen=True)
class PairResult:
    first: str
    second: str
    items: int  # items rated for this pair: the unit of the interval
    ratings: int
    wins: int  # ratings ``first`` won
    ties: int
    losses: int
    win_rate: float  # mean over items of first's score (win 1, tie 0.5, loss 0); NaN when not rated
    win_low: float
    win_high: float
    item_scores: tuple[float, ...] = ()  # first's score per item, averaged over the item's reviewers


def _score(rating: Rating, contender: str) -> float:
    return 1.0 if rating.winner == contender else 0.5 if rating.winner == TIE else 0.0


def _pair(rating: Rating) -> frozenset[str]:
    return frozenset((rating.left, rating.right))


def latest(ratings: Sequence[Rating]) -> dict[tuple[int, frozenset[str], str], Rating]:
    """One rating per item, pair and reviewer (names matched as everywhere: case and spaces aside): the last."""
    return {(r.position, _pair(r), reviewer_key(r.reviewer)): r for r in ratings}


def duplicates(ratings: Sequence[Rating]) -> int:
    """Ratings replaced by a later one of the same pair of the same item by the same reviewer (the last counts)."""
    return len(ratings) - len(latest(ratings))


def _by_item(ratings: Sequence[Rating]) -> dict[int, list[Rating]]:
    """Each item's ratings: every pair each reviewer rated on it, once (a reviewer comparing tuned, 3-shot and
    base on one item gave three ratings, all counted)."""
    found: dict[int, list[Rating]] = defaultdict(list)
    for (item, _, _), rating in latest(ratings).items():
        found[item].append(rating)
    return dict(sorted(found.items()))


def pair_results(contenders: list[str], ratings: list[Rating]) -> list[PairResult]:
    """Win rates per pair with 95% Wilson intervals over items (ties count half)."""
    results = []
    items = _by_item(ratings)
    for first, second in combinations(contenders, 2):
        relevant = [r for rated in items.values() for r in rated if {r.left, r.right} == {first, second}]
        scores = tuple(
            sum(_score(r, first) for r in mine) / len(mine)
            for mine in ([r for r in rated if {r.left, r.right} == {first, second}] for rated in items.values())
            if mine
        )
        wins = sum(r.winner == first for r in relevant)
        ties = sum(r.winner == TIE for r in relevant)
        low, high = stats.wilson(sum(scores), len(scores))
        rate = sum(scores) / len(scores) if scores else math.nan
        results.append(
            PairResult(first, second, len(scores), len(relevant), wins, ties, len(relevant) - wins - ties,
                       rate, low, high, scores)
        )  # fmt: skip
    return results


def pair_rows(pairs: list[PairResult]) -> list[dict[str, Any]]:
    """The pairwise results as a table, in words."""
    return [
        {"A": p.first, "B": p.second, "items": p.items, "ratings": p.ratings, "A wins": p.wins, "ties": p.ties,
         "B wins": p.losses, "A win rate": p.win_rate, "95% low": p.win_low, "95% high": p.win_high}
        for p in pairs
    ]  # fmt: skip


def rubric_means(contenders: list[str], rubric: list[str], ratings: list[Rating]) -> list[dict[str, Any]]:
    """Mean rubric scores with 95% t intervals over items (each item's score averaged over its reviewers), the
    intervals cut to the 1-5 scale."""
    rows = []
    items = _by_item(ratings)
    for label in contenders:
        for index, criterion in enumerate(rubric):
            per_item = []
            for rated in items.values():
                marks = [r.scores[label][index] for r in rated if len(r.scores.get(label, [])) > index]
                if marks:
                    per_item.append(sum(marks) / len(marks))
            mean, low, high = stats.mean_interval(per_item, SCALE)
            rows.append({"contender": label, "criterion": criterion, "mean": mean, "low": low, "high": high,
                         "n": len(per_item)})  # fmt: skip
    return rows


def ranking(contenders: list[str], ratings: list[Rating]) -> list[dict[str, Any]]:
    """Bradley-Terry strengths (regularised) with 95% intervals from a bootstrap over items."""
    by_item = {item: [(r.left, r.right, _score(r, r.left)) for r in rated] for item, rated in _by_item(ratings).items()}
    outcomes = [o for found in by_item.values() for o in found]
    strength = stats.bradley_terry(outcomes, contenders)
    intervals = stats.bradley_terry_intervals(by_item, contenders)
    ordered = sorted(contenders, key=lambda c: -(strength[c] or 0.0))
    rows = []
    for rank, c in enumerate(ordered, start=1):
        s = strength[c]
        rows.append(
            {"rank": rank, "contender": c, "strength": math.nan if s is None else s, "low": intervals[c][0],
             "high": intervals[c][1], "chance to beat an average contender": math.nan if s is None else s / (s + 1)}
        )  # fmt: skip
    return rows


def agreement(ratings: list[Rating], contenders: list[str], rubric: list[str]) -> dict[str, Any]:
    """How far reviewers agree on the winner (Cohen's kappa for two, Krippendorff's alpha, nominal, for more),
    on the 1-5 scores (Krippendorff's alpha, ordinal), and for every pair of reviewers (kappa)."""
    names = {reviewer_key(r.reviewer): r.reviewer.strip() for r in ratings}
    items = _by_item(ratings)
    winners: dict[tuple[int, frozenset[str]], dict[str, str]] = defaultdict(dict)  # the unit: a pair of an item
    for item, rated in items.items():
        for r in rated:
            winners[item, _pair(r)][reviewer_key(r.reviewer)] = r.winner
    shared = {item: labels for item, labels in winners.items() if len(labels) > 1}
    reviewers = sorted(names)
    pairs = []
    for a, b in combinations(reviewers, 2):
        both = [labels for labels in shared.values() if a in labels and b in labels]
        if both:
            kappa = stats.cohen_kappa([x[a] for x in both], [x[b] for x in both])
            pairs.append({"reviewers": f"{names[a]} & {names[b]}", "kappa": kappa, "items": len(both)})
    scores = {
        (item, label, index): {reviewer_key(r.reviewer): r.scores[label][index] for r in rated if label in r.scores}
        for item, rated in items.items()
        for label in contenders
        for index in range(len(rubric))
    }
    score_alpha = stats.krippendorff_alpha(scores, "ordinal", [1, 2, 3, 4, 5])
    found: dict[str, Any] = {"items": len(shared), "reviewers": len(reviewers), "pairs": pairs, "scores": score_alpha}
    if len(reviewers) < 2 or not shared:
        return found | {"measure": "none", "value": None}
    if len(reviewers) == 2:
        return found | {"measure": "Cohen's kappa", "value": pairs[0]["kappa"] if pairs else None}
    return found | {"measure": "Krippendorff's alpha", "value": stats.krippendorff_alpha(shared)}


def reviewer_table(ratings: list[Rating], repeats: list[Rating]) -> list[dict[str, Any]]:
    """Per reviewer: ratings, ties, how often they picked the left answer (position bias), and consistency."""
    first_look = {(reviewer_key(r.reviewer), r.position, _pair(r)): r for r in ratings}
    rows = []
    for key in sorted({reviewer_key(r.reviewer) for r in [*ratings, *repeats]}):
        mine = [r for r in ratings if reviewer_key(r.reviewer) == key]
        decided = [r for r in mine if r.winner != TIE]
        left = sum(r.winner == r.left for r in decided)
        low, high = stats.wilson(left, len(decided))
        again = [r for r in repeats if reviewer_key(r.reviewer) == key and (key, r.position, _pair(r)) in first_look]
        same = sum(first_look[(key, r.position, _pair(r))].winner == r.winner for r in again)
        rows.append(
            {"reviewer": (mine or again)[0].reviewer.strip(), "ratings": len(mine),
             "ties": sum(r.winner == TIE for r in mine),
             "picks left": left / len(decided) if decided else math.nan, "left 95% low": low, "left 95% high": high,
             "repeated": len(again), "consistent": same / len(again) if again else math.nan}
        )  # fmt: skip
    return rows


def usage_table(
    contenders: list[str], answers: list[StoredAnswer], questions: dict[int, str], checks: CheckPack | None
) -> list[dict[str, Any]]:
    """Mean tokens, latency and cost per answer, and the share of answers passing each automatic check."""
    rows = []
    for label in contenders:
        mine = [a for a in answers if a.contender == label]
        n = max(1, len(mine))
        row = {
            "contender": label,
            "answers": len(mine),
            "prompt tokens": sum(a.prompt_tokens for a in mine) / n,
            "completion tokens": sum(a.completion_tokens for a in mine) / n,
            "latency s": sum(a.latency_s for a in mine) / n,
            "cost per answer": sum(a.cost_usd for a in mine) / n,
            "cost per 1,000": 1000 * sum(a.cost_usd for a in mine) / n,
        }
        if checks is not None:
            results = [checks.run(questions.get(a.position, ""), a.text) for a in mine]
            row |= {label: sum(bool(r[key]) for r in results) / n for key, label in checks.checks.items()}
        rows.append(row)
    return rows


def oriented(pair: PairResult, contender: str) -> tuple[float, ...]:
    """A pair's item scores from ``contender``'s side."""
    return pair.item_scores if pair.first == contender else tuple(1 - s for s in pair.item_scores)
