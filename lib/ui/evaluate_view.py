"""The parts of Evaluate: where a new run's prompts come from, the run's settings, and a run's answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from lib.curate import datasets
from lib.curate.dataset import Dataset
from lib.errors import StudioError
from lib.judge.answer_checks import PACKS
from lib.judge.prompts import EVAL_FILE, dataset_prompts, eval_file_prompts, held_out_prompts
from lib.judge.run import DEFAULT_RUBRIC, Prompt, PromptSource, RunSettings, StoredAnswer
from lib.retrieve.source import Source
from lib.train import jobs
from lib.ui.widgets import cached_rows, select_kept, version_number


@dataclass(frozen=True)
class PromptChoice:
    prompts: list[Prompt]
    source_text: str  # where they came from, as the run records it
    job_model: str | None = None  # with prompts a job held out, that job's tuned model: the default candidate


def prompt_choice(provider: str, dataset: Dataset | None) -> PromptChoice:
    """The prompt set: Elle's evaluation questions, the rows a training job held out, or all of the dataset."""
    held_out_jobs = jobs.held_out_jobs(provider)
    source_labels = {PromptSource.EVAL_FILE: "Elle's evaluation questions"}
    if held_out_jobs:
        source_labels[PromptSource.HELD_OUT] = "Held out by a training job"
    if dataset:
        source_labels[PromptSource.DATASET] = f"All of {dataset.name}"
    source = st.radio(
        "Prompts", list(source_labels), key="evaluate_source", horizontal=True, format_func=source_labels.__getitem__
    )
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
        prompts: list[Prompt] = []
        try:
            prompts = held_out_prompts(made)
        except StudioError as error:
            st.error(str(error))
        source_text = f"{made.dataset_name} v{version_number(made)}, the validation rows held out by {made.job_id}"
        return PromptChoice(prompts, source_text, made.fine_tuned_model)
    if source == PromptSource.DATASET and dataset:
        number = datasets.version_number(dataset.id, dataset.version_id)
        prompts = dataset_prompts(cached_rows(dataset.id, dataset.version_id))
        return PromptChoice(prompts, f"{dataset.name} v{number}, all examples")
    return PromptChoice(eval_file_prompts(), EVAL_FILE.name)


def run_settings(knowledge: Source | None, candidate: str, baseline: str) -> tuple[RunSettings, int]:
    """A new run's settings as chosen (its few-shot pool is added when it is made), and how many reviewers each
    item needs."""
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
    settings = RunSettings(
        temperature=float(temperature),
        max_tokens=int(max_tokens),
        seed=int(seed),
        rubric=[line.strip() for line in rubric_text.splitlines() if line.strip()] or DEFAULT_RUBRIC,
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
    return settings, reviewers


def judging_settings() -> tuple[str | None, float, float, str, int]:
    """A new run's answer-check pack, the verdict's equivalence margin, the share of items shown twice, the
    guideline reviewers read (empty: one made from the rubric), and how many reviewers each item needs."""
    cells = st.columns(4)
    packs: dict[str | None, str] = {None: "No automatic checks", **{name: p.title for name, p in PACKS.items()}}
    checks = cells[0].selectbox(
        "Answer checks", list(packs), index=1, format_func=packs.__getitem__, key="evaluate_checks"
    )
    margin = cells[1].slider(
        "Equivalence margin", 0, 20, 5, format="%d%%", key="evaluate_margin",
        help="How close to an even split counts as 'as good' in the verdict.",
    )  # fmt: skip
    repeat = cells[2].slider(
        "Items shown twice", 0, 30, 10, format="%d%%", key="evaluate_repeat",
        help="Each reviewer sees this share of items a second time, sides swapped, to measure consistency.",
    )  # fmt: skip
    reviewers = cells[3].number_input(
        "Reviewers per item", 1, 20, 2, key="evaluate_reviewers",
        help="Rate offers each item until this many reviewers rated it; two or more measure their agreement.",
    )  # fmt: skip
    guideline = st.text_area(
        "Guideline for reviewers (optional)", key="evaluate_guideline",
        placeholder="Empty: reviewers read a short guideline made from the rubric.",
    )  # fmt: skip
    return checks, margin / 100, repeat / 100, guideline, int(reviewers)


def answers_table(answers: Sequence[StoredAnswer]) -> None:
    """A run's answers, one a row: item, contender, text, tokens, latency, cost and the passages it was given."""
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
