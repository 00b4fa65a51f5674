"""Choosing contenders (model, few-shot examples, retrieved passages) and showing answers: Compare and Evaluate."""

from __future__ import annotations

from typing import Any

import openai
import streamlit as st

from lib.errors import StudioError
from lib.judge.answer_checks import ELLE, CheckPack
from lib.judge.evaluation import Answer, recorded_contenders
from lib.judge.run import Contender, default_label, default_subject
from lib.retrieve import knowledge
from lib.retrieve.source import Source
from lib.rhymes import LIMERICK
from lib.train import jobs, tracking
from lib.train.providers import ProviderConfig, chat_models
from lib.ui.plain import plain
from lib.ui.widgets import knowledge_source_choice


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


def knowledge_choice(prefix: str) -> Source | None:
    """The knowledge source retrieval contenders search (None: no retrieval)."""
    if not any(s.n_passages for s in knowledge.sources()):
        st.caption("Retrieval contenders need a knowledge source: add one on the Knowledge screen.")
        return None
    return knowledge_source_choice(
        st,
        "Knowledge source for retrieval",
        f"{prefix}_knowledge",
        "None: no retrieval",
        "Contenders with passages get that many passages found by BM25 search for the question in their prompt.",
    )


def choose_contenders(
    prefix: str,
    models: list[str],
    count: int,
    preferred: str | None = None,
    retrieval: bool = False,
    provider: str = "",
) -> list[Contender]:
    """``count`` columns, each a model, how many examples to put in its prompt (0: bare), with ``retrieval`` how
    many passages to retrieve into it (for a model trained with passages, as many as it was trained with), and on
    the local provider whether its lines are made to rhyme as a limerick's."""
    base = next((m for m in models if not m.startswith("ft:")), models[0])
    tuned = preferred or next((m for m in reversed(models) if m.startswith("ft:") and ":ckpt-" not in m), base)
    defaults = [(base, 0, 0), (tuned, 0, 0), (base, 3, 0), (base, 0, 3), (tuned, 0, 3)]
    contenders = []
    for index, column in enumerate(st.columns(count)):
        model_default, shots_default, passages_default = defaults[index]
        model = column.selectbox(
            f"Contender {index + 1}", models, index=models.index(model_default), key=f"{prefix}_model_{index}"
        )
        shots = int(column.number_input(
            "Examples in its prompt", 0, 20, shots_default, key=f"{prefix}_shots_{index}",
            help="0: the bare prompt. More: a few-shot baseline with that many examples from the chosen dataset.",
        ))  # fmt: skip
        passages = 0
        if retrieval:
            if passages_default:
                trained = jobs.trained_with(provider, model)
                passages_default = trained.k if trained else passages_default
            passages = int(column.number_input(
                "Passages retrieved", 0, 10, passages_default, key=f"{prefix}_passages_{index}_{model}",
                help="How many passages from the knowledge source are added to its system prompt (0: none).",
            ))  # fmt: skip
        rhymes = ""
        if provider == "local" and column.checkbox(
            "Rhyming lines (limerick)", key=f"{prefix}_rhymes_{index}",
            help="The local server makes lines 2 and 5 end on a rhyme of line 1, and line 4 on a rhyme of line 3: "
            "where the model's last word does not rhyme, the rhyme it finds likeliest replaces it. Numbers are kept.",
        ):  # fmt: skip
            rhymes = LIMERICK
        named = default_label(model, shots, passages, rhymes)
        key = f"{prefix}_label_{index}_{model}_{shots}_{passages}_{rhymes}"
        label = column.text_input("Name", named, key=key)
        contenders.append(Contender(label.strip() or named, model, shots, passages, rhymes=rhymes))
    return contenders


def subject_choice(provider: str, contenders: list[Contender]) -> tuple[str, str]:
    """Which contender the run judges (the candidate, by default its tuned model) and against which baseline (by
    default a few-shot one, else the bare base model). Recorded with the run: the scorecard reads them."""
    labels = [c.label for c in contenders]
    tuned, default_baseline = default_subject(recorded_contenders(provider, contenders))
    default_candidate = tuned or labels[min(1, len(labels) - 1)]  # the second column holds the tuned model
    left, right = st.columns(2)
    together = "|".join(labels)  # new choices when the contenders change
    candidate = left.selectbox(
        "Candidate: the contender being judged", labels, labels.index(default_candidate),
        key=f"evaluate_candidate_{together}", help="Usually the tuned model: the verdict says whether it paid off.",
    )  # fmt: skip
    others = [label for label in labels if label != candidate]
    baseline = right.selectbox(
        "Baseline it is judged against", others,
        others.index(default_baseline) if default_baseline in others else 0, key=f"evaluate_baseline_{together}",
    )  # fmt: skip
    return str(candidate), str(baseline)


def show_passages(passages: list[dict[str, Any]] | tuple[dict[str, Any], ...], expanded: bool = False) -> None:
    """The passages retrieval put in a prompt, with where each came from and its score."""
    if not passages:
        return
    with st.expander(f"Passages in its prompt ({len(passages)})", expanded=expanded):
        for i, hit in enumerate(passages, start=1):
            st.caption(f"[{i}] {hit['file']}, {hit['origin']} · score {hit['score']:.2f}")
            st.text(hit["text"])


def answer_markdown(text: str) -> str:
    """A model's answer shown as written: markdown characters escaped, its line breaks kept."""
    if not text.strip():
        return "*(empty answer)*"
    return plain(text.strip()).replace("\n", "  \n")


def show_answer(question: str, answer: Answer, pack: CheckPack | None = ELLE) -> None:
    st.markdown(answer_markdown(answer.text))
    tokens = (
        f"{answer.prompt_tokens} prompt + {answer.completion_tokens} completion tokens"
        if answer.prompt_tokens or answer.completion_tokens
        else "tokens not reported by the server"  # an OpenAI-compatible server that sends no usage
    )
    st.caption(f"{tokens} · {answer.latency_s:.2f} s · ${answer.cost_usd:.5f}")
    if pack is not None:
        checked = pack.run(question, answer.text)
        marks = {True: ":material/check:", False: ":material/close:", None: "–"}
        st.caption(" · ".join(f"{label.capitalize()} {marks[checked[key]]}" for key, label in pack.checks.items()))
