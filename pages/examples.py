"""Examples: the table of a dataset's examples, with search, filters, bulk edits, validation and the doctor."""

from typing import Any

import streamlit as st

from lib.curate import datasets
from lib.curate.dataset import STATUSES
from lib.curate.table import SIGNAL_COLUMNS, all_tags, edits_from_editor, filter_rows, page_count, to_frame
from lib.errors import StudioError
from lib.openai_format.examples import with_table_fields
from lib.ui import data_map_view, doctor_view, draft_view
from lib.ui.plain import plain
from lib.ui.widgets import cached_findings, cached_rows, flash, require_dataset, show_flash, undo_button
from lib.words import plural

PAGE_SIZE = 50

dataset = require_dataset()
st.title(f"Examples · {plain(dataset.name)}")
show_flash()
rows = cached_rows(dataset.id, dataset.version_id)
findings = cached_findings(dataset.id, dataset.version_id)
trained = data_map_view.latest_signals(dataset)  # (job, row id -> signal) of the last job on this data
signals = trained[1] if trained else None
st.session_state.setdefault("examples_editor_generation", 0)

filters = st.columns([3, 2, 2, 2] if trained else [3, 2, 2])
text = filters[0].text_input("Search", key="examples_search", placeholder="words in any message, tag or note")
statuses = filters[1].multiselect("Status", STATUSES, key="examples_status")
chosen_tags = filters[2].multiselect("Tags", all_tags(rows), key="examples_tags")
group = data_map_view.signal_filter(filters[3], trained[0]) if trained else None
focus = st.session_state.get("examples_focus")
focused = [n for n in ([focus] if isinstance(focus, int) else focus or []) if 1 <= n <= len(rows)]
if focused:
    shown = [(n, rows[n - 1]) for n in focused]
    st.info(f"Showing row{'s' if len(focused) > 1 else ''} {', '.join(map(str, focused))} only.")
    if st.button("Show all rows"):
        del st.session_state["examples_focus"]
        st.rerun()
else:
    shown = filter_rows(rows, text, statuses, chosen_tags)
    if group and signals is not None:
        shown = [(n, row) for n, row in shown if row.id in signals and signals[row.id].group == group]
pages = page_count(len(shown), PAGE_SIZE)
if st.session_state.get("examples_page", 1) > pages:
    st.session_state["examples_page"] = pages
page = st.number_input(f"Page (of {pages})", 1, pages, 1, key="examples_page") if pages > 1 else 1
page_rows = shown[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
st.caption(f"{len(shown)} of {len(rows)} examples · every edit is saved at once")

editor_key = f"examples_editor_{st.session_state.examples_editor_generation}"
st.data_editor(
    to_frame(page_rows, signals),
    key=editor_key,
    num_rows="dynamic",
    hide_index=True,
    width="stretch",
    disabled=["row", "kind", *SIGNAL_COLUMNS],
    column_config={
        "row": st.column_config.NumberColumn("Row", width="small"),
        "kind": st.column_config.TextColumn("Kind", width="small", help="Edit multi-turn examples on Conversation"),
        "system": st.column_config.TextColumn("System", width="medium"),
        "user": st.column_config.TextColumn("User", width="medium"),
        "assistant": st.column_config.TextColumn("Assistant", width="large", help="Preference examples: preferred"),
        "not_preferred": st.column_config.TextColumn("Not preferred", width="large", help="Preference examples only"),
        "status": st.column_config.SelectboxColumn("Status", options=list(STATUSES), default="draft"),
        "tags": st.column_config.TextColumn("Tags", help="Comma-separated"),
        "note": st.column_config.TextColumn("Note"),
        "loss": st.column_config.NumberColumn("Loss", format="%.2f", help="Mean loss in the last job: how hard"),
        "variability": st.column_config.NumberColumn("Variability", format="%.3f", help=data_map_view.EXPLAIN),
        "signal": st.column_config.TextColumn("Signal", help=data_map_view.EXPLAIN),
    },
)
edits = edits_from_editor([row for _, row in page_rows], st.session_state.get(editor_key))
if edits:
    try:
        datasets.edit_rows(dataset.id, edits.updates, edits.added, edits.deleted)  # one version: one undo
        if edits.deleted:
            flash(f"Deleted {plural(len(edits.deleted), 'example')}. Undo brings them back.")
    except StudioError as exc:
        flash(f"Not saved: {exc}")
    st.session_state.examples_editor_generation += 1
    st.rerun()

undo_button(dataset, key="examples_undo")

with st.expander(f"Bulk edit the {plural(len(shown), 'example')} shown"):
    prompt = st.text_area("System prompt", key="examples_bulk_system", placeholder="Leave empty to remove it")
    left, right = st.columns(2)
    if left.button("Set this system prompt", disabled=not shown):
        new_prompts = {row.id: {"example": with_table_fields(row.example, system=prompt)} for _, row in shown}
        what = "Set the system prompt" if prompt.strip() else "Removed the system prompt"
        datasets.update_rows(dataset.id, new_prompts, f"{what} of {plural(len(shown), 'example')}")
        flash(f"{what} of {plural(len(shown), 'example')}. Undo reverts it.")
        st.rerun()
    new_status = right.selectbox("Status", STATUSES, key="examples_bulk_status")
    if right.button("Set this status", disabled=not shown):
        new_statuses: dict[int, dict[str, Any]] = {row.id: {"status": new_status} for _, row in shown}
        datasets.update_rows(dataset.id, new_statuses, f"Marked {plural(len(shown), 'example')} {new_status}")
        st.rerun()

draft_view.section(dataset, rows)

errors = [f for f in findings if f.severity == "error"]
st.subheader(f"Validation · {plural(len(errors), 'error')}, {plural(len(findings) - len(errors), 'warning')}")
checks, doctor = st.tabs(
    ["Validation", "Doctor"],  # fixed labels: a label that changes would reset the open tab
    key="examples_panel",
    on_change="rerun",  # the doctor reads every example: only when its tab is open
)
if doctor.open:
    with doctor:
        doctor_view.panel(dataset)
with checks:
    if not findings:
        st.success("No problems found.")
    for finding in [f for f in findings if f.line is None]:
        st.warning(finding.message)
    located = [f for f in findings if f.line is not None]
    if located:
        choice = st.selectbox(
            "Findings (choose one to see its row)",
            range(len(located)),
            format_func=lambda i: (
                f"Row {located[i].line} · {located[i].severity} · {located[i].code}: {located[i].message}"
            ),
            key=f"examples_finding_{dataset.version_id}",  # the list of this version: a fixed finding is gone
        )
        if st.button("Show this row"):
            st.session_state["examples_focus"] = located[choice].line
            st.rerun()
