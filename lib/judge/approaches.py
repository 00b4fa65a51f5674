"""Prompt, retrieve, or fine-tune? The approaches of one evaluation run ranked by quality, cost and latency.

Quality is the reviewers' Bradley-Terry strength when every contender was rated, else the share of
automatic checks an answer passes (averaged per answer: the answer is the unit of the interval).
Approaches the run cannot tell from the best one (item by item for automatic checks, by overlapping
intervals for reviewers' strengths) are as good as far as it can tell; among them the cheapest at
the user's request volume (training included) is the one to use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lib.judge import stats
from lib.judge.answer_checks import CheckPack, pack
from lib.judge.run import Contender, EvalRun, StoredAnswer, contenders_of, question_of, settings_of

APPROACHES = {
    "base": "bare prompt",
    "few-shot": "prompt engineering (few-shot)",
    "base + retrieval": "retrieval",
    "tuned": "fine-tuning",
    "tuned + retrieval": "fine-tuning + retrieval",
}
SIMPLER_FIRST = list(APPROACHES)  # on an exact tie of cost, the one with less to build and keep up


@dataclass(frozen=True)
class ApproachRow:
    contender: str
    kind: str  # Contender.kind: base, few-shot, base + retrieval, tuned, tuned + retrieval (+ rhymes)
    quality: float  # the measure below, NaN when unmeasured
    low: float
    high: float
    measure: str  # "reviewers' strength" or "checks passed"
    cost_per_1000: float  # running cost, USD per 1,000 requests (prompt grows with shots and passages)
    prompt_tokens: float
    latency_s: float
    training_cost: float  # one-off, USD (tuned models)
    item_scores: tuple[tuple[int, float], ...] = ()  # (item, share of checks passed): compared item by item

    @property
    def approach(self) -> str:
        kind = self.kind.removesuffix(" + rhymes")
        named = APPROACHES.get(kind, kind)
        return f"{named} + rhyme-guided decoding" if kind != self.kind else named

    def total_cost(self, requests: int) -> float:
        return self.training_cost + self.cost_per_1000 * requests / 1000

    def as_dict(self, requests: int) -> dict[str, object]:
        return {
            "contender": self.contender, "approach": self.approach, self.measure: round(self.quality, 3),
            "low": round(self.low, 3), "high": round(self.high, 3), "prompt tokens": round(self.prompt_tokens),
            "latency s": round(self.latency_s, 2), "USD per 1,000 requests": round(self.cost_per_1000, 4),
            "one-off training USD": round(self.training_cost, 2),
            f"USD for {requests:,} requests": round(self.total_cost(requests), 2),
        }  # fmt: skip


def check_quality(
    answers: Sequence[StoredAnswer], questions: dict[int, str], checks: CheckPack
) -> tuple[tuple[float, float, float], dict[int, float]]:
    """(mean, low, high) of the share of checks each answer passes (checks that do not apply are left out),
    and that share per item."""
    shares = {}
    for answer in answers:
        results = [r for r in checks.run(questions.get(answer.position, ""), answer.text).values() if r is not None]
        if results:
            shares[answer.position] = sum(results) / len(results)
    return stats.mean_interval(list(shares.values())), shares


def rank(
    contenders: Sequence[Contender],
    answers: Sequence[StoredAnswer],
    questions: dict[int, str],
    checks: CheckPack | None,
    strengths: Sequence[dict[str, Any]],
    training_cost: float,
) -> list[ApproachRow]:
    """Every contender as an approach, best quality first."""
    by_label = {str(r["contender"]): r for r in strengths}
    rated = bool(by_label) and all(not math.isnan(by_label[c.label]["strength"]) for c in contenders)
    rows = []
    for contender in contenders:
        mine = [a for a in answers if a.contender == contender.label]
        n = max(1, len(mine))
        per_item: dict[int, float] = {}
        if rated:
            row = by_label[contender.label]
            quality = (float(row["strength"]), float(row["low"]), float(row["high"]))
            measure = "reviewers' strength"
        elif checks is not None:
            (quality, per_item), measure = check_quality(mine, questions, checks), "checks passed"
        else:
            quality, measure = (math.nan, math.nan, math.nan), "unmeasured"
        rows.append(
            ApproachRow(
                contender.label,
                contender.kind,
                *quality,
                measure,
                1000 * sum(a.cost_usd for a in mine) / n,
                sum(a.prompt_tokens for a in mine) / n,
                sum(a.latency_s for a in mine) / n,
                training_cost if contender.kind.startswith("tuned") else 0.0,
                tuple(sorted(per_item.items())),
            )
        )
    return sorted(rows, key=lambda r: -r.quality if not math.isnan(r.quality) else math.inf)


def rank_run(
    run: EvalRun,
    answers: Sequence[StoredAnswer],
    items: dict[int, list[dict[str, Any]]],
    strengths: Sequence[dict[str, Any]],
    training_cost: float,
) -> list[ApproachRow]:
    """The approaches of a stored run, measured with the run's own answer checks."""
    questions = {position: question_of(prompt) for position, prompt in items.items()}
    checks = pack(settings_of(run).checks)
    return rank(contenders_of(run), answers, questions, checks, strengths, training_cost)


