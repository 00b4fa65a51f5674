"""The parts of one watched fine-tuning job: its header, where it came from, progress, charts and events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import openai
import pandas as pd
import streamlit as st
from openai.types.fine_tuning import FineTuningJob
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from lib.train import tracking
from lib.train.provenance import Provenance
from lib.train.providers import ProviderConfig
from lib.train.tracking import FINISHED
from lib.ui.charts import training_charts
from lib.ui.widgets import version_number
from lib.words import plural

EVENTS_PER_PAGE = 20
STATUS_ICONS = {
    "succeeded": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
    "running": ":material/directions_run:",
    "paused": ":material/pause_circle:",
}


def header(job: FineTuningJob) -> None:
    icon = STATUS_ICONS.get(job.status, ":material/hourglass_top:")
    cells = st.columns(4)
    cells[0].metric("Status", job.status)
    cells[1].metric("Duration", tracking.format_duration(tracking.duration_seconds(job)))
    cells[2].metric("Trained tokens", f"{job.trained_tokens:,}" if job.trained_tokens else "–")
    if job.estimated_finish and job.status not in FINISHED:
        left = max(0, job.estimated_finish - int(datetime.now(UTC).timestamp()))
        cells[3].metric(
            "Estimated finish", f"in {tracking.format_duration(left)}",
            help="From the time this job's own steps have taken so far; it is refined at every step.",
        )  # fmt: skip
    else:
        cells[3].metric("Base model", job.model)
    if job.status == "failed" and job.error:
        st.error(f"The job failed: {job.error.message}", icon=icon)
    elif job.fine_tuned_model:
        st.success(f"Tuned model: `{job.fine_tuned_model}`", icon=icon)


def provenance_line(job: FineTuningJob, provenance: dict[str, Provenance]) -> None:
    known = provenance.get(job.id)
    if known is None:
        st.caption(f"Made from: **{tracking.UNKNOWN_DATASET}** (started outside Tuning Studio) → `{job.training_file}`")
        return
    validation = f" + validation `{known.validation_file}`" if known.validation_file else ""
    st.caption(
        f"Made from: **{known.dataset_name}**, version {version_number(known)} "
        f"({plural(known.n_examples, 'example')}) → "
        f"file `{known.training_file}`{validation} → job `{job.id}` → model `{job.fine_tuned_model or '…'}`"
    )
    if (used := known.passages) is not None:
        st.caption(
            f"Trained with passages: {plural(used.k, 'passage')} per prompt from **{used.source_name}**, "
            f"{used.distractor_share:.0%} of the examples with distractors. Ask it with {used.k} passages from that "
            "source: Compare and Evaluate do by default."
        )


def events_and_charts(job: FineTuningJob, client: openai.OpenAI, config: ProviderConfig) -> None:
    events_key = f"jobs_events_{job.id}"
    events = tracking.new_events(client, config, job.id, st.session_state.get(events_key, []))
    st.session_state[events_key] = events
    if done := tracking.progress(events):
        step, total = done
        st.progress(step / total, f"Step {step} of {total}")
    points = tracking.metric_points(events)
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
            [{"Time": tracking.timestamp(e.created_at), "Message": e.message} for e in shown_events],
            columns=["Time", "Message"],
        ),
        hide_index=True,
        width="stretch",
        column_config={"Time": st.column_config.DatetimeColumn(format="HH:mm:ss")},
    )


def checkpoints_view(job: FineTuningJob, found: Sequence[FineTuningJobCheckpoint]) -> None:
    """The checkpoints, and the one with the lowest validation loss offered for comparison."""
    st.markdown("**Checkpoints** (each answers as a model)")
    st.dataframe(pd.DataFrame(tracking.checkpoint_table(found)), hide_index=True, width="stretch")
    if tracking.keeps_best_epoch(job) and (kept := tracking.best_checkpoint(found)) is not None:
        st.success(
            f"Early stopping kept the weights with the lowest validation loss (step {kept.step_number}, "
            f"{kept.metrics.valid_loss:.3f}): the tuned model `{job.fine_tuned_model or '…'}` is the best checkpoint.",
            icon=":material/verified:",
        )
        return
    best = tracking.better_checkpoint(found, job)
    last = max(found, key=lambda c: c.step_number)
    if best is None or best.metrics.valid_loss is None or last.metrics.valid_loss is None:
        return
    st.info(
        f"The lowest validation loss was at step {best.step_number} ({best.metrics.valid_loss:.3f}); by the last "
        f"checkpoint it had risen to {last.metrics.valid_loss:.3f}: later epochs fitted the training examples "
        f"more than they generalise. The best checkpoint is `{best.fine_tuned_model_checkpoint}`.",
        icon=":material/trending_down:",
    )
    if st.button("Compare the best checkpoint", icon=":material/compare:", key=f"jobs_best_{best.id}"):
        st.session_state["compare_pending_model"] = best.fine_tuned_model_checkpoint
        st.switch_page("pages/compare.py")
