"""The dataset doctor's panel on Examples: each finding with its rows and the one-click action that fits it."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from lib.curate import datasets, doctor
from lib.curate.dataset import Dataset, Row
from lib.curate.doctor import Diagnosis
from lib.curate.import_export import VALIDATION_TAG, held_out
from lib.judge.prompts import evaluation_questions
from lib.ui.widgets import cached_rows, flash

TITLES = {
    "pii": "personal data",
    "eval_overlap": "also an evaluation prompt",
    "contradiction": "contradiction",
    "near_duplicate": "near-duplicates",
    "outlier": "outlier",
}


@st.cache_data(max_entries=8, show_spinner="The doctor is reading the examples…")
def cached_diagnoses(dataset_id: int, version_id: int, prompts: tuple[tuple[str, str], ...]) -> list[Diagnosis]:
    rows = cached_rows(dataset_id, version_id)
    validation = {n for n, row in enumerate(rows, start=1) if held_out(row)}
    return doctor.diagnose(((n, row.example) for n, row in enumerate(rows, start=1)), prompts, validation)


def _rows(lines: Sequence[int]) -> str:
    return f"row {lines[0]}" if len(lines) == 1 else "rows " + ", ".join(str(n) for n in lines)


def _act(dataset: Dataset, rows: Sequence[Row], diagnosis: Diagnosis) -> None:
    """The buttons for one finding; each change is one undoable edit."""
    lines = diagnosis.lines
    ids = [rows[n - 1].id for n in lines]
    cells = st.columns(3)
    if cells[0].button(f"Show {_rows(lines)}", key="doctor_show", icon=":material/visibility:"):
        st.session_state["examples_focus"] = list(lines)
        st.rerun()
    if diagnosis.code == "pii" and cells[1].button(f"Redact {_rows(lines)}", key="doctor_redact"):
        changes = {rows[n - 1].id: {"example": doctor.redacted(rows[n - 1].example)} for n in lines}
        datasets.update_rows(dataset.id, changes, f"Redacted personal data in {_rows(lines)}")
        flash("Personal data replaced by placeholders. Undo brings it back.")
        st.rerun()
    if diagnosis.code == "near_duplicate" and diagnosis.keep is not None:
        others = [n for n in lines if n != diagnosis.keep]
        if cells[1].button(f"Keep row {diagnosis.keep}, remove {_rows(others)}", key="doctor_keep_one"):
            datasets.delete_rows(dataset.id, [rows[n - 1].id for n in others], f"Removed near-duplicates of "
                                      f"row {diagnosis.keep}")  # fmt: skip
            flash(f"Removed {len(others)} near-duplicate(s). Undo brings them back.")
            st.rerun()
    if diagnosis.code == "eval_overlap":
        tip = f"Tags it '{VALIDATION_TAG}': Train always holds it out and never trains on it."
        if cells[1].button(f"Move {_rows(lines)} to validation", key="doctor_validate", help=tip):
            tagged = {
                rows[n - 1].id: {"tags": datasets.normalize_tags(f"{rows[n - 1].tags},{VALIDATION_TAG}")} for n in lines
            }
            datasets.update_rows(dataset.id, tagged, f"Moved {_rows(lines)} to validation")
            flash("Held out for validation: Train will not train on it.")
            st.rerun()
        if cells[2].button(f"Remove {_rows(lines)}", key="doctor_remove"):
            datasets.delete_rows(dataset.id, ids, f"Removed {_rows(lines)}: an evaluation prompt")
            flash("Removed. Undo brings it back.")
            st.rerun()


def panel(dataset: Dataset) -> None:
    """Findings of the doctor on the dataset's latest version, errors first."""
    rows = cached_rows(dataset.id, dataset.version_id)
    found = cached_diagnoses(dataset.id, dataset.version_id, evaluation_questions())
    errors = sum(d.severity == "error" for d in found)
    st.caption(
        f"{errors} errors, {len(found) - errors} warnings · near-duplicates, contradictions, evaluation prompts in "
        "the training data, personal data and outliers. Formats pass; these make a fine-tuned model worse."
    )
    if not found:
        st.success("The doctor found nothing to worry about.")
        return
    if errors and st.button("Redact all personal data", key="doctor_redact_all",
                            disabled=not any(d.code == "pii" for d in found)):  # fmt: skip
        lines = sorted({n for d in found if d.code == "pii" for n in d.lines})
        changes = {rows[n - 1].id: {"example": doctor.redacted(rows[n - 1].example)} for n in lines}
        datasets.update_rows(dataset.id, changes, f"Redacted personal data in {len(lines)} rows")
        flash(f"Personal data replaced by placeholders in {len(lines)} rows. Undo brings it back.")
        st.rerun()
    choice = st.selectbox(
        "Findings (choose one to act on it)",
        range(len(found)),
        format_func=lambda i: (
            f"{_rows(found[i].lines).capitalize()} · {found[i].severity} · {TITLES[found[i].code]}: {found[i].message}"
        ),
        key="doctor_finding",
    )
    chosen = found[min(choice or 0, len(found) - 1)]
    st.markdown(f"**{_rows(chosen.lines).capitalize()}** · {chosen.message}")
    _act(dataset, rows, chosen)
