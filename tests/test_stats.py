"""The scorecard's statistics against independent reference libraries, on random and degenerate cases."""

import math
import random

import choix
import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.proportion import proportion_confint

from lib.judge import stats


@pytest.mark.parametrize("seed", range(20))
def test_wilson_matches_statsmodels_including_half_counted_ties(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(1, 60)
    successes = rng.randint(0, 2 * n) / 2  # ties count half
    assert stats.wilson(successes, n) == pytest.approx(proportion_confint(successes, n, method="wilson"), abs=1e-9)


def test_wilson_textbook_and_degenerate_values() -> None:
    assert stats.wilson(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)  # 8 of 10 items
    assert stats.wilson(0, 3) == pytest.approx((0.0, 0.5615), abs=1e-4)  # lost 3 of 3
    assert all(math.isnan(x) for x in stats.wilson(0, 0))  # nothing rated: undefined, not 0-1


@pytest.mark.parametrize("n", [2, 3, 8, 31, 32, 33, 100])
def test_mean_interval_matches_scipy_t_at_every_size(n: int) -> None:
    values = [float(v) for v in np.random.default_rng(n).integers(1, 6, n)]
    mean, low, high = stats.mean_interval(values)
    ref_low, ref_high = scipy_stats.t.interval(0.95, n - 1, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert (mean, low, high) == pytest.approx((np.mean(values), ref_low, ref_high), abs=1e-9)


def test_mean_interval_is_undefined_below_two_values() -> None:
    mean, low, high = stats.mean_interval([3.0])
    assert mean == 3.0 and math.isnan(low) and math.isnan(high)
    assert all(math.isnan(x) for x in stats.mean_interval([]))


def test_bradley_terry_recovers_the_win_ratio_and_stays_finite_for_a_contender_that_never_wins() -> None:
    strength = stats.bradley_terry([("A", "B", 1.0)] * 30 + [("B", "A", 1.0)] * 10, ["A", "B"], alpha=1e-9)
    a, b = strength["A"], strength["B"]
    assert a is not None and b is not None
    assert a / b == pytest.approx(3.0, rel=1e-3) and a * b == pytest.approx(1.0)  # geometric mean 1
    never = stats.bradley_terry([("A", "B", 1.0)] * 5, ["A", "B", "C"])
    assert never["C"] is None  # never played: no strength, not an inflated one
    assert never["A"] is not None and never["B"] is not None
    assert 1 < never["A"] / never["B"] < 100  # regularised: no 1e9 against 1e-9


def test_bradley_terry_counts_a_tie_as_half_a_win() -> None:
    tied = stats.bradley_terry([("A", "B", 0.5)] * 4, ["A", "B"])
    assert tied["A"] == pytest.approx(tied["B"])
    ranked = stats.bradley_terry([("A", "B", 0.5), ("A", "B", 1), ("B", "C", 1), ("A", "C", 1)], ["A", "B", "C"])
    assert sorted(ranked, key=lambda c: ranked[c] or 0, reverse=True) == ["A", "B", "C"]


def test_bradley_terry_intervals_come_from_a_bootstrap_over_items() -> None:
    by_item = {i: [("A", "B", 1.0 if i % 4 else 0.0)] for i in range(40)}
    intervals = stats.bradley_terry_intervals(by_item, ["A", "B", "C"], resamples=100)
    low, high = intervals["A"]
    assert 1 < low < high and math.isnan(intervals["C"][0])


def _choix_strengths(outcomes: list[tuple[str, str, float]], players: list[str]) -> list[float]:
    index = {p: i for i, p in enumerate(players)}
    data = []
    for a, b, score in outcomes:
        wins = round(2 * score)
        data += [(index[a], index[b])] * wins + [(index[b], index[a])] * (2 - wins)
    params = choix.opt_pairwise(len(players), data, alpha=0.1)
    return np.exp(params - params.mean()).tolist()


@pytest.mark.parametrize("seed", range(8))
def test_bradley_terry_finds_what_choix_finds(seed: int) -> None:
    rng = random.Random(seed)
    players = ["A", "B", "C", "D", "E"][: rng.randint(2, 5)]
    outcomes = [(a, b, rng.choice([0.0, 0.5, 1.0])) for _ in range(rng.randint(3, 60)) for a, b in
                [tuple(rng.sample(players, 2))]]  # fmt: skip
    if len({p for a, b, _ in outcomes for p in (a, b)}) < len(players):
        outcomes += [(p, players[0], 1.0) for p in players[1:]]
    found = stats.bradley_terry(outcomes, players)
    assert [found[p] for p in players] == pytest.approx(_choix_strengths(outcomes, players), rel=1e-5)


def test_bootstrap_intervals_are_those_of_choix_fitted_per_resample() -> None:
    rng = random.Random(3)
    players = ["A", "B", "C"]
    by_item = {i: [(a, b, rng.choice([0.0, 0.5, 1.0])) for a, b in [tuple(rng.sample(players, 2))] * 2]
               for i in range(30)}  # fmt: skip
    items = list(by_item)
    draws = np.random.default_rng(0)
    per_player: dict[str, list[float]] = {p: [] for p in players}
    for _ in range(50):
        sample = [o for i in draws.integers(0, len(items), len(items)) for o in by_item[items[i]]]
        if len({p for a, b, _ in sample for p in (a, b)}) == 3:
            for p, value in zip(players, _choix_strengths(sample, players), strict=True):
                per_player[p].append(value)
    found = stats.bradley_terry_intervals(by_item, players, resamples=50)
    for p in players:
        assert found[p] == pytest.approx(tuple(np.percentile(per_player[p], [2.5, 97.5])), rel=1e-4)


@pytest.mark.parametrize("seed", range(15))
def test_cohen_kappa_matches_scikit_learn(seed: int) -> None:
    rng = random.Random(seed)
    labels = ["A", "B", "tie"][: rng.randint(2, 3)]
    n = rng.randint(2, 40)
    first = [rng.choice(labels) for _ in range(n)]
    second = [x if rng.random() < 0.6 else rng.choice(labels) for x in first]
    found = stats.cohen_kappa(first, second)
    reference = cohen_kappa_score(first, second)
    assert (found is None and math.isnan(reference)) or found == pytest.approx(reference, abs=1e-9)


def test_cohen_kappa_is_undefined_where_both_always_pick_the_same() -> None:
    assert stats.cohen_kappa(["A", "A", "A"], ["A", "A", "A"]) is None  # not 1.0
    assert stats.cohen_kappa([], []) is None


@pytest.mark.parametrize("seed", range(15))
@pytest.mark.parametrize("level", ["nominal", "ordinal"])
def test_krippendorff_alpha_matches_the_reference_package_with_missing_ratings(seed: int, level: stats.Level) -> None:
    import krippendorff

    rng = np.random.default_rng(seed)
    reviewers, items = rng.integers(2, 5), rng.integers(3, 15)
    matrix = rng.integers(1, 6, (reviewers, items)).astype(float)
    matrix[rng.random(matrix.shape) < 0.3] = np.nan
    units = {
        j: {f"r{i}": int(matrix[i, j]) for i in range(reviewers) if not np.isnan(matrix[i, j])} for j in range(items)
    }
    shared = [j for j in range(items) if len(units[j]) >= 2]
    found = stats.krippendorff_alpha(units, level, [1, 2, 3, 4, 5] if level == "ordinal" else None)
    if len({v for j in shared for v in units[j].values()}) < 2:
        assert found is None
        return
    reference = krippendorff.alpha(
        reliability_data=matrix[:, shared], level_of_measurement=level,
        value_domain=[1, 2, 3, 4, 5] if level == "ordinal" else None,
    )  # fmt: skip
    assert found == pytest.approx(reference, abs=1e-9)


def test_krippendorff_alpha_degenerate_cases_are_undefined() -> None:
    assert stats.krippendorff_alpha({1: {"ada": "A"}, 2: {"ada": "B"}}) is None  # one reviewer
    assert stats.krippendorff_alpha({1: {"ada": "A", "bob": "A"}, 2: {"ada": "A", "bob": "A"}}) is None  # one value
    perfect = {1: {"a": "x", "b": "x", "c": "x"}, 2: {"a": "y", "b": "y", "c": "y"}}
    assert stats.krippendorff_alpha(perfect) == pytest.approx(1.0)
