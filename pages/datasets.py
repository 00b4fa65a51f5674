"""Datasets: create, rename, duplicate, delete; import files; export them."""

import hashlib
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from lib.curate import datasets
from lib.curate.dataset import Row
from lib.curate.formats import read_file
from lib.curate.import_export import SAMPLE_NAME, approved, export, export_split
from lib.errors import StudioError
from lib.ui.plain import plain
from lib.ui.widgets import cached_rows, current_dataset, flash, select_dataset, show_findings, show_flash
from lib.words import plural

st.title("Datasets")
show_flash()
dataset = current_dataset()

if dataset is None:
    st.info("Welcome! Start with Elle's sample: 40 limericks about chemical elements, ready to edit and export.")
    if st.button("Load the Elle sample", type="primary"):
        select_dataset(datasets.load_sample().id)
        flash("Loaded the Elle sample.")
        st.rerun()

existing = datasets.list_datasets()
if existing:
    table = pd.DataFrame([{"name": d.name, "examples": d.n_examples, "updated (UTC)": d.updated_at} for d in existing])
    st.dataframe(table, hide_index=True, width="stretch")

with st.expander("New dataset", icon=":material/add:", expanded=not existing):
    with st.form("datasets_new", clear_on_submit=True, border=False):
        new_name = st.text_input("Name", placeholder="e.g. Elle v2")
        if st.form_submit_button("Create"):
            try:
                select_dataset(datasets.create_dataset(new_name).id)
                flash(f"Created '{new_name.strip()}'.")
                st.rerun()
            except StudioError as exc:
                st.error(str(exc))
    if not any(d.name == SAMPLE_NAME for d in existing) and existing and st.button("Load the Elle sample"):
        select_dataset(datasets.load_sample().id)
        st.rerun()

if dataset is not None:
    st.subheader(f"“{plain(dataset.name)}”")
    manage, upload, download = st.tabs(["Manage", "Import", "Export"])
    with manage:
        left, right = st.columns(2)
        with left.form("datasets_rename", border=False):
            name = st.text_input("New name", value=dataset.name)
            if st.form_submit_button("Rename"):
                try:
                    datasets.rename_dataset(dataset.id, name)
                    flash("Renamed.")
                    st.rerun()
                except StudioError as exc:
                    st.error(str(exc))
        with right.form("datasets_duplicate", border=False):
            copy_name = st.text_input("Name of the copy", value=f"{dataset.name} (copy)")
            if st.form_submit_button("Duplicate"):
                try:
                    select_dataset(datasets.duplicate_dataset(dataset.id, copy_name).id)
                    flash(f"Duplicated into '{copy_name}'.")
                    st.rerun()
                except StudioError as exc:
                    st.error(str(exc))
        confirm = st.checkbox(f"Yes, delete “{dataset.name}” and its {dataset.n_examples} examples for good")
        if st.button("Delete dataset", type="secondary", disabled=not confirm):
            datasets.delete_dataset(dataset.id)
            select_dataset(None)
            flash(f"Deleted '{dataset.name}'.")
            st.rerun()

    with upload:
        uploaded = st.file_uploader(
            "OpenAI JSONL or CSV (columns system,user,assistant)", type=["jsonl", "csv", "json"]
        )
        if uploaded is not None:
            try:
                parsed = read_file(uploaded.name, uploaded.getvalue())
            except StudioError as exc:
                st.error(str(exc))
                st.stop()
            n_errors = len({f.line for f in parsed.errors})
            st.write(f"**{parsed.lines_read}** examples read, **{len(parsed.valid_examples())}** without errors.")
            if parsed.findings:
                show_findings(parsed.findings)
            include_errors = st.checkbox(
                "Also import the examples with errors, to fix them here", value=False, disabled=n_errors == 0
            )
            targets = {True: "a new dataset", False: f"“{dataset.name}”"}
            into_new = st.radio("Into", list(targets), horizontal=True, format_func=targets.__getitem__)
            new_name = st.text_input("New dataset name", value=uploaded.name.rsplit(".", 1)[0]) if into_new else ""
            file_key = hashlib.sha256(uploaded.getvalue()).hexdigest()
            imported = st.session_state.setdefault("datasets_imported", {})  # file -> where it went, this session
            again = False
            if file_key in imported:
                st.success(f"This file was imported into '{plain(imported[file_key])}'.", icon=":material/check:")
                again = st.checkbox("Import it once more (its examples would then be there twice)")
            if st.button("Import", type="primary", disabled=file_key in imported and not again) and (
                file_key not in imported or again
            ):  # a double click sends the click twice: the second finds the file imported and does nothing
                try:
                    if into_new:  # one call, one transaction: as `python -m lib import` does
                        into, count = datasets.import_new(new_name, parsed, include_errors, uploaded.name)
                    else:
                        into, count = dataset, datasets.import_parsed(dataset.id, parsed, include_errors, uploaded.name)
                    imported[file_key] = into.name
                    select_dataset(into.id)
                    flash(f"Imported {plural(count, 'example')} into '{into.name}'.")
                    st.rerun()
                except StudioError as exc:
                    st.error(str(exc))

    with download:
        rows: Sequence[Row] = cached_rows(dataset.id, dataset.version_id)
        approved_rows = approved(rows)
        if st.toggle(f"Only approved examples ({len(approved_rows)} of {len(rows)})"):
            rows = approved_rows
        stem = dataset.name.replace(" ", "_")
        left, right = st.columns(2)
        left.download_button("JSONL (OpenAI)", export(rows, "jsonl"), f"{stem}.jsonl", "application/jsonl")
        right.download_button("CSV", export(rows, "csv"), f"{stem}.csv", "text/csv", icon=":material/download:")
        st.markdown("**Training / validation split**")
        share = st.slider("Validation share", 0.0, 0.5, 0.2, 0.05)
        seed = st.number_input("Seed (same seed, same split)", value=42, step=1)
        train, valid = export_split(rows, share, int(seed))
        left, right = st.columns(2)
        left.download_button(
            "Training JSONL", train, f"{stem}-train.jsonl", "application/jsonl", icon=":material/download:"
        )
        right.download_button(
            "Validation JSONL", valid, f"{stem}-validation.jsonl", "application/jsonl", icon=":material/download:"
        )
