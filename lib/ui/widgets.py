"""Widgets shared by several pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import streamlit as st

from lib.curate.examples import frozen
from lib.curate.format_checks import Finding
from lib.curate.import_export import check_rows
from lib.db import dataset_store, price_store
from lib.db.dataset_store import Dataset, Row
from lib.price import pricing
from lib.price.pricing import ModelInfo, RequestTokens, request_tokens
from lib.price.tokens import Counter, ExampleTokens


def current_dataset() -> Dataset | None:
    """The sidebar's dataset chooser; the choice is kept in ``st.session_state.dataset_id``."""
    datasets = dataset_store.list_datasets()
    if not datasets:
        st.sidebar.caption("No dataset yet.")
        return None
    by_id = {d.id: d for d in datasets}
    if "dataset_choice" in st.session_state:  # set by select_dataset() during the previous run
        st.session_state["dataset_id"] = st.session_state.pop("dataset_choice")
    if st.session_state.get("dataset_id") not in by_id:
        st.session_state["dataset_id"] = datasets[0].id
    dataset_id = st.sidebar.selectbox(
        "Dataset",
        list(by_id),
        format_func=lambda i: f"{by_id[i].name} ({by_id[i].n_examples})",
        key="dataset_id",
    )
    return by_id[dataset_id]


def select_dataset(dataset_id: int | None) -> None:
    """Make ``dataset_id`` the sidebar's choice from the next run on (None: the first dataset)."""
    st.session_state["dataset_choice"] = dataset_id


def require_dataset() -> Dataset:
    """The chosen dataset, or a pointer to the Datasets screen and a stop."""
    dataset = current_dataset()
    if dataset is None:
        st.info("There is no dataset yet: create one or load the sample on the Datasets screen.")
        st.page_link("pages/datasets.py", label="Go to Datasets", icon=":material/folder_open:")
        st.stop()
    return dataset


@st.cache_resource(max_entries=8, show_spinner=False)
def cached_rows(dataset_id: int, version_id: int) -> tuple[Row, ...]:
    """A dataset's rows at a version (the version id is the cache key), shared read-only by every session.

    cache_resource, not cache_data: copying 50,000 rows on every rerun takes over a second. Rows are
    frozen dataclasses and their examples read-only (``frozen``): an edit works on a deep copy.
    """
    if version_id == dataset_store.get_dataset(dataset_id).version_id:
        found = dataset_store.rows(dataset_id)
    else:
        found = dataset_store.rows_at(dataset_id, version_id)
    return tuple(replace(row, example=frozen(row.example)) for row in found)


@st.cache_data(max_entries=8, show_spinner=False)
def cached_findings(dataset_id: int, version_id: int) -> list[Finding]:
    return check_rows(cached_rows(dataset_id, version_id))


@st.cache_resource(max_entries=16, show_spinner="Counting tokens…")
def cached_counts(dataset_id: int, version_id: int, encoding_name: str) -> tuple[ExampleTokens, ...]:
    """Token counts per example (named tuples), computed once per dataset version and encoding."""
    return tuple(Counter(encoding_name).count_all([row.example for row in cached_rows(dataset_id, version_id)]))


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_request_tokens(dataset_id: int, version_id: int, encoding_name: str) -> RequestTokens:
    return request_tokens([row.example for row in cached_rows(dataset_id, version_id)], Counter(encoding_name))


def user_prices() -> dict[str, ModelInfo]:
    """The listed models with the user's own prices (edited on Tokens and cost) applied."""
    return pricing.models(price_store.price_overrides())


def select_kept(label: str, options: list[Any], key: str, format_func: Callable[[Any], str]) -> Any:
    """A selectbox whose choice survives reruns and falls back to the first option once it is gone."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0]
    return st.selectbox(label, options, key=key, format_func=format_func)


def flash(message: str) -> None:
    """Show ``message`` as a toast after the next rerun."""
    st.session_state["flash"] = message


def show_flash() -> None:
    message = st.session_state.pop("flash", None)
    if message:
        st.toast(message)


def undo_button(dataset: Dataset, key: str) -> None:
    """A button that reverts the latest change not yet undone, saying what it reverts."""
    target = dataset_store.undoable(dataset.id)
    label = f"Undo: {target.summary}" if target else "Undo"
    if st.button(
        label,
        key=key,
        icon=":material/undo:",
        disabled=target is None,
        help="Revert the last change; press again to go further back.",
    ):
        done = dataset_store.undo(dataset.id)
        flash(f"Undone: {target.summary}" if done and target else "Nothing to undo.")
        st.rerun()
