"""Jobs: the provider's fine-tuning jobs, and one job watched live (status, events, loss chart, checkpoints)."""

from datetime import UTC, datetime

import openai
import pandas as pd
import streamlit as st
from openai.types.fine_tuning import FineTuningJob

from lib import store, training
from lib.charts import training_charts
from lib.errors import StudioError
from lib.providers import ProviderConfig
from lib.training import FINISHED, STATUSES
from lib.ui.provider import require_client
from lib.ui.widgets import flash, select_kept, show_flash

REFRESH_SECONDS = 2.0
EVENTS_PER_PAGE = 20
STATUS_ICONS = {
    "succeeded": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
    "running": ":material/directions_run:",
    "paused": ":material/pause_circle:",
}

st.title("Fine-tuning jobs")
show_flash()
config, client = require_client()
try:
    jobs = training.list_jobs(client, config)
except StudioError as error:
    st.error(str(error), icon=":material/cloud_off:")
    st.button("Try again", icon=":material/refresh:")
    st.stop()
if not jobs:
    st.info(f"{config.name} has no fine-tuning jobs yet.")
    st.page_link("pages/train.py", label="Start one on the Train screen", icon=":material/rocket_launch:")
    st.stop()

provenance = store.job_provenance(config.kind)
statuses = st.multiselect("Status", STATUSES, key="jobs_status", placeholder="all")
shown = [job for job in jobs if not statuses or job.status in statuses]
st.dataframe(
    pd.DataFrame(training.job_table(shown, provenance)),
    hide_index=True,
    width="stretch",
    column_config={"Created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
)
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
    lambda i: f"{i} · {by_id[i].status} · {by_id[i].fine_tuned_model or by_id[i].model}",
)


def header(job: FineTuningJob) -> None:
    icon = STATUS_ICONS.get(job.status, ":material/hourglass_top:")
    cells = st.columns(4)
    cells[0].metric("Status", job.status)
    cells[1].metric("Duration", training.format_duration(training.duration_seconds(job)))
    cells[2].metric("Trained tokens", f"{job.trained_tokens:,}" if job.trained_tokens else "–")
    if job.estimated_finish and job.status not in FINISHED:
        left = max(0, job.estimated_finish - int(datetime.now(UTC).timestamp()))
        cells[3].metric("Estimated finish", f"in {training.format_duration(left)}")
    else:
        cells[3].metric("Base model", job.model)
    if job.status == "failed" and job.error:
        st.error(f"The job failed: {job.error.message}", icon=icon)
    elif job.fine_tuned_model:
        st.success(f"Tuned model: `{job.fine_tuned_model}`", icon=icon)


def provenance_line(job: FineTuningJob) -> None:
    known = provenance.get(job.id)
    if known is None:
        st.caption(f"Made from: **{training.UNKNOWN_DATASET}** (started outside Tuning Studio) → `{job.training_file}`")
        return
    validation = f" + validation `{known.validation_file}`" if known.validation_file else ""
    st.caption(
        f"Made from: **{known.dataset_name}**, version {known.version_id} ({known.n_examples} examples) → "
        f"file `{known.training_file}`{validation} → job `{job.id}` → model `{job.fine_tuned_model or '…'}`"
    )


def events_and_charts(job: FineTuningJob, client: openai.OpenAI, config: ProviderConfig) -> None:
    events_key = f"jobs_events_{job.id}"
    events = training.new_events(client, config, job.id, st.session_state.get(events_key, []))
    st.session_state[events_key] = events
    if done := training.progress(events):
        step, total = done
        st.progress(step / total, f"Step {step} of {total}")
    points = training.metric_points(events)
    if points:
        loss, accuracy = training_charts(points)
        chart_left, chart_right = st.columns(2)
        chart_left.altair_chart(loss, width="stretch")
        chart_right.altair_chart(accuracy, width="stretch")
    pages = max(1, -(-len(events) // EVENTS_PER_PAGE))
    st.markdown(f"**Events**, newest first · {len(events)} in {pages} pages")
    page = st.number_input("Page", 1, pages, 1, key=f"jobs_events_page_{job.id}")
    shown_events = events[(page - 1) * EVENTS_PER_PAGE : page * EVENTS_PER_PAGE]
    st.dataframe(
        pd.DataFrame(
            [{"Time": training.timestamp(e.created_at), "Message": e.message} for e in shown_events],
            columns=["Time", "Message"],
        ),
        hide_index=True,
        width="stretch",
        column_config={"Time": st.column_config.DatetimeColumn(format="HH:mm:ss")},
    )


live = by_id[job_id].status not in FINISHED


@st.fragment(run_every=REFRESH_SECONDS if live else None)
def job_view(job_id: str) -> None:
    try:
        job = training.retrieve(client, config, job_id)
        header(job)
        provenance_line(job)
        events_and_charts(job, client, config)
        if found := training.checkpoints(client, config, job_id):
            st.markdown("**Checkpoints** (each answers as a model)")
            st.dataframe(pd.DataFrame(training.checkpoint_table(found)), hide_index=True, width="stretch")
    except StudioError as error:
        st.error(str(error), icon=":material/cloud_off:")
        return
    if live and job.status in FINISHED:
        st.rerun()  # the whole page: the job list, the cancel button and the downloads change


job_view(job_id)
job = by_id[job_id]
with st.expander("Timeline"):
    events = st.session_state.get(f"jobs_events_{job_id}", [])
    st.dataframe(pd.DataFrame(training.timeline(events)), hide_index=True, width="stretch")
if job.status in FINISHED:
    try:
        result = training.result_file(client, config, job) if job.status == "succeeded" else None
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
            training.cancel(client, config, job_id)
            flash(f"Cancelling {job_id}…")
        except StudioError as error:
            flash(str(error))
        st.rerun()
