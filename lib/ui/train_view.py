"""The parts of Train: the provider's base models, the dataset version to train on, the figures before a launch
(examples, epochs and time on the local provider, billed tokens and cost elsewhere) and what blocks a launch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import openai
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from lib.curate import datasets
from lib.curate.dataset import Dataset, Row
from lib.errors import StudioError
from lib.openai_format.checks import Finding
from lib.openai_format.rules import auto_batch_size, auto_epochs
from lib.price import pricing
from lib.price.tokens import Counter, ExampleTokens
from lib.retrieve.search import DEFAULT_DISTRACTOR_SHARE
from lib.retrieve.source import TrainingPassages
from lib.train import launch, local_client
from lib.train.estimate import rough_duration, this_machine_slowdown
from lib.train.launch import LaunchSettings, Split
from lib.train.providers import ProviderConfig, base_models
from lib.ui import widgets
from lib.ui.provider import local_training_estimate
from lib.words import plural


@st.cache_data(ttl=60, show_spinner="Asking the provider for its models…")
def offered_models(fingerprint: str, _client: openai.OpenAI, _config: ProviderConfig) -> list[str]:
    return base_models(_client, _config)


def models_or_stop(config: ProviderConfig, client: openai.OpenAI) -> list[str]:
    """The base models the provider fine-tunes; where it cannot say or offers none, why, and a stop."""
    try:
        models = offered_models(config.fingerprint, client, config)
    except StudioError as error:
        st.error(str(error), icon=":material/cloud_off:")
        if st.button("Try again", icon=":material/refresh:"):
            offered_models.clear()
            st.rerun()
        st.stop()
    if not models:
        st.warning(f"{config.name} offers no base model to fine-tune.")
        st.stop()
    return models


def version_choice(container: DeltaGenerator, dataset: Dataset) -> tuple[Dataset, bool]:
    """The dataset at the version chosen to train on (the newest first), and whether that is the latest."""
    versions = {v.id: v for v in datasets.versions(dataset.id)}
    version_id = container.selectbox(
        "Dataset version",
        list(versions),
        key=f"train_version_{dataset.id}",
        format_func=lambda v: (
            f"{versions[v].number} · {versions[v].created_at} · {versions[v].summary} "
            f"({plural(versions[v].n_examples, 'example')})"
        ),
        help="The newest first; a job records which version it trained on.",
    )
    return replace(dataset, version_id=version_id), version_id == dataset.version_id


def passages_choice(container: DeltaGenerator) -> TrainingPassages | None:
    """Train with passages: a knowledge source, k passages per example and the share given distractors; None for
    plain training."""
    source = widgets.knowledge_source_choice(
        container, "Train with passages from", "train_knowledge", "No passages (plain training)",
        "Each example's prompt gets the passages retrieved for its question, as a “tuned + retrieval” contender is "
        "asked: the model learns to read them. Add sources on Knowledge.",
    )  # fmt: skip
    if source is None:
        return None
    k = container.number_input("Passages per example", 1, 10, 3, key="train_passages")
    share = container.slider(
        "Distractor share", 0, 100, round(DEFAULT_DISTRACTOR_SHARE * 100), step=10, format="%d%%",
        key="train_distractors",
        help="In this share of the training examples the right passage is shuffled among random others, so the "
        "model learns to pick it out; validation examples get what answering gets.",
    )  # fmt: skip
    return TrainingPassages(source.id, source.version_id, source.name, int(k), share / 100, source.passage_template)


def _training_counts(
    dataset: Dataset, rows: Sequence[Row], split: Split, settings: LaunchSettings, encoding: str
) -> list[ExampleTokens]:
    """Token counts of what is uploaded for training: the passages counted when it trains with them."""
    if settings.passages is not None:
        row_ids = tuple(row.id for row in split.training)
        found = _counts_with_passages(dataset.id, dataset.version_id, row_ids, settings.passages, settings.seed or 0,
                                      encoding)  # fmt: skip
        return list(found)
    return launch.training_counts(rows, widgets.cached_counts(dataset.id, dataset.version_id, encoding), split.training)


@st.cache_resource(max_entries=8, show_spinner="Retrieving each example's passages…")
def _counts_with_passages(
    dataset_id: int, version_id: int, row_ids: tuple[int, ...], passages: TrainingPassages, seed: int, encoding: str
) -> tuple[ExampleTokens, ...]:
    """Computed once per choice, not on every rerun: a search per example."""
    by_id = {row.id: row for row in widgets.cached_rows(dataset_id, version_id)}
    settings = LaunchSettings("", seed=seed, passages=passages)
    return tuple(Counter(encoding).count_all(launch.uploaded_examples([by_id[i] for i in row_ids], settings)))


def before_you_start(
    config: ProviderConfig,
    dataset: Dataset,
    rows: Sequence[Row],
    split: Split,
    settings: LaunchSettings,
    base_model: str,
) -> float | None:
    """The figures of the split the page made: its examples; epochs and time on the local provider, billed tokens
    and cost at ``base_model``'s prices elsewhere. Returns the training cost estimated (None: the local provider,
    or no price is listed)."""
    st.subheader("Before you start")
    cells = st.columns(4)
    cells[0].metric("Training examples", len(split.training))
    cells[1].metric("Validation examples", len(split.validation))
    if config.kind == "local":
        counts = _training_counts(dataset, rows, split, settings, "o200k_base")
        n_epochs = settings.n_epochs or auto_epochs(len(counts))
        batch_size = settings.batch_size or auto_batch_size(len(counts))
        local = local_training_estimate(sum(c.total for c in counts), n_epochs, batch_size)
        cells[2].metric("Epochs", n_epochs)
        basis = "this machine's last jobs" if local.measured_here else "a benchmark machine (no job here yet)"
        cells[3].metric(
            "Training time (estimate)",
            f"{'up to' if settings.early_stopping_patience else 'about'} {rough_duration(local.seconds)}",
            help=f"At {local.tokens_per_second:,.0f} tokens/s with batch size {batch_size}, measured on {basis}, with "
            "the machine otherwise idle; free. While the job runs, Jobs refines the finish time from its own steps.",
        )  # fmt: skip
        slowdown, load, cores = this_machine_slowdown()
        if slowdown >= 1.5 and local_client.base_url().startswith("http://127.0.0.1"):  # the server shares this CPU
            st.caption(
                f":material/speed: This machine is busy (load {load:.1f} on {plural(cores, 'core')}): training may "
                f"take up to {rough_duration(local.seconds * slowdown)} while that lasts.",
            )
        return None
    try:
        info = pricing.resolve(base_model, widgets.user_prices())
        counts = _training_counts(dataset, rows, split, settings, info.encoding)
        estimate = pricing.estimate(counts, info, settings.n_epochs)
        cells[2].metric("Billed tokens", f"{estimate.billed_tokens:,}", help=f"{estimate.epochs} epochs")
        cells[3].metric("Training cost", f"${estimate.cost_usd:,.2f}", help="At the prices on Tokens and cost")
    except StudioError:
        cells[2].caption(f"No price is listed for {base_model}.")
        return None
    return estimate.cost_usd


def blocking_errors(errors: Sequence[Finding], latest: bool) -> None:
    """The errors that stop a launch, the first ten with a link to their row (on the latest version)."""
    st.error(f"{plural(len(errors), 'error')} in the chosen examples: fix them before launch.", icon=":material/block:")
    for finding in errors[:10]:
        where = f"Row {finding.line}" if finding.line else "Dataset"
        text, link = st.columns([5, 1])
        text.markdown(f"**{where}** · {finding.message}")
        if (
            latest
            and finding.line
            and link.button("Open", key=f"train_open_{finding.line}", icon=":material/arrow_forward:")
        ):
            st.session_state["examples_focus"] = finding.line
            st.switch_page("pages/examples.py")
    if len(errors) > 10:
        st.caption(f"…and {len(errors) - 10} more on the Examples screen.")
    if not latest:
        st.caption("These are the rows of an earlier version: fix them in the latest one, or restore it on History.")
