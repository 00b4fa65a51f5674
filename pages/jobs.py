"""Jobs: the provider's fine-tuning jobs, and one job watched live (status, events, loss chart, checkpoints)."""

import contextlib
import time

import pandas as pd
import streamlit as st

from lib.errors import StudioError
from lib.train import tracking
from lib.train.jobs import job_provenance
from lib.train.tracking import FINISHED, STATUSES
from lib.ui import data_map_view
from lib.ui.contenders import best_checkpoint_model, offered_chat_models
from lib.ui.export_view import export_section
from lib.ui.job_view import checkpoints_view, events_and_charts, header, provenance_line
from lib.ui.provider import require_fine_tuning
from lib.ui.widgets import flash, select_kept, show_flash

REFRESH_SECONDS = 2.0

st.title("Fine-tuning jobs")
show_flash()
config, client = require_fine_tuning()
try:
    jobs = tracking.list_jobs(client, config)
except StudioError as error:
    st.error(str(error), icon=":material/cloud_off:")
    st.button("Try again", icon=":material/refresh:")
    st.stop()
if not jobs:
    st.info(f"{config.name} has no fine-tuning jobs yet.")
    st.page_link("pages/train.py", label="Start one on the Train screen", icon=":material/rocket_launch:")
    st.stop()

provenance = job_provenance(config.kind)
statuses = st.multiselect("Status", STATUSES, key="jobs_status", placeholder="all")
shown = [job for job in jobs if not statuses or job.status in statuses]


@st.fragment(run_every=REFRESH_SECONDS if any(job.status not in FINISHED for job in shown) else None)
def jobs_table(shown_ids: list[str]) -> None:
    """The jobs list, refreshed with the job view while any of them runs, so both say the same."""
    fresh = shown
    with contextlib.suppress(StudioError):  # on a failed refresh the last list stays
        latest = {job.id: job for job in tracking.list_jobs(client, config)}
        fresh = [latest.get(job_id, job) for job_id, job in zip(shown_ids, shown, strict=True)]
    st.dataframe(
        pd.DataFrame(tracking.job_table(fresh, provenance)),
        hide_index=True,
        width="stretch",
        column_config={"Created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
    )


jobs_table([job.id for job in shown])
if not shown:
    st.info("No job has the chosen status.")
    st.stop()
by_id = {job.id: job for job in shown}
if pending := st.session_state.pop("jobs_pending_selection", None):
    st.session_state["jobs_selected"] = pending
job_id = select_kept(
    "Job",
    list(by_id),
    "jobs_selected",
    # only what never changes: the browser keeps a choice's first label while the job runs on
    lambda i: f"{i} · {by_id[i].model} · created {time.strftime('%d %b %H:%M', time.localtime(by_id[i].created_at))}",
)


live = by_id[job_id].status not in FINISHED


@st.fragment(run_every=REFRESH_SECONDS if live else None)
def job_view(job_id: str) -> None:
    try:
        job = tracking.retrieve(client, config, job_id)
        header(job)
        provenance_line(job, provenance)
        events_and_charts(job, client, config)
        if found := tracking.checkpoints(client, config, job_id):
            checkpoints_view(job, found)
    except StudioError as error:
        st.error(str(error), icon=":material/cloud_off:")
        return
    if live and job.status in FINISHED:
        offered_chat_models.clear()  # a new tuned model: Compare, Evaluate and Train offer it at once
        best_checkpoint_model.clear()
        st.rerun()  # the whole page: the job list, the cancel button and the downloads change


job_view(job_id)
job = by_id[job_id]
with st.expander("Timeline"):
    events = st.session_state.get(f"jobs_events_{job_id}", [])
    st.dataframe(pd.DataFrame(tracking.timeline(events)), hide_index=True, width="stretch")
if job.status == "succeeded" and job_id in provenance:
    data_map_view.job_map(client, config, provenance[job_id])
if job.status in FINISHED:
    try:
        result = tracking.result_file(client, config, job) if job.status == "succeeded" else None
    except StudioError as error:
        st.error(str(error))
        result = None
    if job.fine_tuned_model and st.button("Compare this model", icon=":material/compare:"):
        st.session_state["compare_pending_model"] = job.fine_tuned_model
        st.switch_page("pages/compare.py")
    if result is not None:
        st.download_button(
            "Download the result file (CSV)", result, f"{job_id}-results.csv", "text/csv", icon=":material/download:"
        )
    if job.fine_tuned_model and config.kind == "local":
        try:
            kept = [c.fine_tuned_model_checkpoint for c in tracking.checkpoints(client, config, job_id)]
        except StudioError:
            kept = []
        export_section([job.fine_tuned_model, *kept])
    if job.fine_tuned_model and config.kind == "azure":
        st.info(
            "Azure answers with this model only after you deploy it (Azure portal or AI Foundry). "
            "Then give the deployment's name in the sidebar under “Deployment for answers”.",
            icon=":material/info:",
        )
else:
    sure = st.checkbox("Yes, cancel this job (a cancelled job cannot be resumed)", key=f"jobs_confirm_{job_id}")
    if st.button("Cancel the job", icon=":material/cancel:", disabled=not sure):
        try:
            tracking.cancel(client, config, job_id)
            flash(f"Cancelling {job_id}…")
        except StudioError as error:
            flash(str(error))
        st.rerun()
