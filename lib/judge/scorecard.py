"""The scorecard of an evaluation run: who wins, by how much, how sure we are, what it costs, and the verdict.

The item is the unit of every interval: when several reviewers rate one item, their ratings are
averaged per item first (they judged the same pair of answers), so three reviewers of ten items are
ten observations, not thirty. Repeated items (a reviewer's second look, sides swapped) measure
consistency and are never counted twice.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

from lib.db import provenance_store, run_store
from lib.judge import stats
from lib.judge.answer_checks import CheckPack, pack
from lib.judge.evaluation import TIE, contenders_of, question_of, settings_of, subject_of
from lib.judge.rating import pair_for, reviewer_key
from lib.judge.run import EvalRun, Rating, StoredAnswer
from lib.judge.verdict import NOT_ENOUGH, Verdict, settled_while_rating, verdict

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


@dataclass(frozen=True)
class Scorecard:
    run: EvalRun
    pairs: list[PairResult]
    rubric: list[dict[str, Any]]  # contender, criterion, mean, low, high, n (items)
    ranking: list[dict[str, Any]]  # rank, contender, strength, low, high, chance to beat an average contender
    agreement: dict[str, Any]  # measure, value, items, reviewers, pairs, scores
    reviewers: list[dict[str, Any]]  # ratings, ties, position bias, consistency on repeated items
    usage: list[dict[str, Any]]  # tokens, latency, cost, cost per 1,000, automatic checks
    verdict: Verdict
    tuned: str | None = None
    baseline: str | None = None

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        for pair in found["pairs"]:
            pair.pop("item_scores")
        found["run"] = {
            "id": self.run.id,
            "name": self.run.name,
            "created_at": self.run.created_at,
            "provider": self.run.provider,
            "prompt_source": self.run.prompt_source,
            "settings": self.run.settings,
            "contenders": self.run.contenders,
        }
        return found


def _score(rating: Rating, contender: str) -> float:
    return 1.0 if rating.winner == contender else 0.5 if rating.winner == TIE else 0.0


def _by_item(ratings: Sequence[Rating]) -> dict[int, list[Rating]]:
    """Each item's ratings, one per reviewer (names matched as everywhere: case and spaces aside)."""
    found: dict[int, dict[str, Rating]] = defaultdict(dict)
    for r in ratings:
        found[r.position][reviewer_key(r.reviewer)] = r
    return {item: list(by_reviewer.values()) for item, by_reviewer in sorted(found.items())}


def pair_results(contenders: list[str], ratings: list[Rating]) -> list[PairResult]:
    """Win rates per pair with 95% Wilson intervals over items (ties count half)."""
    results = []
    items = _by_item(ratings)
    for first, second in combinations(contenders, 2):
        relevant = [r for r in ratings if {r.left, r.right} == {first, second}]
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
    winners = {item: {reviewer_key(r.reviewer): r.winner for r in rated} for item, rated in items.items()}
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
    first_look = {(reviewer_key(r.reviewer), r.position): r for r in ratings}
    rows = []
    for key in sorted({reviewer_key(r.reviewer) for r in [*ratings, *repeats]}):
        mine = [r for r in ratings if reviewer_key(r.reviewer) == key]
        decided = [r for r in mine if r.winner != TIE]
        left = sum(r.winner == r.left for r in decided)
        low, high = stats.wilson(left, len(decided))
        again = [r for r in repeats if reviewer_key(r.reviewer) == key and (key, r.position) in first_look]
        same = sum(first_look[(key, r.position)].winner == r.winner for r in again)
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


