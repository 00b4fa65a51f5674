"""The scorecard's statistics, from well-kept libraries where they exist.

scipy for t quantiles, ``krippendorff`` for alpha; the regularised Bradley-Terry fit is choix's objective solved
by a vectorised Newton's method (choix itself, looping over games in Python, took 88 s on 2,400 items). The
item is the unit: callers average several reviewers' ratings of one item before an interval is
drawn, and the ranking's intervals come from a bootstrap over items. An undefined figure is None
(or NaN in a table), never 1.0 or 0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal

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


def _win_matrix(outcomes: Sequence[Outcome], index: Mapping[str, int]) -> np.ndarray:
    """Half-games won: W[i, j] counts how often i beat j, each outcome two half-games (a tie 1-1)."""
    wins = np.zeros((len(index), len(index)))
    for a, b, score in outcomes:
        half = round(2 * score)
        wins[index[a], index[b]] += half
        wins[index[b], index[a]] += 2 - half
    return wins


def fit_bradley_terry(wins: np.ndarray, alpha: float = 0.1, iterations: int = 50) -> np.ndarray:
    """Log-strengths maximising choix's penalised likelihood, ``alpha * |θ|² + Σ W_ij log(1 + e^-(θ_i - θ_j))``,
    for a stack of win matrices (``... x n x n``) at once: Newton's method on n parameters, exact and fast where
    ``choix.opt_pairwise`` walks every game in Python (88 s for a 2,400-item bootstrap). Centred to mean 0."""
    stack = wins.reshape(-1, *wins.shape[-2:])
    n = stack.shape[-1]
    theta = np.zeros((stack.shape[0], n))
    diagonal = np.arange(n)
    for _ in range(iterations):
        difference = theta[:, :, None] - theta[:, None, :]
        lose = 1.0 / (1.0 + np.exp(np.clip(difference, -500, 500)))  # P(i loses to j)
        gradient = 2 * alpha * theta - (stack * lose).sum(-1) + (stack * lose).sum(-2)
        curvature = stack * lose * (1 - lose)
        coupled = curvature + curvature.transpose(0, 2, 1)
        hessian = -coupled
        hessian[:, diagonal, diagonal] += 2 * alpha + coupled.sum(-1)
        step = np.linalg.solve(hessian, gradient[..., None])[..., 0]
        theta = theta - step
        if np.abs(step).max() < 1e-10:
            break
    theta = theta - theta.mean(-1, keepdims=True)
    return theta.reshape(*wins.shape[:-2], n)


def bradley_terry(outcomes: Sequence[Outcome], players: Sequence[str], alpha: float = 0.1) -> dict[str, float | None]:
    """Strengths (geometric mean 1 over the contenders that played): P(a beats b) = s_a / (s_a + s_b).

    The regularised maximum-likelihood fit of ``choix.opt_pairwise`` (tests compare the two), so a contender
    that never wins gets a small but finite strength; a contender that never played has no strength (None).
    A tie counts half a win each way.
    """
    played = [p for p in players if any(p in (a, b) for a, b, _ in outcomes)]
    if len(played) < 2:
        return dict.fromkeys(players)
    index = {p: i for i, p in enumerate(played)}
    theta = fit_bradley_terry(_win_matrix(outcomes, index), alpha)
    return {p: (float(math.exp(theta[index[p]])) if p in index else None) for p in players}


def bradley_terry_intervals(
    outcomes_by_item: Mapping[Any, Sequence[Outcome]],
    players: Sequence[str],
    resamples: int = 200,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """95% percentile intervals of the strengths from a bootstrap over items (NaN where undefined).

    Each item's outcomes become one win matrix; a resample's matrix is their sum weighted by how often the
    resample drew each item, and all resamples are fitted together."""
    items = list(outcomes_by_item)
    drawn: dict[str, list[float]] = {p: [] for p in players}
    if items:
        index = {p: i for i, p in enumerate(players)}
        per_item = np.stack([_win_matrix(outcomes_by_item[item], index) for item in items])
        rng = np.random.default_rng(seed)
        counts = np.stack([np.bincount(rng.integers(0, len(items), len(items)), minlength=len(items))
                           for _ in range(resamples)])  # fmt: skip
        samples = np.einsum("ri,ijk->rjk", counts.astype(float), per_item)
        games = samples.sum(-1) + samples.sum(-2)  # half-games each contender played, per resample
        complete = (games > 0).all(-1)
        if complete.any() and len(players) >= 2:
            strengths = np.exp(fit_bradley_terry(samples[complete]))
            for player, column in index.items():
                drawn[player] += strengths[:, column].tolist()
        for sample in samples[~complete]:  # a contender missing from a resample: fit those who played
            played = [p for p in players if sample[index[p]].sum() + sample[:, index[p]].sum() > 0]
            if len(played) >= 2:
                keep = [index[p] for p in played]
                theta = fit_bradley_terry(sample[np.ix_(keep, keep)])
                for player, value in zip(played, np.exp(theta).tolist(), strict=True):
                    drawn[player].append(value)
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
