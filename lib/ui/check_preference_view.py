"""Preferences from automatic checks, on Scorecard and Evaluate: sample answers, pair them by the checks they pass,
make a preference dataset and go to Train."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import openai
import pandas as pd
import streamlit as st

from lib.errors import StudioError
from lib.judge import check_preferences, preferences
from lib.judge.answer_checks import pack
from lib.judge.check_preferences import CheckPairs, Samples
from lib.judge.run import Contender, contenders_of, settings_of
from lib.judge.runs import RunData
from lib.train import jobs
from lib.train.providers import ProviderConfig
from lib.ui.contenders import offered_chat_models
from lib.ui.plain import plain
from lib.ui.preference_view import open_in_train
from lib.ui.provider import current_provider, provider_client
from lib.words import plural


@dataclass
class Sampled:
    """What was sampled for a run, kept in the session: a stopped sampling goes on from here."""

    model: str
    temperature: float
    samples: Samples = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(found) for found in self.samples.values())


def default_model(contenders: list[Contender]) -> str:
    """The run's tuned contender's model, else its first contender's."""
    return next((c.model for c in contenders if c.tuned), contenders[0].model if contenders else "")


def check_preference_data(data: RunData) -> None:
    """Sample n answers per prompt, pair them by the run's checks, and make a preference dataset of the pairs. The
    section asks the provider and scores the samples only while it is open."""
    run = data.run
    checks = pack(settings_of(run).checks)
    box = st.expander("Preferences from automatic checks", icon=":material/rule:", key=f"checkpref_open_{run.id}",
                      on_change="rerun")  # fmt: skip
    if not box.open:
        return
    with box:
        if checks is None:
            st.caption("This run has no automatic checks to tell a better answer from a worse one.")
            return
        st.caption(
            f"A model answers each of the run's prompts several times; wherever one answer passes more of the "
            f"checks ({checks.title}) than another, the two become a preference example. Ties are left out."
        )
        sampled = _sampling(data)
        if sampled is not None and sampled.count:
            asked = _asked(data, sampled.model)
            texts = check_preferences.texts_of(sampled.samples)
            _pairs(data, sampled, check_preferences.make_pairs(asked, texts, checks))


def _asked(data: RunData, model: str) -> dict[int, list[dict[str, Any]]]:
    """The run's prompts as ``model`` is asked them (with the passages it was trained with, if any)."""
    trained = jobs.trained_with(current_provider().kind, model)
    return check_preferences.prompts_for(model, data.items, settings_of(data.run), trained.k if trained else 0)


def _sampling(data: RunData) -> Sampled | None:
    """The model, n and temperature, the button, progress and stop; what was sampled so far (None: nothing)."""
    run, key = data.run, f"checkpref_{data.run.id}"
    config = current_provider()
    try:
        client = provider_client(config)
        offered = offered_chat_models(config.fingerprint, client, config)
    except StudioError as error:
        st.info(f"To sample answers, the provider must answer: {error}", icon=":material/info:")
        return st.session_state.get(key)
    contenders = contenders_of(run)
    models = list(dict.fromkeys([default_model(contenders), *(c.model for c in contenders), *offered]))
    cells = st.columns(3)
    model = str(cells[0].selectbox("Model", models, key=f"{key}_model"))
    n = int(cells[1].number_input("Answers per prompt", 2, 20, 4, key=f"{key}_n"))
    temperature = float(cells[2].slider("Temperature", 0.0, 2.0, 0.9, 0.1, key=f"{key}_temperature"))
    kept: Sampled | None = st.session_state.get(key)
    if kept is None or (kept.model, kept.temperature) != (model, temperature):
        kept = Sampled(model, temperature)  # other settings: new samples (the old ones stay until this starts)
    wanted = len(data.items) * n
    left = wanted - sum(min(n, len(kept.samples.get(p, []))) for p in data.items)
    max_tokens = settings_of(run).max_tokens
    st.caption(
        f"{plural(left, 'request')} to {plain(model)} ({plural(len(data.items), 'prompt')} × {n}, up to "
        f"{max_tokens} tokens each" + (f"; {wanted - left} already sampled" if left < wanted else "") + ")."
    )
    if st.session_state.pop(f"{key}_stopped", False):
        st.info(f"Stopped: the {plural(kept.count, 'answer')} sampled so far are kept.", icon=":material/pause:")
    if left and st.button("Sample answers", icon=":material/casino:", key=f"{key}_go"):
        st.session_state[key] = kept  # filled in place as answers arrive: a stop keeps them
        _sample(data, client, config, kept, n, max_tokens)
    return st.session_state.get(key)


def _sample(
    data: RunData, client: openai.OpenAI, config: ProviderConfig, kept: Sampled, n: int, max_tokens: int
) -> None:
    """Sample what is missing, with a progress bar and a stop button; an error says the answers so far are kept."""
    key = f"checkpref_{data.run.id}"
    stop = f"{key}_stopped"
    st.session_state[stop] = False
    st.button("Stop sampling (the answers so far are kept)", key=f"{key}_stop",  # a click reruns the page
              on_click=lambda: st.session_state.__setitem__(stop, True))  # fmt: skip
    bar = st.progress(0.0, "Sampling answers…")

    def show(done: int, total: int) -> None:
        bar.progress(done / total, f"{done} of {total} answers")

    try:
        check_preferences.sample(client, config, kept.model, _asked(data, kept.model), n, kept.temperature, max_tokens,
                                 show, lambda: bool(st.session_state.get(stop)), kept.samples)  # fmt: skip
    except (StudioError, openai.OpenAIError) as error:
        st.error(f"{error} The answers so far are kept.")
        return
    st.session_state.pop(stop, None)
    st.rerun()


def _pairs(data: RunData, sampled: Sampled, found: CheckPairs) -> None:
    """The pairs found, with what was left out; the reviewers' option and the button that makes the dataset."""
    run, key = data.run, f"checkpref_{data.run.id}"
    st.markdown(
        f"**{plural(len(found.found), 'pair')} from {plural(found.prompts, 'prompt')}** "
        f"({plural(sampled.count, 'answer')} by {plain(sampled.model)} at temperature {sampled.temperature:g}); "
        f"left out: {found.left_out()}; {plural(found.all_tied, 'prompt')} where every answer passes as many checks."
    )
    if found.found:
        table = pd.DataFrame(
            [{"item": p.position, "preferred": f"sample {p.preferred} ({p.preferred_passed} of {p.checks})",
              "over": f"sample {p.other} ({p.other_passed} of {p.checks})", "preferred answer": p.preferred_text,
              "other answer": p.other_text} for p in found.found]
        )  # fmt: skip
        st.dataframe(table, hide_index=True, width="stretch")
    rated = preferences.from_ratings(data.ratings, data.answers, data.items).found
    add = st.checkbox(f"Add reviewers' preferences ({len(rated)})", key=f"{key}_reviewers", disabled=not rated)
    reviewers = rated if add else []
    total = len(found.found) + len(reviewers)
    if st.button(f"Make preference data from checks ({plural(total, 'example')})", key=f"{key}_make",
                 icon=":material/thumbs_up_down:", disabled=not total):  # fmt: skip
        open_in_train(lambda: check_preferences.make_dataset(run, sampled.model, found.found, reviewers))
