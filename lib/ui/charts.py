"""Altair charts shared by the screens (plain altair: no Streamlit here)."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from lib.price.pricing import FewShot, length_histogram


def lengths_chart(totals: Sequence[int], limit: int) -> tuple[alt.LayerChart, bool]:
    """A histogram of example lengths with the context limit as a red rule; False when the limit is off the chart.

    A 65,536-token limit beside 80-token examples would squash every bar into one pixel, so the limit is drawn
    at the chart's right edge when it lies more than three times beyond the longest example.
    """
    longest = max(totals, default=0)
    in_view = limit <= 3 * longest
    edge = max(longest, limit if in_view else 0) * 1.05 or 1
    scale = alt.Scale(domain=[0, edge])
    bars = (
        alt.Chart(pd.DataFrame(length_histogram(totals)))
        .mark_bar()
        .encode(
            x=alt.X("from:Q", scale=scale, title="tokens per example"),
            x2="to:Q",
            y=alt.Y("examples:Q", title="examples"),
            y2=alt.datum(0),  # bars stand on the axis: without y2 a ranged x draws each bin as a thin dash
            tooltip=["from", "to", "examples"],
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"limit": [limit if in_view else edge]}))
        .mark_rule(color="red", strokeDash=[4, 4])
        .encode(x=alt.X("limit:Q", scale=scale))
    )
    return bars + rule, in_view


def break_even_chart(shot: FewShot) -> alt.Chart:
    """Total spend against requests served: few-shot prompting of the base model vs training then the tuned model."""
    requests = shot.break_even_requests
    horizon = int(2 * requests) if requests else 1_000_000
    steps = [round(horizon * i / 20) for i in range(21)]
    return (
        alt.Chart(pd.DataFrame(shot.cumulative_costs(steps)))
        .mark_line()
        .encode(
            x=alt.X("requests:Q", title="requests"),
            y=alt.Y("usd:Q", title="total spend (USD)"),
            color=alt.Color("way:N", title=None),
            tooltip=["way", "requests", alt.Tooltip("usd:Q", format="$,.2f")],
        )
    )


def training_charts(points: Sequence[dict[str, object]]) -> tuple[alt.Chart, alt.Chart]:
    """Loss and accuracy (token accuracy; DPO: reward accuracy) per step, training and validation, from
    ``tracking.metric_points``."""
    frame = pd.DataFrame(list(points), columns=["step", "metric", "kind", "value"])

    def chart(kind: str, title: str) -> alt.Chart:
        return (
            alt.Chart(frame[frame["kind"] == kind], title=title)
            .mark_line(point=alt.OverlayMarkDef(size=12))
            .encode(
                x=alt.X("step:Q", title="step"),
                y=alt.Y("value:Q", title=title.lower(), scale=alt.Scale(zero=kind == "accuracy")),
                color=alt.Color("metric:N", title=None, legend=alt.Legend(orient="bottom")),
                tooltip=["step", "metric", alt.Tooltip("value:Q", format=".3f")],
            )
        )

    dpo = frame["metric"].str.contains("reward").any()
    return chart("loss", "Loss"), chart("accuracy", "Reward accuracy" if dpo else "Token accuracy")


def interval_chart(
    rows: Sequence[dict[str, object]], label: str, value: str, domain: tuple[float, float]
) -> alt.LayerChart:
    """Points with 95% interval bars (``low``/``high`` columns), one row per ``label``."""
    frame = pd.DataFrame(list(rows))
    scale = alt.Scale(domain=list(domain), clamp=True)  # nothing drawn off the scale
    height = 36 * len(frame) + 20
    axis = alt.Axis(labelLimit=420, labelOverlap=False)  # every row named, in full: "… (3-shot) vs …"
    rows_shown = alt.Scale(domain=list(frame[label]))  # a row whose interval is not known yet keeps its label
    base = alt.Chart(frame).encode(y=alt.Y(f"{label}:N", title=None, sort=None, axis=axis, scale=rows_shown))
    bars = base.mark_rule(strokeWidth=2).encode(x=alt.X("low:Q", scale=scale, title=value), x2="high:Q")
    points = base.mark_point(filled=True, size=80).encode(
        x=alt.X(f"{value}:Q", scale=scale), tooltip=[label, alt.Tooltip(f"{value}:Q", format=".2f"), "low", "high"]
    )
    return (bars + points).properties(height=height)
