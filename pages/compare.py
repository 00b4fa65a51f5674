"""Compare: one prompt, two to five contenders, their answers side by side with tokens, latency, cost and the
passages retrieval gave them."""

import streamlit as st

from lib.errors import StudioError
from lib.judge import evaluation
from lib.judge.run import RunSettings
from lib.ui.contenders import (
    answer_markdown,
    best_checkpoint_model,
    choose_contenders,
    knowledge_choice,
    offered_chat_models,
    show_answer,
    show_passages,
)
from lib.ui.provider import require_client
from lib.ui.widgets import cached_rows, current_dataset

SYSTEM = "Elle is a factual chatbot that answers questions about elements in the periodic table with a limerick"


st.title("Compare")
config, client = require_client()
try:
    models = offered_chat_models(config.fingerprint, client, config)
except StudioError as error:
    st.error(str(error), icon=":material/cloud_off:")
    st.stop()
if not models:
    st.warning(f"{config.name} has no model to answer yet.")
    st.stop()

pending = st.session_state.pop("compare_pending_model", None)  # from "Compare this model" on Jobs
if pending in models:
    st.session_state.pop("compare_model_1", None)  # let the second contender take it
preferred = pending or best_checkpoint_model(config.fingerprint, client, config)  # only a default
knowledge = knowledge_choice("compare")
count = st.radio("Contenders", [2, 3, 4, 5], horizontal=True, key="compare_count")
contenders = choose_contenders(
    "compare", models, count, preferred if preferred in models else None, bool(knowledge), config.kind
)
dataset = current_dataset()
if any(c.shots for c in contenders) and dataset is None:
    st.warning("A few-shot contender takes its examples from a dataset: create or load one first.")

system = st.text_area("System prompt", SYSTEM, key="compare_system", height=80)
user = st.text_input("User prompt", "Tell me about neon.", key="compare_user")
cells = st.columns(3)
temperature = cells[0].slider("Temperature", 0.0, 2.0, 0.0, 0.1, key="compare_temperature")
max_tokens = cells[1].number_input("Max tokens", 1, 4096, 120, key="compare_max_tokens")
seed = cells[2].number_input("Seed", 0, 2**31 - 1, 0, key="compare_seed")
settings = RunSettings(
    float(temperature), int(max_tokens), int(seed),
    knowledge_source=knowledge.id if knowledge else None, knowledge_version=knowledge.version_id if knowledge else None,
    knowledge_name=knowledge.name if knowledge else "",
)  # fmt: skip

ready = bool(user.strip())
asked = st.button(
    "Ask them", type="primary", icon=":material/send:", disabled=not ready,
    help=None if ready else "Write a user prompt first.",
)  # fmt: skip
if not ready:
    st.caption("Write a user prompt to ask the contenders.")
if asked:
    prompt = [{"role": "system", "content": system}] if system.strip() else []
    prompt.append({"role": "user", "content": user})
    examples = [row.example for row in cached_rows(dataset.id, dataset.version_id)] if dataset else []
    asks, passages = [], []
    for contender in contenders:
        shots = evaluation.shot_pairs(examples, contender.shots, settings.seed, user) if contender.shots else []
        messages, hits = evaluation.contender_messages(contender, prompt, shots, settings)
        asks.append((contender, messages))
        passages.append([hit.to_dict() for hit in hits])
    boxes = []
    for column, contender in zip(st.columns(len(contenders)), contenders, strict=True):  # answers shown as written
        column.subheader(contender.label)
        boxes.append(column.empty())
        boxes[-1].caption("Waiting for its turn…")

    def show(index: int, text: str) -> None:
        if text:
            boxes[index].markdown(answer_markdown(text))
        else:
            boxes[index].caption("Answering…")

    answers = evaluation.ask_side_by_side(client, config, asks, settings, show)
    results = [(c.label, found, hits) for c, found, hits in zip(contenders, answers, passages, strict=True)]
    st.session_state["compare_results"] = (user, results)
    st.rerun()  # the finished answers, with their tokens and checks, below

if "compare_results" in st.session_state:
    question, results = st.session_state["compare_results"]
    if config.kind == "local":
        st.caption("Asked together: on this machine each latency includes the time the other answers shared it.")
    for column, (label, found, passages) in zip(st.columns(len(results)), results, strict=True):
        with column:
            st.subheader(label)
            if isinstance(found, StudioError):
                st.error(str(found))
            else:
                show_answer(question, found)
            show_passages(passages)
