"""Widgets shared by several pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd
import streamlit as st

from lib.curate import datasets
from lib.curate.dataset import Dataset, Row
from lib.curate.import_export import check_rows
from lib.errors import DatasetError
from lib.openai_format.checks import Finding
from lib.openai_format.examples import frozen
from lib.price import overrides
from lib.price.pricing import ModelInfo, RequestTokens, request_tokens
from lib.price.tokens import Counter, ExampleTokens
from lib.retrieve import knowledge
from lib.retrieve.source import Source
from lib.train import launch
from lib.train.provenance import Provenance
from lib.ui.plain import plain


def current_dataset() -> Dataset | None:
    """The sidebar's dataset chooser. The choice lives in ``dataset_chosen``, plain session state that,
    unlike a widget's own key, survives moving to a page without the chooser and back."""
    found = datasets.list_datasets()
    if not found:
        st.sidebar.caption("No dataset yet.")
        return None
    by_id = {d.id: d for d in found}
    linked = st.query_params.get("dataset", "")  # a reload or a shared link keeps the dataset
    chosen = st.session_state.pop("dataset_choice", st.session_state.get("dataset_chosen"))
    if chosen is None and linked.isdigit():
        chosen = int(linked)
    if chosen not in by_id:
        chosen = found[0].id
    st.session_state["dataset_chosen"] = chosen
    st.query_params["dataset"] = str(chosen)
    st.session_state["sidebar_dataset"] = chosen

    def remember() -> None:
        st.session_state["dataset_chosen"] = st.session_state["sidebar_dataset"]
        st.query_params["dataset"] = str(st.session_state["sidebar_dataset"])

    st.sidebar.selectbox(
        "Dataset",
        list(by_id),
        format_func=lambda i: f"{by_id[i].name} ({by_id[i].n_examples})",
        key="sidebar_dataset",
        on_change=remember,
    )
    return by_id[chosen]


def version_number(made: Provenance) -> str:
    """The number History shows for the version a job trained on ("?" once its dataset is deleted)."""
    number = datasets.version_number(made.dataset_id, made.version_id)
    return str(number) if number else "?"


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
    found = datasets.rows_of_version(dataset_id, version_id)
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


@st.cache_data(max_entries=16, show_spinner=False)
def mean_passage_tokens(version_id: int, encoding_name: str) -> float:
    """What one retrieved passage adds to a prompt, on average over a knowledge source version."""
    found = knowledge.passages_at(version_id)
    counter = Counter(encoding_name)
    return sum(counter.length(f"[1] {p.text}\n") for p in found) / max(1, len(found))


def passage_tokens(container: Any, encoding_name: str) -> float:
    """Tokens per retrieved passage: measured on a chosen knowledge source, or the user's guess when none exists."""
    by_id = {s.id: s for s in knowledge.sources() if s.n_passages}
    if not by_id:
        return float(container.number_input(
            "Tokens per passage", 1, 5000, 60, key="costs_passage_tokens",
            help="A guess: add a knowledge source on the Knowledge screen to measure it.",
        ))  # fmt: skip
    chosen = container.selectbox(
        "Passages from", list(by_id), key="costs_knowledge", format_func=lambda i: by_id[i].name,
        help="Its passages' mean length in tokens is what each retrieved passage adds to a prompt.",
    )  # fmt: skip
    return mean_passage_tokens(by_id[chosen].version_id, encoding_name)


def finding_rows(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """Findings as a table a person reads: 'whole file' where a finding has no line."""
    return [
        {"line": "whole file" if f.line is None else str(f.line), "severity": f.severity, "problem": f.message,
         "field": f.field, "code": f.code}
        for f in findings
    ]  # fmt: skip


FINDING_COLUMNS = {  # wide enough for "whole file" and for the problem in words
    "line": st.column_config.TextColumn("Line", width="small", help="Line or row of the file; 'whole file' if none"),
    "severity": st.column_config.TextColumn("Severity", width="small"),
    "problem": st.column_config.TextColumn("Problem", width="large"),
}


def show_findings(findings: Sequence[Finding] | list[dict[str, Any]]) -> None:
    """A table of findings, one a row, with the line (or 'whole file') in full."""
    rows = [finding_rows([f])[0] if isinstance(f, Finding) else f for f in findings]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config=FINDING_COLUMNS)


