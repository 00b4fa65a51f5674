"""Preference (DPO) data on screen: made from a run's ratings on Scorecard, edited side by side on Conversation."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from lib.curate import datasets
from lib.curate.dataset import Dataset, Row
from lib.errors import StudioError
from lib.judge import preferences
from lib.judge.run import EvalRun, Rating, StoredAnswer
from lib.openai_format.examples import rejected_text, table_fields, with_rejected, with_table_fields
from lib.ui.widgets import flash, select_dataset
from lib.words import plural


def make_preference_data(
    run: EvalRun, ratings: Sequence[Rating], answers: Sequence[StoredAnswer], items: Mapping[int, list[dict[str, Any]]]
) -> None:
    found = preferences.from_ratings(ratings, answers, items)
    st.markdown(
        f"**{plural(len(found.found), 'rated pair')} with a clear preference** "
        "(most of their reviewers chose the same answer); "
        f"left out: {found.left_out()}. Each becomes a preference example: the prompt, the preferred answer and the "
        "other one. Correct a preferred answer below to keep the better text instead."
    )
    if not found.found:
        return
    table = pd.DataFrame(
        [{"item": p.position, "preferred": p.preferred, "over": p.other, "votes": f"{p.votes} of {p.reviewers}",
          "preferred answer": p.preferred_text, "other answer": p.other_text} for p in found.found]
    )  # fmt: skip
    edited = st.data_editor(
        table, key=f"preferences_{run.id}", hide_index=True, width="stretch",
        disabled=["item", "preferred", "over", "votes", "other answer"],
    )  # fmt: skip
    corrected = {
        i: str(text) for i, text in enumerate(edited["preferred answer"]) if str(text) != found.found[i].preferred_text
    }
    fixed = f", {len(corrected)} corrected" if corrected else ""
    label = f"Make preference data ({plural(len(found.found), 'example')}{fixed})"
    if st.button(label, icon=":material/thumbs_up_down:", key=f"preferences_make_{run.id}"):
        open_in_train(lambda: preferences.make_dataset(run, found.found, corrected))


def open_in_train(make: Callable[[], Dataset]) -> None:
    """Make a preference dataset, select it and open Train, where a DPO job on it is one click away."""
    try:
        dataset = make()
    except StudioError as error:
        st.error(str(error))
        return
    select_dataset(dataset.id)
    flash(f"Made “{dataset.name}” with {plural(dataset.n_examples, 'preference example')}. Train a DPO job on it.")
    st.switch_page("pages/train.py")


def edit_preference(dataset: Dataset, row: Row, number: int) -> None:
    """Conversation: a preference example's prompt, then its preferred and non-preferred answers side by side."""
    system, user, preferred = table_fields(row.example)
    key = f"preference_{row.id}_{dataset.version_id}"
    new_system = st.text_area("System", system, key=f"{key}_system", height="content")
    new_user = st.text_area("User", user, key=f"{key}_user", height="content")
    left, right = st.columns(2)
    new_preferred = left.text_area("Preferred answer", preferred, key=f"{key}_preferred", height=220)
    new_rejected = right.text_area("Not preferred", rejected_text(row.example) or "", key=f"{key}_rejected", height=220)
    changed = with_rejected(with_table_fields(row.example, new_system, new_user, new_preferred), new_rejected)
    if changed != row.example:
        datasets.update_rows(dataset.id, {row.id: {"example": changed}}, f"Edited the preference in row {number}")
        st.toast("Saved.")
