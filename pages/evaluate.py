"""Evaluate: a prompt set answered by every contender, stored with its settings so it can be rated and repeated."""

from dataclasses import replace

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from lib.errors import StudioError
from lib.judge import evaluation
from lib.judge.prompts import training_overlap
from lib.judge.run import describe_settings, settings_of
from lib.judge.runs import list_runs, load_run
from lib.ui.check_preference_view import check_preference_data
from lib.ui.contenders import (
    best_checkpoint_model,
    choose_contenders,
    knowledge_choice,
    offered_chat_models,
    subject_choice,
)
from lib.ui.evaluate_view import answers_table, prompt_choice, run_settings
from lib.ui.plain import plain
from lib.ui.provider import require_client, sync_jobs
from lib.ui.widgets import current_dataset, select_kept, show_flash
from lib.words import plural


def show(bar: DeltaGenerator, done: int, total: int) -> None:
    bar.progress(done / total, f"{done} of {total} answers")


st.title("Evaluation runs")
show_flash()
config, client = require_client()
sync_jobs(config, again=True)  # a job that finished since: its tuned model is known before contenders are recorded
new_run, runs_tab = st.tabs(["New run", "Runs"])

with new_run:
    if ready := st.session_state.get("evaluate_ready"):
        run_id, name, answered = ready
        ready_text = f"Run {run_id} “{plain(name)}” is ready: all answers are in ({answered}). Rate it now."
        st.success(ready_text, icon=":material/task_alt:")
        st.page_link(
            "pages/rate.py", label="Rate it now", icon=":material/how_to_vote:", query_params={"run": str(run_id)}
        )
    try:
        models = offered_chat_models(config.fingerprint, client, config)
    except StudioError as error:
        st.error(str(error), icon=":material/cloud_off:")
        models = []
    dataset = current_dataset()
    chosen = prompt_choice(config.kind, dataset)
    prompts, job_model = chosen.prompts, chosen.job_model
    st.caption(f"{plural(len(prompts), 'prompt')}.")
    if models:
        knowledge = knowledge_choice("evaluate")
        count = st.radio(
            "Contenders", [2, 3, 4, 5], index=1 if len(models) > 1 else 0, horizontal=True, key="evaluate_count"
        )
        best = job_model if job_model in models else best_checkpoint_model(config.fingerprint, client, config)
        contenders = choose_contenders(
            "evaluate", models, count, best if best in models else None, bool(knowledge), config.kind
        )
        for overlap in training_overlap(config.kind, contenders, prompts):
            st.warning(overlap, icon=":material/content_copy:")
        candidate, baseline = subject_choice(config.kind, contenders)
        settings, reviewers = run_settings(knowledge, candidate, baseline)
        default_name = f"Elle: {plural(len(prompts), 'prompt')}"  # follows the prompts chosen until a name is typed
        name = st.text_input("Name of the run", key="evaluate_name", placeholder=default_name).strip() or default_name
        if st.button("Create the run and generate answers", type="primary", icon=":material/play_arrow:"):
            pool = evaluation.shot_pool(config.kind, contenders, dataset)
            settings = replace(
                settings, shots_dataset=pool[0] if pool else None, shots_version=pool[1] if pool else None,
                shots_rows=pool[2] if pool else None,
            )  # fmt: skip
            try:
                run = evaluation.create_run(name, config, chosen.source_text, prompts, contenders, settings, reviewers)
            except StudioError as error:
                st.error(str(error))
            else:
                st.session_state["evaluate_selected"] = run.id
                bar = st.progress(0.0, "Generating answers…")
                try:
                    evaluation.generate(run, client, config, lambda done, total: show(bar, done, total))
                    answered = plural(len(prompts) * len(contenders), "answer")
                    st.session_state["evaluate_ready"] = (run.id, name, answered)
                    st.rerun()
                except StudioError as error:
                    st.error(f"{error} The answers so far are kept: generate the rest from the Runs tab.")

with runs_tab:
    runs = list_runs()
    if not runs:
        st.info("No evaluation run yet.")
        st.stop()
    by_id = {run.id: run for run in runs}
    run_id = select_kept(
        "Run", list(by_id), "evaluate_selected", lambda i: f"{i} · {by_id[i].name} · {by_id[i].created_at}"
    )
    data = load_run(run_id)  # read once per render
    run, answers, items = data.run, data.answers, data.items
    expected = len(items) * len(run.contenders)
    settings_text = describe_settings(settings_of(run))
    st.caption(f"Prompts: {run.prompt_source} · {settings_text} · {len(answers)} of {expected} answers")
    if len(answers) < expected and st.button("Generate the missing answers", icon=":material/play_arrow:"):
        bar = st.progress(0.0)
        try:
            evaluation.generate(run, client, config, lambda done, total: show(bar, done, total))
            st.rerun()
        except StudioError as error:
            st.error(str(error))
    answers_table(answers)
    check_preference_data(data)
    st.page_link(
        "pages/rate.py", label="Rate this run", icon=":material/how_to_vote:", query_params={"run": str(run.id)}
    )
