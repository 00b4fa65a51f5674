"""Should we fine-tune? A three-way decision from per-item win rates, an equivalence margin and cost.

The tuned model's win rate against the baseline is the mean over items of its score on each item
(win 1, tie 0.5, loss 0, averaged over the item's reviewers), with a 95% Wilson interval over items:

- **fine-tune**: the interval lies above 0.5 + margin (better), or within 0.5 ± margin (as good) and
  the tuned model is cheaper per request;
- **keep the baseline**: the interval lies below 0.5 - margin (worse), or within 0.5 ± margin and the
  tuned model is not cheaper;
- **not enough evidence**: anything else — with how many more rated items would most likely settle it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from lib.judge.stats import wilson
from lib.words import plural

FINE_TUNE = "fine-tune"
KEEP_BASELINE = "keep the baseline"
NOT_ENOUGH = "not enough evidence"
DEFAULT_MARGIN = 0.05
_MOST_ITEMS = 1_000_000


@dataclass(frozen=True)
class Verdict:
    decision: str | None  # FINE_TUNE, KEEP_BASELINE, NOT_ENOUGH; None: no verdict can be given
    headline: str
    reasons: list[str] = field(default_factory=list)
    more_items_needed: int | None = None  # only for NOT_ENOUGH; None: more items of this kind would not settle it


def quality(low: float, high: float, margin: float) -> str:
    """'better', 'worse', 'as good' (within the margin) or 'unclear', from the win rate's interval."""
    if math.isnan(low):
        return "unclear"
    if low > 0.5 + margin:
        return "better"
    if high < 0.5 - margin:
        return "worse"
    if low >= 0.5 - margin and high <= 0.5 + margin:
        return "as good"
    return "unclear"


def decide(low: float, high: float, margin: float, cheaper: bool) -> str:
    found = quality(low, high, margin)
    if found == "better" or (found == "as good" and cheaper):
        return FINE_TUNE
    if found in ("worse", "as good"):
        return KEEP_BASELINE
    return NOT_ENOUGH


def more_items_needed(rate: float, items: int, margin: float, cheaper: bool) -> int | None:
    """How many more items, at the win rate seen so far, would settle the decision (None: never would)."""
    if items == 0 or math.isnan(rate):
        return None

    def settles(n: int) -> bool:
        return decide(*wilson(rate * n, n), margin, cheaper) != NOT_ENOUGH

    if not settles(_MOST_ITEMS):
        return None
    low, high = items, _MOST_ITEMS  # the interval only narrows as n grows: a binary search finds the least n
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if settles(middle) else (middle + 1, high)
    return max(0, low - items)


def settled_while_rating(item_scores: Sequence[float], remaining: int, margin: float, cheaper: bool) -> str | None:
    """What a reviewer can be told: the decision when more ratings can no longer change it, else None.

    Settled when the interval already decides, or when the remaining unrated items, all won or all lost,
    would give the same decision (including: still not enough evidence).
    """
    n = len(item_scores)
    total = sum(item_scores)
    if n and (now := decide(*wilson(total, n), margin, cheaper)) != NOT_ENOUGH:
        return now
    if n + remaining == 0:
        return None
    best = decide(*wilson(total + remaining, n + remaining), margin, cheaper)
    worst = decide(*wilson(total, n + remaining), margin, cheaper)
    return best if best == worst else None


def verdict(
    tuned: str,
    baseline: str,
    item_scores: Sequence[float],
    ratings: int,
    margin: float = DEFAULT_MARGIN,
    cost_per_1000: tuple[float, float] | None = None,
    prompt_tokens: tuple[float, float] | None = None,
    training_cost: float = 0.0,
) -> Verdict:
    """The decision for ``tuned`` against ``baseline``; ``item_scores`` is the tuned model's score per item.

    ``cost_per_1000`` and ``prompt_tokens``: (tuned, baseline) per 1,000 requests and per request.
    """
    n = len(item_scores)
    if n == 0:
        return Verdict(None, f"Not rated yet: the verdict needs ratings of {tuned} against {baseline}.")
    rate = sum(item_scores) / n
    low, high = wilson(sum(item_scores), n)
    cheaper = cost_per_1000 is not None and cost_per_1000[0] < cost_per_1000[1]
    found = quality(low, high, margin)
    decision = decide(low, high, margin, cheaper)
    reasons = [
        f"Quality: {tuned} wins {rate:.0%} of the time against {baseline} over {plural(n, 'item')} "
        f"({plural(ratings, 'rating')}; "
        f"ties count half). With 95% confidence the true share is between {low:.0%} and {high:.0%}.",
        {
            "better": f"That is better than {baseline} by more than the {margin:.0%} margin.",
            "worse": f"That is worse than {baseline} by more than the {margin:.0%} margin.",
            "as good": f"That is as good as {baseline}: within {margin:.0%} of an even split.",
            "unclear": f"That does not yet tell whether {tuned} is better, worse or as good (margin {margin:.0%}).",
        }[found],
    ]
    if cost_per_1000 is not None:
        tuned_cost, baseline_cost = cost_per_1000
        reasons.append(
            f"Running cost per 1,000 requests: {tuned} ${tuned_cost:,.4f}, {baseline} ${baseline_cost:,.4f}"
            + (
                f"; prompt tokens per request: {tuned} {prompt_tokens[0]:,.0f}, {baseline} {prompt_tokens[1]:,.0f}."
                if prompt_tokens
                else "."
            )
        )
        saving = baseline_cost - tuned_cost
        if saving > 0:
            repaid = training_cost / saving * 1000
            reasons.append(f"Training (${training_cost:,.2f}) is repaid after {repaid:,.0f} requests.")
        elif training_cost > 0 or saving < 0:
            reasons.append("The tuned model does not cost less per request, so training is never repaid in money.")
    more = more_items_needed(rate, n, margin, cheaper) if decision == NOT_ENOUGH else None
    if decision == NOT_ENOUGH:
        if more is None:
            reasons.append(
                "At this win rate more items alone would not settle it: widen the margin or change the test."
            )
        else:
            reasons.append(
                f"About {more:,} more rated {'item' if more == 1 else 'items'} would most likely settle it, "
                "if the win rate holds."
            )
    headline = {
        FINE_TUNE: f"Fine-tune: {tuned} gives better answers than {baseline}."
        if found == "better"
        else f"Fine-tune: {tuned} answers as well as {baseline} and costs less per request.",
        KEEP_BASELINE: f"Keep the baseline: {baseline} gives better answers."
        if found == "worse"
        else f"Keep the baseline: {tuned} answers as well as {baseline} but costs no less.",
        NOT_ENOUGH: "Not enough evidence yet to say whether fine-tuning pays off.",
    }[decision]
    return Verdict(decision, headline, reasons, more)
