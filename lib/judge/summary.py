"""The scorecard of a ratings file, for scripts (``python -m lib scorecard``): pairs, ranking, agreement, rubric
and the verdict as plain JSON-ready values, without a stored run."""

from __future__ import annotations

from typing import Any

from lib.judge.run import Rating
from lib.judge.tables import agreement, duplicates, oriented, pair_results, ranking, rubric_means
from lib.judge.verdict import verdict


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
        "duplicates": duplicates(ratings),  # ratings replaced by a later one of the same pair, item and reviewer
    }
