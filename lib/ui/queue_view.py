"""The Reviewers tab's review queue: how many reviewers each item needs, who the run is shared with, what is left."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.errors import StudioError
from lib.judge import rating, runs
from lib.judge.runs import RunData
from lib.ui.access import allowed, sign_in_configured
from lib.ui.widgets import flash, show_flash


def review_queue(data: RunData) -> None:
    """The queue of the run the page loaded (``data``: read once per render)."""
    run = data.run
    show_flash()
    status = rating.queue_status(run, data.ratings, data.items)
    complete = sum(1 for item in status if not item["Still needs"])
    st.markdown(f"**Review queue**: {complete} of {len(status)} items have their {run.reviews_needed} reviewers.")
    reviewers = sorted(allowed().reviewers) if sign_in_configured() else []
    with st.form(f"queue_{run.id}", border=False):
        cells = st.columns([1, 3])
        needed = cells[0].number_input(
            "Reviewers per item", 1, 20, run.reviews_needed, key=f"queue_needed_{run.id}",
            help="Each item is offered on Rate until this many reviewers rated it; two or more measure agreement.",
        )  # fmt: skip
        shared = list(run.shared_with)
        if reviewers:
            shared = cells[1].multiselect(
                "Shared with reviewers", sorted(set(reviewers) | set(shared)), shared, key=f"queue_shared_{run.id}",
                help="Signed-in reviewers see only the runs shared with them; curators see every run.",
            )  # fmt: skip
        if st.form_submit_button("Save", icon=":material/save:"):
            try:
                runs.share_run(run.id, int(needed), shared)
            except StudioError as error:
                st.error(str(error))
            else:
                flash(f"Run {run.id}: each item needs {int(needed)} reviewers.")
                st.rerun()
    st.dataframe(pd.DataFrame(status), hide_index=True, width="stretch")
