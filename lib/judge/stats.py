"""The scorecard's statistics: intervals, Bradley-Terry strengths and agreement between reviewers.

Plain Python (no scipy): the app stays light. Each function is checked against hand-computed cases.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from itertools import combinations, permutations
from typing import Any

Z95 = 1.959964
# Two-sided 95% Student t critical values by degrees of freedom (1..30); beyond that the normal value.
_T95 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
    2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]  # fmt: skip


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion (sensible for small n and for 0 or n successes)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high): the mean with its 95% t interval (low = high = mean for fewer than 2 values)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = sum(values) / n
    if n < 2:
        return mean, mean, mean
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    t = _T95[n - 2] if n - 1 <= len(_T95) else Z95
    half = t * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def bradley_terry(
    outcomes: Sequence[tuple[str, str, float]], players: Sequence[str], iterations: int = 1000
) -> dict[str, float]:
    """Strengths from (a, b, score of a) outcomes (1 win, 0.5 tie, 0 loss), scaled to a geometric mean of 1.

    Hunter's MM algorithm; P(a beats b) = s_a / (s_a + s_b). A contender that never wins tends to 0.
    """
    wins: dict[str, float] = defaultdict(float)
    games: dict[tuple[str, str], int] = Counter()
    for a, b, score in outcomes:
        wins[a] += score
        wins[b] += 1 - score
        games[(a, b)] += 1
        games[(b, a)] += 1
    strength = {p: 1.0 for p in players}
    for _ in range(iterations):
        updated = {}
        for p in players:
            denominator = sum(games[(p, q)] / (strength[p] + strength[q]) for q in players if q != p and games[(p, q)])
            updated[p] = max(wins[p] / denominator, 1e-9) if denominator else strength[p]
        scale = math.exp(sum(math.log(s) for s in updated.values()) / len(updated))
        updated = {p: s / scale for p, s in updated.items()}
        converged = all(abs(updated[p] - strength[p]) < 1e-10 for p in players)
        strength = updated
        if converged:
            break
    return strength


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float:
    """Cohen's kappa for two reviewers' labels of the same items (1 perfect, 0 chance level)."""
    n = len(first)
    if n == 0 or n != len(second):
        return math.nan
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    count_a, count_b = Counter(first), Counter(second)
    expected = sum(count_a[c] * count_b[c] for c in set(count_a) | set(count_b)) / (n * n)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def krippendorff_alpha(units: Mapping[Any, Sequence[Hashable]]) -> float:
    """Krippendorff's alpha (nominal) over units, each with the labels its reviewers gave (missing ones left out)."""
    coincidence: dict[tuple[Hashable, Hashable], float] = defaultdict(float)
    for labels in units.values():
        m = len(labels)
        if m < 2:
            continue  # a unit one reviewer labelled says nothing about agreement
        for i, j in permutations(range(m), 2):
            coincidence[(labels[i], labels[j])] += 1 / (m - 1)
    totals: dict[Hashable, float] = defaultdict(float)
    for (c, _k), value in coincidence.items():
        totals[c] += value
    n = sum(totals.values())
    disagreement = sum(v for (c, k), v in coincidence.items() if c != k)
    expected = sum(totals[c] * totals[k] for c, k in combinations(totals, 2)) * 2
    if n <= 1 or expected == 0:
        return math.nan if n <= 1 else 1.0
    return 1 - (n - 1) * disagreement / expected