def build(
    run: EvalRun,
    answers: list[StoredAnswer],
    ratings: list[Rating],
    items: dict[int, list[dict[str, Any]]],
    training_cost: float = 0.0,
    repeats: list[Rating] | None = None,
    baseline: str | None = None,
) -> Scorecard:
    contenders = contenders_of(run)
    settings = settings_of(run)
    labels = [c.label for c in contenders]
    questions = {position: question_of(prompt) for position, prompt in items.items()}
    pairs = pair_results(labels, ratings)
    usage = usage_table(labels, answers, questions, pack(settings.checks))
    tuned, recorded_baseline = subject_of(run)
    baseline = baseline if baseline in labels and baseline != tuned else recorded_baseline
    if tuned is None or baseline is None:
        found = Verdict(None, "Add a tuned model and a base or few-shot contender to get a verdict.")
    else:
        pair = next(p for p in pairs if {p.first, p.second} == {tuned, baseline})
        cost = {row["contender"]: row["cost per 1,000"] for row in usage}
        prompt = {row["contender"]: row["prompt tokens"] for row in usage}
        found = verdict(
            tuned, baseline, oriented(pair, tuned), pair.ratings, settings.margin,
            (cost[tuned], cost[baseline]), (prompt[tuned], prompt[baseline]), training_cost,
        )  # fmt: skip
    return Scorecard(
        run=run,
        pairs=pairs,
        rubric=rubric_means(labels, settings.rubric, ratings),
        ranking=ranking(labels, ratings),
        agreement=agreement(ratings, labels, settings.rubric),
        reviewers=reviewer_table(ratings, repeats or []),
        usage=usage,
        verdict=found,
        tuned=tuned,
        baseline=baseline,
    )


def estimated_training_cost(run: EvalRun) -> float | None:
    """The training cost Train estimated for the candidate's job when it launched it: 0 on the local provider
    (free) or without a candidate; None when it is not known (a job started outside the app, or no estimate)."""
    candidate, _ = subject_of(run)
    contender = next((c for c in contenders_of(run) if c.label == candidate), None)
    if contender is None or run.provider == "local":
        return 0.0
    made = provenance_store.job_provenance(run.provider).get(contender.job_id) if contender.job_id else None
    made = made or provenance_store.provenance_of_model(run.provider, contender.model)
    return made.estimated_cost_usd if made is not None else None


def stop_hint(run: EvalRun, ratings: list[Rating], answers: list[StoredAnswer]) -> str | None:
    """What Rate tells reviewers once more ratings can no longer change the verdict (None: keep rating)."""
    tuned, baseline = subject_of(run)
    if tuned is None or baseline is None:
        return None
    [pair] = pair_results([tuned, baseline], ratings)
    rated = {r.position for r in ratings}
    remaining = sum(
        1 for position in run_store.run_items(run.id) if set(pair_for(run, position)) == {tuned, baseline}
        and position not in rated
    )  # fmt: skip
    cost = {row["contender"]: row["cost per 1,000"] for row in usage_table([tuned, baseline], answers, {}, None)}
    settled = settled_while_rating(
        oriented(pair, tuned), remaining, settings_of(run).margin, cost[tuned] < cost[baseline]
    )
    if settled is None:
        return None
    if settled == NOT_ENOUGH:
        return (
            "You can stop: even if every remaining item were rated, there would not be enough evidence for a "
            "verdict. A larger prompt set would settle it."
        )
    return f"You can stop: the verdict is settled ({settled}); further ratings cannot change it with 95% confidence."


def summary(
    ratings: list[Rating],
    criteria: list[str],
    tuned: str,
    baseline: str,
    margin: float,
    cost_per_1000: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """The scorecard of a ratings file as plain JSON-ready values (``python -m lib scorecard``)."""
    labels = list(dict.fromkeys(label for r in ratings for label in (r.left, r.right)))
    pairs = pair_results(labels, ratings)
    pair = next((p for p in pairs if {p.first, p.second} == {tuned, baseline}), None)
    found = verdict(
        tuned, baseline, oriented(pair, tuned) if pair else (), pair.ratings if pair else 0, margin, cost_per_1000
    )
    agree = agreement(ratings, labels, criteria)
    return {
        "pairs": [
            {
                "first": p.first,
                "second": p.second,
                "items": p.items,
                "ratings": p.ratings,
                "first_wins": p.wins,
                "ties": p.ties,
                "second_wins": p.losses,
                "win_rate": p.win_rate,
                "low": p.win_low,
                "high": p.win_high,
            }
            for p in pairs
        ],
        "ranking": [{k: row[k] for k in ("contender", "strength", "low", "high")} for row in ranking(labels, ratings)],
        "agreement": {"measure": agree["measure"], "value": agree["value"], "items": agree["items"]},
        "rubric": rubric_means(labels, criteria, ratings),
        "verdict": {"decision": found.decision, "more_items_needed": found.more_items_needed, "reasons": found.reasons},
    }
