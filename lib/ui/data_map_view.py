"""The data map on screen: training-signal columns and filter on Examples, the map itself on Jobs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import altair as alt
import openai
import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from lib.curate import datasets
from lib.curate.dataset import Dataset, Row
from lib.errors import StudioError
from lib.train import data_map, jobs, tracking
from lib.train.data_map import ExampleSignal
from lib.train.provenance import Provenance
from lib.train.providers import ProviderConfig
from lib.ui.provider import current_provider, provider_client
from lib.ui.widgets import cached_rows, select_dataset
from lib.words import plural

EXPLAIN = (
    "From each example's loss in every epoch of the job: confidence is the model's mean probability per answer "
    "token, variability how much it changed between epochs. Hard to learn (low confidence, steady) is often a "
    "wrong or odd answer; easy (high confidence, steady) is often redundant; ambiguous examples keep changing."
)


@st.cache_data(max_entries=16, ttl=30, show_spinner=False)
def _losses(fingerprint: str, job_id: str, _client: openai.OpenAI, _config: ProviderConfig) -> dict[int, list[float]]:
    """Kept 30 s, an unreachable provider's empty answer too: Examples must not wait on it at every click."""
    try:
        job = tracking.retrieve(_client, _config, job_id)
        return (data_map.fetch(_client, _config, job) or {}) if job.status == "succeeded" else {}
    except StudioError:
        return {}


def job_signals(client: openai.OpenAI, config: ProviderConfig, made: Provenance) -> dict[int, ExampleSignal]:
    """Row id -> signal for one job (empty where the provider records no per-example losses)."""
    losses = _losses(config.fingerprint, made.job_id, client, config)
    return {signal.row_id: signal for signal in data_map.signals(losses, made)}


def latest_signals(dataset: Dataset) -> tuple[Provenance, dict[int, ExampleSignal]] | None:
    """The signals of the newest job trained on this dataset, when the current provider can give them."""
    config = current_provider()
    made = data_map.latest_job_of(dataset.id, list(jobs.job_provenance(config.kind).values()))
    if made is None:
        return None
    try:
        found = job_signals(provider_client(config), config, made)
    except StudioError:  # the provider is not reachable now: the table simply has no signal columns
        return None
    return (made, found) if found else None


def signal_filter(where: DeltaGenerator, made: Provenance) -> str | None:
    """The "Training signal" filter of Examples (None: all rows)."""
    choice = where.selectbox(
        f"Training signal of {made.job_id}", ["all", *data_map.GROUPS], key="examples_signal", help=EXPLAIN
    )
    return None if choice == "all" else choice


def map_chart(signals: dict[int, ExampleSignal], rows: Sequence[Row]) -> int | None:
    """The map, one point per example still in the dataset; returns the row number of a clicked point."""
    numbers = {row.id: n for n, row in enumerate(rows, start=1)}
    points = [
        {"row": numbers[s.row_id], "confidence": s.confidence, "variability": s.variability, "group": s.group,
         "mean loss": round(s.mean_loss, 3)}
        for s in signals.values() if s.row_id in numbers
    ]  # fmt: skip
    if not points:
        return None
    pick = alt.selection_point(name="pick", fields=["row"])
    chart = (
        alt.Chart(pd.DataFrame(points))
        .mark_circle(size=70)
        .encode(
            x=alt.X("variability:Q", title="Variability (change between epochs)"),
            y=alt.Y("confidence:Q", title="Confidence (mean probability per answer token)"),
            color=alt.Color("group:N", scale=alt.Scale(domain=list(data_map.GROUPS))),
            tooltip=["row", "group", "mean loss", alt.Tooltip("confidence:Q", format=".2f")],
        )
        .add_params(pick)
    )
    event = st.altair_chart(chart, on_select="rerun", key="jobs_data_map", width="stretch")
    picked = event.selection.get("pick") or []
    return int(picked[0]["row"]) if picked and "row" in picked[0] else None


def job_map(client: openai.OpenAI, config: ProviderConfig, made: Provenance) -> None:
    """Jobs: the data map of a finished job on its dataset; clicking a point opens that row on Examples."""
    try:
        signals = job_signals(client, config, made)
        dataset = datasets.get_dataset(made.dataset_id)
    except StudioError:  # no per-example losses here (other providers), or the dataset was deleted
        return
    if not signals:
        return
    with st.expander(
        f"Data map: {plural(len(signals), 'example')} of {dataset.name} by what training said", expanded=True
    ):
        counts = Counter(s.group for s in signals.values())
        confidences = [s.confidence for s in signals.values()]
        st.caption(
            f"{EXPLAIN} Here: " + ", ".join(f"{counts[g]} {g}" for g in data_map.GROUPS) + ". The groups are "
            f"relative to this job (confidence ran from {min(confidences):.2f} to {max(confidences):.2f}): "
            "“easy” means easier than most examples here, not that the model has learnt it."
        )
        picked = map_chart(signals, cached_rows(dataset.id, dataset.version_id))
        if picked is not None:
            select_dataset(dataset.id)
            st.session_state["examples_focus"] = picked
            st.switch_page("pages/examples.py")
