"""Choosing contenders (model + few-shot examples) and showing answers: shared by Compare and Evaluate."""

from __future__ import annotations

import re

import openai
import streamlit as st

from lib.errors import StudioError
from lib.judge.answer_checks import ELLE, PACKS, CheckPack
from lib.judge.evaluation import Answer, Contender, default_label
from lib.train import tracking
from lib.train.providers import ProviderConfig, chat_models


@st.cache_data(ttl=30, show_spinner="Asking the provider for its models…")
def offered_chat_models(fingerprint: str, _client: openai.OpenAI, _config: ProviderConfig) -> list[str]:
    return chat_models(_client, _config)


@st.cache_data(ttl=30, show_spinner=False)
def best_checkpoint_model(fingerprint: str, _client: openai.OpenAI, _config: ProviderConfig) -> str | None:
    """The newest succeeded job's checkpoint with the lowest validation loss, when it beats the final model:
    the tuned contender Compare and Evaluate offer first."""
    try:
        done = next((j for j in tracking.list_jobs(_client, _config, limit=20) if j.status == "succeeded"), None)
        best = tracking.better_checkpoint(tracking.checkpoints(_client, _config, done.id), done) if done else None
    except StudioError:
        return None
    return best.fine_tuned_model_checkpoint if best else None


def choose_contenders(prefix: str, models: list[str], count: int, preferred: str | None = None) -> list[Contender]:
    """``count`` columns, each a model and how many examples to put in its prompt (0: bare)."""
    base = next((m for m in models if not m.startswith("ft:")), models[0])
    tuned = preferred or next((m for m in reversed(models) if m.startswith("ft:") and ":ckpt-" not in m), base)
    defaults = [(base, 0), (tuned, 0), (base, 3)]
    contenders = []
    for index, column in enumerate(st.columns(count)):
        model_default, shots_default = defaults[index]
        model = column.selectbox(
            f"Contender {index + 1}", models, index=models.index(model_default), key=f"{prefix}_model_{index}"
        )
        shots = column.number_input(
            "Examples in its prompt", 0, 20, shots_default, key=f"{prefix}_shots_{index}",
            help="0: the bare prompt. More: a few-shot baseline with that many examples from the chosen dataset.",
        )  # fmt: skip
        label = column.text_input(
            "Name", default_label(model, int(shots)), key=f"{prefix}_label_{index}_{model}_{shots}"
        )
        contenders.append(Contender(label.strip() or default_label(model, int(shots)), model, int(shots)))
    return contenders


def answer_markdown(text: str) -> str:
    """A model's answer shown as written: markdown characters escaped, its line breaks kept."""
    if not text.strip():
        return "*(empty answer)*"
    escaped = re.sub(r"([\\`*_{}\[\]()#+\-.!|>~<])", r"\\\1", text.strip())
    return escaped.replace("\n", "  \n")


def show_answer(question: str, answer: Answer, pack: CheckPack | None = ELLE) -> None:
    st.markdown(answer_markdown(answer.text))
    st.caption(
        f"{answer.prompt_tokens} prompt + {answer.completion_tokens} completion tokens · "
        f"{answer.latency_s:.2f} s · ${answer.cost_usd:.5f}"
    )
    if pack is not None:
        checked = pack.run(question, answer.text)
        marks = {True: ":material/check:", False: ":material/close:", None: "–"}
        st.caption(" · ".join(f"{label.capitalize()} {marks[checked[key]]}" for key, label in pack.checks.items()))


def judging_settings() -> tuple[str | None, float, float, str]:
    """A new run's answer-check pack, the verdict's equivalence margin, the share of items shown twice, and the
    guideline reviewers read (empty: one made from the rubric)."""
    cells = st.columns(3)
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
    guideline = st.text_area(
        "Guideline for reviewers (optional)", key="evaluate_guideline",
        placeholder="Empty: reviewers read a short guideline made from the rubric.",
    )  # fmt: skip
    return checks, margin / 100, repeat / 100, guideline
