"""Tokens and cost: what training on a dataset costs per model, and how it compares with prompting and retrieval."""

import pandas as pd
import streamlit as st

from lib.openai_format.rules import auto_batch_size
from lib.price import pricing
from lib.train import launch
from lib.train.estimate import rough_duration
from lib.ui.charts import break_even_chart, lengths_chart
from lib.ui.plain import plain
from lib.ui.prices_view import price_editor
from lib.ui.provider import local_training_estimate
from lib.ui.widgets import (
    cached_counts,
    cached_request_tokens,
    cached_rows,
    passage_tokens,
    require_dataset,
    show_flash,
    user_prices,
)
from lib.words import plural

DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"

dataset = require_dataset()
st.title(f"Tokens and cost · {plain(dataset.name)}")
show_flash()
listed = user_prices()
names = list(listed)
choose_model, choose_epochs = st.columns([3, 1])
model = choose_model.selectbox("Model", names, index=names.index(DEFAULT_MODEL), key="costs_model")
epochs = choose_epochs.number_input(
    "Epochs", min_value=1, max_value=50, value=None, placeholder="auto", key="costs_epochs", help="Empty: auto"
)
info = listed[model]
rows = cached_rows(dataset.id, dataset.version_id)
split = launch.default_split(rows)  # the training rows Train starts with, split by the function Train uses
everything = cached_counts(dataset.id, dataset.version_id, info.encoding)  # every row: the Examples tab
result = pricing.estimate(launch.training_counts(rows, everything, split.training), info, epochs)

cells = st.columns(6)
cells[0].metric("Examples", f"{result.examples:,}")
cells[1].metric("Tokens", f"{result.total_tokens:,}", help=f"{info.encoding}, counted as OpenAI does")
cells[2].metric("Trained tokens", f"{result.trained_tokens:,}", help="Assistant turns that are trained on")
cells[3].metric("Epochs", result.epochs, help=None if epochs else "OpenAI's automatic choice for this many examples")
cells[4].metric("Billed tokens", f"{result.billed_tokens:,}")
cells[5].metric("Training cost", f"${result.cost_usd:,.2f}")
st.caption(
    f"Counted: the {plural(len(split.training), 'training row')} of {len(rows)} that Train starts with: all but "
    f"rejected, less {launch.DEFAULT_VALIDATION_FRACTION:.0%} held out for validation (and rows tagged “validation”). "
    "Train shows these figures for the rows you choose there."
)
local = local_training_estimate(result.total_tokens, result.epochs, auto_batch_size(result.examples))
st.caption(
    f":material/computer: **Local provider** (free, on this machine): about **{rough_duration(local.seconds)}** "
    f"from launch to tuned model for {result.epochs} epochs at {local.tokens_per_second:,.0f} tokens/s"
    + (
        " (measured by your recent local jobs)."
        if local.measured_here
        else " (measured on a 2-core machine; your first job measures yours)."
    )
)
if result.over_limit:
    st.warning(
        f"{plural(len(result.over_limit), 'example')} {'is' if len(result.over_limit) == 1 else 'are'} longer than "
        f"{model}'s {info.context_limit:,}-token limit; training cuts the rest off. Open one below to shorten it."
    )

by_example, all_models, break_even, prices = st.tabs(
    ["Examples", "All models", "Prompt, retrieve or fine-tune", "Prices"]
)

with by_example:
    chart, limit_in_view = lengths_chart([c.total for c in everything], info.context_limit)
    st.altair_chart(chart, width="stretch")
    where = "red line" if limit_in_view else "far beyond the longest example: red line at the right edge"
    st.caption(f"Every row of the dataset. {model}'s limit: {info.context_limit:,} tokens per example ({where}).")
    table = pd.DataFrame(
        {
            "row": range(1, len(everything) + 1),
            "tokens": [c.total for c in everything],
            "trained tokens": [c.trained for c in everything],
            "over limit": [c.total > info.context_limit for c in everything],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch", height=300)
    first = next((n for n, c in enumerate(everything, start=1) if c.total > info.context_limit), 1)
    row = st.number_input("Row", 1, max(1, len(everything)), first, key=f"costs_row_{model}")
    if st.button("Show this row in Examples", icon=":material/arrow_forward:", disabled=not everything):
        st.session_state["examples_focus"] = row
        st.switch_page("pages/examples.py")

with all_models:
    encodings = {m.encoding for m in listed.values()}
    counts_by_encoding = {
        name: launch.training_counts(rows, cached_counts(dataset.id, dataset.version_id, name), split.training)
        for name in encodings
    }
    st.dataframe(pd.DataFrame(pricing.cost_table(counts_by_encoding, epochs, listed)), hide_index=True, width="stretch")

with break_even:
    k = st.slider("Examples in the few-shot prompt (k)", 0, 20, 3, key="costs_k")
    shot = pricing.few_shot(
        cached_request_tokens(dataset.id, dataset.version_id, info.encoding), info, k, result.cost_usd
    )
    shot_cells = st.columns(4)
    shot_cells[0].metric("Tokens k examples add", f"{shot.added_prompt_tokens:,.0f}", help="to every request")
    shot_cells[1].metric(f"Base model, {k}-shot", f"${shot.few_shot_cost_per_1000:,.4f}", help="per 1,000 requests")
    shot_cells[2].metric("Tuned model", f"${shot.tuned_cost_per_1000:,.4f}", help="per 1,000 requests, bare prompt")
    requests = shot.break_even_requests
    shot_cells[3].metric("Training repaid after", f"{requests:,.0f} requests" if requests is not None else "never")
    st.altair_chart(break_even_chart(shot), width="stretch")
    if requests is None:
        st.info(f"At these prices the tuned model never costs less than {k}-shot prompting of the base model.")
    st.markdown("**Every alternative at your volume**")
    volume_cell, passages_cell, source_cell = st.columns(3)
    volume = int(volume_cell.number_input("Requests", 1, None, 100_000, step=10_000, key="costs_volume"))
    passages = int(passages_cell.number_input("Passages retrieved", 0, 10, 3, key="costs_passages"))
    per_passage = passage_tokens(source_cell, info.encoding)
    ways = pricing.alternatives(
        cached_request_tokens(dataset.id, dataset.version_id, info.encoding), info, k, passages * per_passage,
        result.cost_usd, volume,
    )  # fmt: skip
    st.dataframe(pd.DataFrame(ways), hide_index=True, width="stretch")

with prices:
    price_editor(listed)
