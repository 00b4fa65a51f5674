"""The scorecard's statistics against small cases worked out by hand."""

import math

import pytest

from lib.judge import stats


def test_wilson_interval_matches_the_textbook_values() -> None:
    low, high = stats.wilson(8, 10)  # Wilson (1927): p = 0.8, n = 10
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943)
    assert stats.wilson(0, 10)[0] == 0.0 and round(stats.wilson(0, 10)[1], 3) == 0.278
    assert stats.wilson(0, 0) == (0.0, 1.0)  # nothing rated: nothing known


def test_mean_interval_uses_student_t_for_small_samples() -> None:
    mean, low, high = stats.mean_interval([2, 4, 4, 4, 5, 5, 7, 9])  # sd = 2.138, t(7) = 2.365
    assert mean == 5.0
    assert (round(low, 3), round(high, 3)) == (round(5 - 2.365 * 2.13809 / math.sqrt(8), 3), 6.788)
    assert stats.mean_interval([3.0]) == (3.0, 3.0, 3.0)


def test_bradley_terry_recovers_the_win_ratio() -> None:
    # A beats B three times out of four: the likelihood is highest at s_A / s_B = 3.
    strength = stats.bradley_terry([("A", "B", 1), ("A", "B", 1), ("A", "B", 1), ("B", "A", 1)], ["A", "B"])
    assert strength["A"] / strength["B"] == pytest.approx(3.0, rel=1e-6)
    assert strength["A"] * strength["B"] == pytest.approx(1.0)  # geometric mean 1


def test_bradley_terry_counts_a_tie_as_half_a_win_and_ranks_three() -> None:
    outcomes = [("A", "B", 0.5), ("A", "B", 1), ("B", "C", 1), ("B", "C", 1), ("A", "C", 1), ("C", "A", 0)]
    strength = stats.bradley_terry(outcomes, ["A", "B", "C"])
    assert sorted(strength, key=strength.__getitem__, reverse=True) == ["A", "B", "C"]
    assert strength["C"] < 1e-3  # C never wins


def test_cohen_kappa_textbook_case() -> None:
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o = 0.7, p_e = 0.5, kappa = 0.4
    first = ["yes"] * 25 + ["no"] * 25
    second = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert stats.cohen_kappa(first, second) == pytest.approx(0.4)
    assert stats.cohen_kappa(["A", "B", "tie"], ["A", "B", "tie"]) == 1.0


def test_krippendorff_alpha_hand_computed() -> None:
    # Coincidences: o_aa = 2, o_ab = o_ba = 1, o_bb = 4; n_a = 3, n_b = 5, n = 8:
    # alpha = 1 - (n - 1) * 2 / (2 * n_a * n_b) = 1 - 14 / 30
    units = {1: ["a", "a"], 2: ["a", "b"], 3: ["b", "b"], 4: ["b", "b"], 5: ["a"]}  # unit 5: one reviewer only
    assert stats.krippendorff_alpha(units) == pytest.approx(1 - 14 / 30)
    three = {1: ["a", "a", "a"], 2: ["b", "b", "b"]}
    assert stats.krippendorff_alpha(three) == 1.0
