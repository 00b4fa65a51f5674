"""The scorecard of a ratings file, for scripts (``python -m lib scorecard``): pairs, ranking, agreement, rubric
and the verdict as plain JSON-ready values, without a stored run."""

from __future__ import annotations

from typing import Any

from lib.judge.judge_agreement import judge_agreement
from lib.judge.run import Rating, reviewer_key
from lib.judge.tables import agreement, duplicates, oriented, pair_results, ranking, rubric_means
from lib.judge.verdict import verdict


def summary(
    ratings: list[Rating],
    criteria: list[str],
    tuned: str,
    baseline: str,
    margin: float,
    cost_per_1000: tuple[float, float] | None = None,
    judge: str | None = None,
    count_judge: bool = False,
) -> dict[str, Any]:
    """The scorecard of a ratings file as plain JSON-ready values (``python -m lib scorecard``).

    With ``judge``, that reviewer's rows are a model's votes: measured against the other reviewers' per-item
    majority (``"judge"`` in the result) and left out of everything else unless ``count_judge``."""
    judged: dict[str, Any] | None = None
    if judge is not None:
        key = reviewer_key(judge)
        votes = [r for r in ratings if reviewer_key(r.reviewer) == key]
        people = [r for r in ratings if reviewer_key(r.reviewer) != key]
        measured = judge_agreement(judge, votes, people, criteria)
        kept = ("reviewer", "items", "split", "agreement", "kappa", "kappa_low", "kappa_high", "position_bias")
        judged = {k: measured[k] for k in kept}
        judged["people"] = agreement(people, list(dict.fromkeys(x for r in people for x in (r.left, r.right))),
                                     criteria)["value"]  # fmt: skip
        ratings = ratings if count_judge else people
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
        **({"judge": judged | {"counted": count_judge}} if judged is not None else {}),
    }
