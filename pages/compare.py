"""Compare: one prompt, two or three contenders, their answers side by side with tokens, latency and cost."""

import streamlit as st

from lib.errors import StudioError
from lib.judge import evaluation
from lib.ui.contenders import best_checkpoint_model, choose_contenders, offered_chat_models, show_answer
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
count = st.radio("Contenders", [2, 3], horizontal=True, key="compare_count")
contenders = choose_contenders("compare", models, count, preferred if preferred in models else None)
dataset = current_dataset()
if any(c.shots for c in contenders) and dataset is None:
    st.warning("A few-shot contender takes its examples from a dataset: create or load one first.")

system = st.text_area("System prompt", SYSTEM, key="compare_system", height=80)
user = st.text_input("User prompt", "Tell me about neon.", key="compare_user")
cells = st.columns(3)
temperature = cells[0].slider("Temperature", 0.0, 2.0, 0.0, 0.1, key="compare_temperature")
max_tokens = cells[1].number_input("Max tokens", 1, 4096, 120, key="compare_max_tokens")
seed = cells[2].number_input("Seed", 0, 2**31 - 1, 0, key="compare_seed")
settings = evaluation.RunSettings(float(temperature), int(max_tokens), int(seed))

if st.button("Ask them", type="primary", icon=":material/send:", disabled=not user.strip()):
    prompt = [{"role": "system", "content": system}] if system.strip() else []
    prompt.append({"role": "user", "content": user})
    examples = [row.example for row in cached_rows(dataset.id, dataset.version_id)] if dataset else []
    results: list[tuple[str, evaluation.Answer | None, str]] = []
    with st.spinner("Waiting for the answers…"):
        for contender in contenders:
            shots = evaluation.shot_pairs(examples, contender.shots, settings.seed) if contender.shots else []
            try:
                answer = evaluation.ask(client, config, contender, evaluation.request_messages(prompt, shots), settings)
                results.append((contender.label, answer, ""))
            except StudioError as error:
                results.append((contender.label, None, str(error)))
    st.session_state["compare_results"] = (user, results)

if "compare_results" in st.session_state:
    question, results = st.session_state["compare_results"]
    for column, (label, shown, problem) in zip(st.columns(len(results)), results, strict=True):
        with column:
            st.subheader(label)
            if shown is None:
                st.error(problem)
            else:
                show_answer(question, shown)
