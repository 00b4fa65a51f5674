"""Scorecard → Reviewers: a model as judge of the run, measured against the people before it counts."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from lib.errors import StudioError
from lib.judge import judging
from lib.judge.evaluation import answer_cost
from lib.judge.run import Contender
from lib.judge.runs import RunData
from lib.judge.scorecard import Scorecard
from lib.train import providers
from lib.ui.plain import plain
from lib.ui.provider import current_provider, provider_client
from lib.words import plural


def _figure(value: Any) -> str:
    return "undefined" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def judges_table(card: Scorecard) -> None:
    """Each judge's agreement with the people's majority, beside how far people agree with each other."""
    if not card.judges:
        return
    rows = [
        {"judge": j["reviewer"], "model": j["model"], "items": j["items"], "agreement": j["agreement"],
         "kappa": j["kappa"], "kappa 95% low": j["kappa_low"], "kappa 95% high": j["kappa_high"],
         "people's agreement": j["people"], "picks A": j["position_bias"], "no votes": j["no_votes"],
         "flips": j["flips"], "split majorities": j["split"], "calibration examples": j["calibration"],
         "tokens": j["tokens"], "cost ($)": j["cost_usd"], "seconds": j["seconds"]}
        for j in card.judges
    ]  # fmt: skip
    st.markdown("**Judges** (a model's votes against the reviewers' majority on the same items)")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption(
        "Compare a judge's kappa with how far people agree with each other, not with 1.0. Items where people's "
        "majority is split are left out; a choice that flips when the answers swap sides is a tie; picks A near "
        "0.5 is unbiased. Items shown to the judge as examples are never used to measure it. The verdict counts "
        "people only unless you choose a judge above."
    )
    criteria = [dict(c, judge=j["reviewer"]) for j in card.judges for c in j["criteria"]]
    if criteria:
        st.dataframe(pd.DataFrame(criteria)[["judge", "criterion", "items", "agreement", "kappa", "kappa_low",
                                             "kappa_high"]], hide_index=True)  # fmt: skip


def judge_form(data: RunData) -> None:
    """Judge the run with a model of the current provider: estimate first, progress, stop (votes are kept)."""
    with st.expander("Judge this run with a model", icon=":material/smart_toy:"):
        config = current_provider()
        try:
            client = provider_client(config)
            models = providers.chat_models(client, config)
        except StudioError as error:  # the rest of the page goes on: no stop here
            st.info(f"To judge with a model, the provider must answer: {error}", icon=":material/info:")
            return
        model = st.selectbox("Judging model", models, key=f"judge_model_{data.run.id}")
        name = st.text_input("Its name among the reviewers", f"judge: {model}", key=f"judge_name_{data.run.id}")
        calibrate = st.number_input(
            "Calibrate with rated pairs", 0, 20, 0, key=f"judge_calibrate_{data.run.id}",
            help="Show this many pairs people rated (with their choice) to the judge as examples; agreement is "
            "then measured on the other items only.",
        )  # fmt: skip
        template = st.text_area("Prompt", judging.DEFAULT_PROMPT, height=260, key=f"judge_prompt_{data.run.id}")
        found = judging.estimate(data.run, data.answers, data.items)
        cost = answer_cost(config, Contender(str(model), str(model)), found["prompt_tokens"],
                           found["completion_tokens"])  # as each vote's cost is counted after  # fmt: skip
        st.caption(
            f"About {plural(found['requests'], 'request')} (each pair in both orders), "
            f"{found['prompt_tokens']:,} prompt + {found['completion_tokens']:,} completion tokens"
            + (f", ${cost:.2f} at {plain(model)}'s listed price." if cost else ".")
        )
        if not st.button("Judge", icon=":material/gavel:", key=f"judge_go_{data.run.id}"):
            return
        st.button("Stop judging (the votes so far are kept)", key=f"judge_stop_{data.run.id}")  # a click reruns
        bar = st.progress(0.0, "Judging…")

        def show(done: int, total: int) -> None:
            bar.progress(done / total, f"{done} of {total} pairs judged")

        try:
            judging.judge_run(data.run, data.items, data.answers, data.ratings, client, config, str(model), name,
                              template, int(calibrate), show)  # fmt: skip
        except StudioError as error:
            st.error(str(error))
            return
        st.rerun()