def as_good_as(row: ApproachRow, best: ApproachRow) -> bool:
    """Whether this run shows no evidence that ``best`` is better than ``row``: the 95% interval of their
    item-by-item differences reaches 0 when both were checked on the same items (a paired comparison, far
    sharper than comparing two intervals), else their intervals overlap (reviewers' strengths)."""
    if row is best:
        return True
    mine, theirs = dict(row.item_scores), dict(best.item_scores)
    common = sorted(set(mine) & set(theirs))
    if len(common) >= 2:
        _, low, _ = stats.mean_interval([theirs[item] - mine[item] for item in common])
        return not low > 0  # an undefined interval (NaN) is no evidence either
    floor = best.low if not math.isnan(best.low) else best.quality
    return (row.high if not math.isnan(row.high) else row.quality) >= floor


def recommend(rows: Sequence[ApproachRow], requests: int) -> str:
    """Which approach to use and why, in one sentence (the lesson's decision, on this run's evidence)."""
    measured = [r for r in rows if not math.isnan(r.quality)]
    if len(measured) < 2:
        return "Rate the answers, or choose answer checks, to rank the approaches."
    best = measured[0]
    as_good = [r for r in measured if as_good_as(r, best)]
    kinds = {r.contender: SIMPLER_FIRST.index(next(k for k, v in APPROACHES.items() if v == r.approach))
             if r.approach in APPROACHES.values() else len(SIMPLER_FIRST) for r in as_good}  # fmt: skip
    chosen = min(as_good, key=lambda r: (round(r.total_cost(requests), 2), kinds[r.contender], r.latency_s))
    quality = f"{best.measure} {best.quality:.2f}" if chosen is best else f"{chosen.measure} {chosen.quality:.2f}"
    cost = f"${chosen.total_cost(requests):,.2f} for {requests:,} requests"
    if len(as_good) == 1:
        return (
            f"Use {chosen.approach} ({chosen.contender}): its quality ({quality}) is clearly above every other "
            f"approach's, at {cost}."
        )
    others = ", ".join(r.approach for r in as_good if r is not chosen)
    return (
        f"Use {chosen.approach} ({chosen.contender}): it is as good as {others} on this run ({quality}; no "
        f"clear difference) and the cheapest and simplest of them, at {cost}."
    )


def summary(rows: Sequence[ApproachRow], requests: int) -> dict[str, Any]:
    """The ranking as the reports carry it: the volume it was priced at, the advice, and the table."""
    return {"requests": requests, "recommendation": recommend(rows, requests),
            "rows": [row.as_dict(requests) for row in rows]}  # fmt: skip
