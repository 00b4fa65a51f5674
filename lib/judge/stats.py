"""The scorecard's statistics, from well-kept libraries where they exist.

scipy for t quantiles, ``krippendorff`` for alpha, ``choix`` for a regularised Bradley-Terry fit. The
item is the unit: callers average several reviewers' ratings of one item before an interval is
drawn, and the ranking's intervals come from a bootstrap over items. An undefined figure is None
(or NaN in a table), never 1.0 or 0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal

import choix
import krippendorff
import numpy as np
from scipy import stats as scipy_stats

Z95 = float(scipy_stats.norm.ppf(0.975))
Outcome = tuple[str, str, float]
Level = Literal["nominal", "ordinal"]  # (a, b, score of a: 1 win, 0.5 tie, 0 loss)


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; ``successes`` may be fractional (ties count half). NaN for n = 0."""
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(max(0.0, p * (1 - p)) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: Sequence[float], bounds: tuple[float, float] | None = None) -> tuple[float, float, float]:
    """(mean, low, high): the mean with its 95% Student t interval; the interval is NaN below 2 values.

    With ``bounds`` (a rating scale), the interval is cut to the scale: a mean of 1-5 scores cannot leave it.
    """
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(scipy_stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    if bounds is not None:
        return mean, max(bounds[0], mean - half), min(bounds[1], mean + half)
    return mean, mean - half, mean + half


def bradley_terry(outcomes: Sequence[Outcome], players: Sequence[str], alpha: float = 0.1) -> dict[str, float | None]:
    """Strengths (geometric mean 1 over the contenders that played): P(a beats b) = s_a / (s_a + s_b).

    A regularised maximum-likelihood fit (``choix``), so a contender that never wins gets a small but
    finite strength; a contender that never played has no strength (None). A tie counts half a win each way.
    """
    played = [p for p in players if any(p in (a, b) for a, b, _ in outcomes)]
    if len(played) < 2:
        return dict.fromkeys(players)
    index = {p: i for i, p in enumerate(played)}
    data = []
    for a, b, score in outcomes:
        wins_a = round(2 * score)  # each outcome as two half-games: a win 2-0, a tie 1-1
        data += [(index[a], index[b])] * wins_a + [(index[b], index[a])] * (2 - wins_a)
    params = choix.opt_pairwise(len(played), data, alpha=alpha)
    params = params - params.mean()
    return {p: (float(math.exp(params[index[p]])) if p in index else None) for p in players}


def bradley_terry_intervals(
    outcomes_by_item: Mapping[Any, Sequence[Outcome]],
    players: Sequence[str],
    resamples: int = 200,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """95% percentile intervals of the strengths from a bootstrap over items (NaN where undefined)."""
    items = list(outcomes_by_item)
    drawn: dict[str, list[float]] = {p: [] for p in players}
    if items:
        rng = np.random.default_rng(seed)
        for _ in range(resamples):
            chosen = rng.integers(0, len(items), len(items))
            sample = [o for i in chosen for o in outcomes_by_item[items[i]]]
            for player, strength in bradley_terry(sample, players).items():
                if strength is not None:
                    drawn[player].append(strength)
    result = {}
    for player, values in drawn.items():
        enough = len(values) >= resamples // 2
        low, high = np.percentile(values, [2.5, 97.5]) if enough else (math.nan, math.nan)
        result[player] = (float(low), float(high))
    return result


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float | None:
    """Cohen's κ for two reviewers' labels of the same items; None where undefined (no items, or chance = 1)."""
    n = len(first)
    if n == 0 or n != len(second):
        return None
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    count_a, count_b = Counter(first), Counter(second)
    expected = sum(count_a[c] * count_b[c] for c in set(count_a) | set(count_b)) / (n * n)
    if math.isclose(expected, 1.0):
        return None  # both always gave the same single label: agreement cannot be told from chance
    return (observed - expected) / (1 - expected)


def krippendorff_alpha(
    units: Mapping[Any, Mapping[str, Hashable]], level: Level = "nominal", domain: Sequence[float] | None = None
) -> float | None:
    """Krippendorff's alpha over units rated by several reviewers (missing ratings allowed); None where undefined.

    ``units``: unit -> {reviewer: value}. Nominal values may be any labels; ordinal ones numbers (1-5).
    """
    reviewers = sorted({r for values in units.values() for r in values})
    shared = [u for u, values in units.items() if len(values) >= 2]
    if len(reviewers) < 2 or not shared:
        return None
    labels = sorted({str(v) for u in shared for v in units[u].values()})
    if level == "nominal" and len(labels) < 2:
        return None  # one value only: nothing to tell agreement from chance
    code = {label: i for i, label in enumerate(labels)}
    matrix = np.full((len(reviewers), len(shared)), np.nan)
    for column, unit in enumerate(shared):
        for row, reviewer in enumerate(reviewers):
            value = units[unit].get(reviewer)
            if value is not None:
                matrix[row, column] = code[str(value)] if level == "nominal" else float(value)  # type: ignore[arg-type]
    try:
        seen = sorted({float(x) for x in matrix[~np.isnan(matrix)]})
        value_domain = None if level == "nominal" else (domain or seen)
        alpha = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level, value_domain=value_domain)
    except (ValueError, ZeroDivisionError):
        return None
    return float(alpha) if math.isfinite(alpha) else None