def optional_number(
    container: Any,
    label: str,
    key: str,
    low: float,
    high: float,
    whole: bool = True,
    blank: str = "auto",
    help: str | None = None,
) -> tuple[float | None, bool]:
    """A number field that may be left empty ({blank}); what it holds is never silently replaced.

    Returns (the number or None when empty, whether the text is usable); a problem is said right
    under the field, so the action it feeds can be blocked.
    """
    text = container.text_input(label, key=key, placeholder=blank, help=help).strip()
    if not text:
        return None, True
    try:
        value = float(text.replace(",", "")) if not whole else int(text.replace(",", ""))
    except ValueError:
        kind = "a whole number" if whole else "a number"
        container.error(f"“{plain(text)}” is not {kind}. Leave it empty for {blank}.", icon=":material/error:")
        return None, False
    if not low <= value <= high:
        container.error(f"{label} must be from {low:g} to {high:g} (or empty for {blank}).", icon=":material/error:")
        return None, False
    return value, True


def early_stopping_patience(container: Any, has_validation: bool) -> int | None:
    """The local provider's early stopping: None when off; it needs validation examples to watch."""
    wanted = container.checkbox(
        "Stop when validation loss stops improving",
        key="train_early_stop",
        disabled=not has_validation,
        help="Training ends once the validation loss has not fallen for the chosen number of epochs, and the "
        "tuned model keeps the weights of the epoch with the lowest validation loss."
        + ("" if has_validation else " Needs a validation share above 0 %."),
    )
    if not wanted or not has_validation:
        return None
    return int(container.number_input("Patience (epochs without improvement)", 1, 10, 1, key="train_patience"))


def training_method(
    container: Any, rows: Sequence[Row], base_model: str, tuned: Sequence[str]
) -> tuple[str, float | None, str, bool]:
    """The method the chosen rows call for (DPO for preference pairs), DPO's beta, the model to start from
    (DPO may continue a model tuned from ``base_model``), and whether it can launch."""
    try:
        method = launch.method_for(rows)
    except DatasetError as error:
        st.error(str(error), icon=":material/block:")
        return "supervised", None, base_model, False
    if method != "dpo":
        return method, None, base_model, True
    st.info(
        "These are preference pairs: the job trains with **DPO** (direct preference optimization), raising the "
        "preferred answer's probability over the other one's. OpenAI offers DPO for gpt-4.1, gpt-4.1-mini and "
        "gpt-4.1-nano snapshots; the local provider for its base models.",
        icon=":material/thumbs_up_down:",
    )
    beta, beta_ok = optional_number(
        container, "Beta (DPO)", "train_beta", 0.01, 2, whole=False,
        help="How far the tuned model may move from where it starts: lower moves further (auto: 0.1).",
    )  # fmt: skip
    starts = [base_model, *(m for m in tuned if m.startswith(f"ft:{base_model}:") and ":ckpt-" not in m)]
    start = container.selectbox(
        "Start from", starts, key="train_dpo_start",
        help="DPO works best on a model already tuned on good answers (supervised): continue one of them.",
    )  # fmt: skip
    return method, beta, start, beta_ok


def user_prices() -> dict[str, ModelInfo]:
    """The listed models with the user's own prices (edited on Tokens and cost) applied."""
    return overrides.user_prices()


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
        st.toast(plain(message))  # messages name datasets, files and runs: shown as typed


def undo_button(dataset: Dataset, key: str) -> None:
    """A button that reverts the latest change not yet undone, saying what it reverts."""
    target = datasets.undoable(dataset.id)
    label = f"Undo: {target.summary}" if target else "Undo"
    if st.button(
        label,
        key=key,
        icon=":material/undo:",
        disabled=target is None,
        help="Revert the last change; press again to go further back.",
    ):
        done = datasets.undo(dataset.id)
        flash(f"Undone: {target.summary}" if done and target else "Nothing to undo.")
        st.rerun()


def knowledge_source_choice(container: Any, label: str, key: str, none: str, help: str) -> Source | None:
    """One of the knowledge sources that have passages, or None (the choice called ``none``)."""
    found = {s.id: s for s in knowledge.sources() if s.n_passages}
    names: dict[int | None, str] = {None: none} | {i: f"{s.name} ({s.n_passages} passages)" for i, s in found.items()}
    chosen = container.selectbox(label, list(names), key=key, format_func=names.__getitem__, help=help)
    return found.get(chosen) if chosen is not None else None
