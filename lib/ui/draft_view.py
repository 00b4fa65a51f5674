"""Examples → "Draft examples": a model of the current provider writes new examples in the dataset's style, one
knowledge passage each (those no example covers yet first). They come in as drafts; nothing is approved."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import openai
import streamlit as st

from lib.curate import datasets, draft_estimate, drafts
from lib.curate.dataset import Dataset, Row
from lib.curate.drafts import Draft, PassagePlan, Seed
from lib.errors import StudioError
from lib.retrieve import search
from lib.retrieve.source import Passage, Source
from lib.train.providers import ProviderConfig
from lib.ui.contenders import offered_chat_models
from lib.ui.plain import plain
from lib.ui.provider import current_provider, provider_client
from lib.ui.widgets import cached_rows, knowledge_source_choice, user_prices
from lib.words import plural

PENDING = "draft_pending"  # the run in progress: its drafts, kept here as they come
OUTCOME = "draft_outcome"  # what the last run gave, said once


@st.cache_data(max_entries=8, show_spinner="Finding the passages no example covers yet…")
def cached_plan(dataset_id: int, version_id: int, knowledge_version: int) -> PassagePlan:
    examples = (example for _, example in drafts.seed_examples(cached_rows(dataset_id, version_id)))
    return drafts.plan_passages(search.index_for(knowledge_version), examples)


def section(dataset: Dataset, rows: Sequence[Row]) -> None:
    """The "Draft examples" expander; the form asks the provider for its models only once it is opened."""
    _finish_interrupted(dataset)
    _show_outcome()
    box = st.expander("Draft examples", icon=":material/edit_note:", key="draft_open", on_change="rerun")
    if box.open:
        with box:
            _form(dataset, rows)


def _form(dataset: Dataset, rows: Sequence[Row]) -> None:
    config = current_provider()
    try:
        client = provider_client(config)
        models = offered_chat_models(config.fingerprint, client, config)
    except StudioError as error:
        st.error(f"To draft examples, the provider must answer: {error}", icon=":material/cloud_off:")
        return
    pool = drafts.seed_pool(drafts.seed_examples(rows))
    if not models or not pool:
        st.info("Drafting needs a model to answer and an example (not rejected) with a question and an answer.")
        return
    first = models.index(draft_estimate.default_model(models) or models[0])
    model = str(st.selectbox("Model", models, index=first, key="draft_model"))
    cells = st.columns(3)
    n = int(cells[0].number_input("Examples to draft", 1, 1000, 10, key="draft_n"))
    k = int(cells[1].number_input(
        "Seed examples per draft", 1, 10, 3, key="draft_k",
        help="Rows shown to the model as the style to imitate (never a rejected row).",
    ))  # fmt: skip
    source = _knowledge(cells[2])
    plan = cached_plan(dataset.id, dataset.version_id, source.version_id) if source else PassagePlan((), 0)
    if source:
        st.caption(f"{plan.uncovered} of {plural(len(plan.passages), 'passage')} of {plain(source.name)} are the "
                   "answer to no example yet: drafts take those first, one passage each.")  # fmt: skip
    found = draft_estimate.estimate(config, model, pool, plan.passages, n, k, user_prices())
    st.caption(f"{found.sentence(plain(model))} Drafts come in with status draft, tagged "
               f"'{drafts.TAG}': review them, then approve.")  # fmt: skip
    if st.button("Draft", type="primary", icon=":material/edit_note:", key="draft_go"):
        _draft(dataset, client, config, model, pool, plan.passages, n, k, source.name if source else "")


def _knowledge(container: Any) -> Source | None:
    return knowledge_source_choice(container, "Knowledge source", "draft_knowledge", "None",
                                   "One passage per draft, written into its question and answer.")  # fmt: skip


def _draft(
    dataset: Dataset,
    client: openai.OpenAI,
    config: ProviderConfig,
    model: str,
    pool: Sequence[Seed],
    passages: Sequence[Passage],
    n: int,
    k: int,
    source_name: str,
) -> None:
    """Draft, showing progress. Cancel reruns the page, which stops this loop at its next progress call: the
    drafts so far wait in session state and the next run adds them (_finish_interrupted)."""
    st.button("Cancel (the drafts so far are kept)", key="draft_cancel", icon=":material/stop:")
    bar = st.progress(0.0, f"Drafting {plural(n, 'example')}…")
    pending: dict[str, Any] = {"dataset": dataset.id, "model": model, "drafts": [], "done": 0}
    st.session_state[PENDING] = pending

    def show(done: int, total: int) -> None:
        pending["done"] = done
        bar.progress(done / total, f"{done} of {total} done")

    result = drafts.draft_examples(client, config, model, pool, passages, n, show, k=k, source_name=source_name,
                                   on_draft=pending["drafts"].append)  # fmt: skip
    st.session_state.pop(PENDING, None)
    _add(dataset, pending["dataset"], model, result.drafts, result.sentence(), result.error)
    st.rerun()


def _finish_interrupted(dataset: Dataset) -> None:
    """Add the drafts of a run that a click (Cancel, or any other) cut short."""
    pending = st.session_state.pop(PENDING, None)
    if pending is None:
        return
    drafted: list[Draft] = pending["drafts"]
    said = f"Cancelled: drafted {plural(len(drafted), 'example')} ({pending['done'] - len(drafted)} skipped), kept."
    _add(dataset, pending["dataset"], pending["model"], drafted, said)
    if drafted:
        st.rerun()  # the table above was drawn without them


def _add(current: Dataset, dataset_id: int, model: str, drafted: list[Draft], said: str, error: str = "") -> None:
    try:
        drafts.add_drafts(dataset_id, drafted, model)
    except StudioError as exc:
        st.session_state[OUTCOME] = ("", str(exc))
        return
    st.session_state[OUTCOME] = (said, error)  # a provider error stops drafting: the drafts before it are in
    if drafted and dataset_id == current.id:  # the table shows just the new rows
        total = datasets.get_dataset(dataset_id).n_examples
        st.session_state["examples_focus"] = list(range(total - len(drafted) + 1, total + 1))


def _show_outcome() -> None:
    said, error = st.session_state.pop(OUTCOME, ("", ""))
    if said:
        st.success(said, icon=":material/edit_note:")
    if error:
        st.error(error)
