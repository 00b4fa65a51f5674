"""The charts' specs and figures: what a reader sees depends on them, and each mistake below was seen on screen."""

from __future__ import annotations

from typing import Any

from lib.judge.run import Rating
from lib.judge.tables import rubric_means
from lib.ui.charts import interval_chart, lengths_chart


def layers(chart: Any) -> list[dict[str, Any]]:
    return list(chart.to_dict()["layer"])


def test_the_length_histogram_draws_bars_from_the_axis_up() -> None:
    chart, _ = lengths_chart([80, 82, 85, 90, 120, 121], 65_536)
    bars = layers(chart)[0]
    assert bars["mark"]["type"] == "bar"
    assert bars["encoding"]["x2"]["field"] == "to"
    assert bars["encoding"]["y2"] == {"datum": 0}  # without it each bin is a thin dash at its count


def test_rubric_intervals_stay_on_the_one_to_five_scale() -> None:
    # "Factually correct" 2.25 from 1, 1, 5 and 2 once gave an interval from -0.93 to 5.43
    scores = [1, 1, 5, 2]
    ratings = [
        Rating(1, "Ada", item, "a", "b", "a", {"a": [score], "b": [3]}) for item, score in enumerate(scores, start=1)
    ]
    [row_a, _] = rubric_means(["a", "b"], ["Factually correct"], ratings)
    assert row_a["mean"] == 2.25
    assert row_a["low"] == 1.0 and row_a["high"] == 5.0
    chart = interval_chart([dict(row_a, label="a: Factually correct")], "label", "mean", (1, 5))
    assert all(layer["encoding"]["x"]["scale"]["clamp"] for layer in layers(chart))


def test_every_row_of_an_interval_chart_is_labelled() -> None:
    rows = [
        {"pair": "tuned vs base", "win rate": 0.8, "low": 0.6, "high": 0.9},
        {"pair": "tuned vs 3-shot", "win rate": 0.5, "low": 0.3, "high": 0.7},
        {"pair": "3-shot vs base", "win rate": float("nan"), "low": float("nan"), "high": float("nan")},
    ]
    chart = interval_chart(rows, "pair", "win rate", (0, 1))
    for layer in layers(chart):
        y = layer["encoding"]["y"]
        assert y["scale"]["domain"] == ["tuned vs base", "tuned vs 3-shot", "3-shot vs base"]
        assert y["axis"]["labelOverlap"] is False
