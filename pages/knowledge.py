"""Knowledge: sources of passages that retrieval contenders search (the alternative to fine-tuning facts in)."""

import hashlib

import pandas as pd
import streamlit as st

from lib.errors import StudioError
from lib.retrieve import knowledge, search
from lib.retrieve import passages as reading
from lib.ui.knowledge_view import csv_passage_choice
from lib.ui.plain import plain
from lib.ui.widgets import finding_rows, flash, select_kept, show_findings, show_flash
from lib.words import plural

st.title("Knowledge")
st.caption(
    "Files whose passages a retrieval contender finds by search and adds to its prompt: the lesson's other "
    "alternative to fine-tuning. Compare and Evaluate put base, tuned and few-shot models side by side with and "
    "without them."
)
show_flash()
sources = knowledge.sources()
if not any(s.name == reading.SAMPLE_SOURCE for s in sources):
    if not sources:
        st.info(
            "Start with Elle's: one sentence per element from data/elements.csv (“Vanadium has atomic number 23 and "
            "the symbol V.”)."
        )
    if st.button("Load the elements sample", type="primary" if not sources else "secondary"):
        try:
            st.session_state["knowledge_selected"] = reading.load_sample_source().id
            flash("Loaded the elements sample.")
        except StudioError as error:
            flash(str(error))
        st.rerun()
if sources:
    table = [{"name": s.name, "passages": s.n_passages, "updated (UTC)": s.updated_at} for s in sources]
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
with (
    st.expander("New knowledge source", icon=":material/add:", expanded=not sources),
    st.form("knowledge_new", clear_on_submit=True, border=False),
):
    name = st.text_input("Name", placeholder="e.g. Product manual")
    if st.form_submit_button("Create"):
        try:
            st.session_state["knowledge_selected"] = knowledge.create_source(name).id
            flash(f"Created “{name.strip()}”: add files to it below.")
            st.rerun()
        except StudioError as error:
            st.error(str(error))
if not sources:
    st.stop()

by_id = {s.id: s for s in sources}
source = by_id[select_kept("Knowledge source", list(by_id), "knowledge_selected", lambda i: by_id[i].name)]
found = knowledge.passages_at(source.version_id)
add, browse, files = st.tabs(["Add a file", f"Passages ({len(found)})", "Files and history"])

with add:
    upload = st.file_uploader(
        "CSV (one passage per row), Markdown or text (split by heading and length), or JSONL (one per line)",
        type=[kind.removeprefix(".") for kind in reading.KINDS],
        key="knowledge_upload",
    )
    if upload is not None:
        data = upload.getvalue()
        column, template = reading.ALL_COLUMNS, ""
        try:
            if reading.kind_of(upload.name) == "csv":
                column, template = csv_passage_choice(source, reading.csv_columns(data, upload.name), data, upload.name)
        except StudioError as error:
            st.error(str(error), icon=":material/error:")
        added_key = f"{source.id}:{upload.name}:{column}:{template}:{hashlib.sha256(data).hexdigest()}"
        if st.session_state.get("knowledge_added") == added_key:
            st.success(f"{plain(upload.name)} is in “{plain(source.name)}”.", icon=":material/check:")
        elif st.button("Add to the source", type="primary", icon=":material/upload:"):
            try:
                changed, read = reading.add_upload(source.id, upload.name, data, column, template)
            except StudioError as error:
                st.error(str(error), icon=":material/error:")
            else:
                st.session_state["knowledge_added"] = added_key  # a second click adds nothing twice
                note = f" {len(read.findings)} lines skipped: see below." if read.findings else ""
                st.session_state["knowledge_findings"] = finding_rows(read.findings)
                flash(f"Added {plural(len(read.passages), 'passage')} from {upload.name}.{note}")
                st.rerun()
    if skipped := st.session_state.get("knowledge_findings"):
        show_findings(skipped)

with browse:
    query = st.text_input("Try a question", key="knowledge_query", placeholder="e.g. Tell me about neon.")
    k = st.number_input("Passages", 1, 10, 3, key="knowledge_k")
    if query.strip():
        hits = search.retrieve(source.version_id, query, int(k))
        if not hits:
            st.info("No passage shares a word with the question.")
        rows = [{"score": round(h.score, 2), "file": h.passage.file, "where": h.passage.origin, "text": h.passage.text}
                for h in hits]  # fmt: skip
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        rows = [{"file": p.file, "where": p.origin, "text": p.text} for p in found]
        st.dataframe(pd.DataFrame(rows, columns=["file", "where", "text"]), hide_index=True, width="stretch")

with files:
    counts: dict[str, int] = {}
    for passage in found:
        counts[passage.file] = counts.get(passage.file, 0) + 1
    for file, count in counts.items():
        text, remove = st.columns([5, 1])
        text.markdown(f"**{plain(file)}** · {plural(count, 'passage')}")
        if remove.button("Remove", key=f"knowledge_remove_{source.id}_{file}", icon=":material/delete:"):
            knowledge.remove_file(source.id, file)
            flash(f"Removed {file}; runs made before keep the passages they were given.")
            st.rerun()
    versions = knowledge.versions(source.id)  # newest first, numbered from the oldest
    history = [
        {"version": len(versions) - i, "when (UTC)": v.created_at, "change": v.summary, "passages": v.n_passages}
        for i, v in enumerate(versions)
    ]
    st.dataframe(pd.DataFrame(history), hide_index=True, width="stretch")
    sure = st.checkbox(f"Yes, delete “{source.name}” and its {source.n_passages} passages", key="knowledge_sure")
    if st.button("Delete knowledge source", disabled=not sure):
        knowledge.delete_source(source.id)
        flash(f"Deleted “{source.name}”.")
        st.rerun()
