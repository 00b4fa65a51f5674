"""History: every saved version of a dataset; view an earlier one and restore it."""

import pandas as pd
import streamlit as st

from lib.curate import datasets
from lib.curate.table import to_frame
from lib.ui.plain import plain
from lib.ui.widgets import flash, require_dataset, show_flash, undo_button

dataset = require_dataset()
st.title(f"History · {plain(dataset.name)}")
show_flash()
st.caption("Every change is saved as a version. Restoring is a change too, so it can be undone.")
undo_button(dataset, key="history_undo")

versions = datasets.versions(dataset.id)
st.dataframe(
    pd.DataFrame(
        [
            {"version": v.number, "saved (UTC)": v.created_at, "change": v.summary, "examples": v.n_examples}
            for v in versions
        ]
    ),
    hide_index=True,
    width="stretch",
)
by_id = {v.id: v for v in versions}
chosen = st.selectbox(
    "View version",
    list(by_id),
    format_func=lambda i: f"#{by_id[i].number} · {by_id[i].created_at} · {by_id[i].summary}",
    key="history_version",
)
if chosen is not None:
    earlier = datasets.rows_at(dataset.id, chosen)
    number = by_id[chosen].number
    st.write(f"Version {number} had **{len(earlier)}** examples.")
    st.dataframe(to_frame(list(enumerate(earlier, start=1))), hide_index=True, width="stretch")
    latest = versions[0].id
    if st.button(f"Restore version {number}", type="primary", disabled=chosen == latest):
        datasets.restore(dataset.id, chosen)
        flash(f"Restored version {number}. Undo reverts the restore.")
        st.rerun()
