"""Evaluate: a prompt set answered by every contender, stored with its settings so it can be rated and repeated."""

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from lib.curate import datasets
from lib.errors import StudioError
from lib.judge import evaluation
from lib.judge.prompts import EVAL_FILE, dataset_prompts, eval_file_prompts, held_out_prompts, training_overlap
from lib.judge.run import DEFAULT_RUBRIC, Prompt, PromptSource, RunSettings, describe_settings, settings_of
from lib.judge.runs import list_runs, load_run
from lib.train import jobs
from lib.ui.contenders import (
    best_checkpoint_model,
    choose_contenders,
    judging_settings,
    knowledge_choice,
    offered_chat_models,
    subject_choice,
)
from lib.ui.plain import plain
from lib.ui.provider import require_client, sync_jobs
from lib.ui.widgets import cached_rows, current_dataset, select_kept, show_flash, version_number
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
    held_out_jobs = jobs.held_out_jobs(config.kind)
    source_labels = {PromptSource.EVAL_FILE: "Elle's evaluation questions"}
    if held_out_jobs:
        source_labels[PromptSource.HELD_OUT] = "Held out by a training job"
    if dataset:
        source_labels[PromptSource.DATASET] = f"All of {dataset.name}"
    source = st.radio(
        "Prompts", list(source_labels), key="evaluate_source", horizontal=True, format_func=source_labels.__getitem__
    )
    prompts: list[Prompt] = []
    job_model = None  # with prompts a job held out, that job's tuned model is the default candidate
    if source == PromptSource.HELD_OUT:
        by_job = {made.job_id: made for made in held_out_jobs}
        job_id = select_kept(
            "Training job",
            list(by_job),
            "evaluate_job",
            lambda j: (
                f"{j} · {by_job[j].dataset_name} v{version_number(by_job[j])} · "
                f"{len(by_job[j].validation_rows)} held out · {by_job[j].fine_tuned_model or by_job[j].base_model}"
            ),
        )
        made = by_job[job_id]
        job_model = made.fine_tuned_model
        try:
            prompts = held_out_prompts(made)
        except StudioError as error:
            st.error(str(error))
        source_text = f"{made.dataset_name} v{version_number(made)}, the validation rows held out by {made.job_id}"
    elif source == PromptSource.DATASET and dataset:
        prompts = dataset_prompts(cached_rows(dataset.id, dataset.version_id))
        source_text = f"{dataset.name} v{datasets.version_number(dataset.id, dataset.version_id)}, all examples"
    else:
        prompts = eval_file_prompts()
        source_text = EVAL_FILE.name
    st.caption(f"{plural(len(prompts), 'prompt')}.")
    if models:
        knowledge = knowledge_choice("evaluate")
        count = st.radio(
            "Contenders", [2, 3, 4, 5], index=1 if len(models) > 1 else 0, horizontal=True, key="evaluate_count"
        )
        best = job_model if job_model in models else best_checkpoint_model(config.fingerprint, client, config)
        contenders = choose_contenders("evaluate", models, count, best if best in models else None, bool(knowledge))
        for overlap in training_overlap(config.kind, contenders, prompts):
            st.warning(overlap, icon=":material/content_copy:")
        candidate, baseline = subject_choice(config.kind, contenders)
        cells = st.columns(3)
        temperature = cells[0].slider("Temperature", 0.0, 2.0, 0.0, 0.1, key="evaluate_temperature")
        max_tokens = cells[1].number_input("Max tokens", 1, 4096, 120, key="evaluate_max_tokens")
        seed = cells[2].number_input("Seed", 0, 2**31 - 1, 0, key="evaluate_seed")
        rubric_text = st.text_area(
            "Rubric: one criterion per line, each scored 1–5",
            "\n".join(DEFAULT_RUBRIC),
            key="evaluate_rubric",
        )
        checks, margin, repeat, guideline, reviewers = judging_settings()
        default_name = f"Elle: {plural(len(prompts), 'prompt')}"  # follows the prompts chosen until a name is typed
        name = st.text_input("Name of the run", key="evaluate_name", placeholder=default_name).strip() or default_name
        if st.button("Create the run and generate answers", type="primary", icon=":material/play_arrow:"):
            pool = evaluation.shot_pool(config.kind, contenders, dataset)
            settings = RunSettings(
                temperature=float(temperature),
                max_tokens=int(max_tokens),
                seed=int(seed),
                rubric=[line.strip() for line in rubric_text.splitlines() if line.strip()] or DEFAULT_RUBRIC,
                shots_dataset=pool[0] if pool else None,
                shots_version=pool[1] if pool else None,
                shots_rows=pool[2] if pool else None,
                checks=checks,
                margin=margin,
                repeat_share=repeat,
                guideline=guideline,
                knowledge_source=knowledge.id if knowledge else None,
                knowledge_version=knowledge.version_id if knowledge else None,
                knowledge_name=knowledge.name if knowledge else "",
                candidate=candidate,
                baseline=baseline,
            )
            try:
                run = evaluation.create_run(name, config, source_text, prompts, contenders, settings, reviewers)
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
    table = pd.DataFrame(
        [
            {
                "item": a.position,
                "contender": a.contender,
                "answer": a.text,
                "prompt tokens": a.prompt_tokens,
                "tokens": a.completion_tokens,
                "latency s": round(a.latency_s, 2),
                "cost": a.cost_usd,
                "passages": "; ".join(f"{p['file']} {p['origin']}" for p in a.passages),
            }
            for a in answers
        ]
    )
    st.dataframe(table, hide_index=True, width="stretch")
    st.page_link(
        "pages/rate.py", label="Rate this run", icon=":material/how_to_vote:", query_params={"run": str(run.id)}
    )
