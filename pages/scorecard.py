"""Scorecard: did fine-tuning pay off? Wins, rubric scores, agreement, cost, and the verdict."""

import pandas as pd
import streamlit as st

from lib.db import run_store
from lib.judge import scorecard
from lib.ui.charts import interval_chart


@st.cache_data(ttl=600, show_spinner="Estimating the training cost…")
def training_cost_estimate(run_id: int) -> float:
    return scorecard.estimated_training_cost(run_store.get_run(run_id))


st.title("Scorecard")
runs = run_store.list_runs()
if not runs:
    st.info("There is no evaluation run yet.")
    st.page_link("pages/evaluate.py", label="Create one on Evaluate", icon=":material/science:")
    st.stop()
by_id = {run.id: run for run in runs}
run_id = st.selectbox("Run", list(by_id), key="score_run", format_func=lambda i: f"{i} · {by_id[i].name}")
run = by_id[run_id]
ratings = run_store.run_ratings(run.id)
answers = run_store.run_answers(run.id)
training_cost = st.number_input(
    "Training cost ($)", 0.0, None, training_cost_estimate(run.id), key=f"score_training_cost_{run.id}",
    help="Estimated from the tuned model's dataset at the listed prices when the app trained it; 0 when local.",
)  # fmt: skip
card = scorecard.build(run, answers, ratings, run_store.run_items(run.id), training_cost)

show = {True: st.success, False: st.warning, None: st.info}[card.verdict.fine_tune]
show(f"**Should we fine-tune?** {card.verdict.headline}", icon=":material/gavel:")
for reason in card.verdict.reasons:
    st.markdown(f"- {reason}")
cells = st.columns(3)
cells[0].metric("Ratings", len(ratings))
cells[1].metric("Reviewers", len(card.reviewers))
agree = card.agreement
cells[2].metric(
    agree["measure"] if agree["value"] is not None else "Agreement",
    f"{agree['value']:.2f}" if agree["value"] is not None else "–",
    help=f"Over {agree['items']} items rated by more than one reviewer (1: full agreement, 0: chance).",
)

wins, scores, usage, people = st.tabs(["Who wins", "Rubric", "Cost and checks", "Reviewers"])
with wins:
    st.dataframe(pd.DataFrame(scorecard.pair_rows(card.pairs)), hide_index=True, width="stretch")
    rated = [{"pair": f"{p.first} vs {p.second}", "win rate": p.win_rate, "low": p.win_low, "high": p.win_high}
             for p in card.pairs if p.ratings]  # fmt: skip
    if rated:
        st.altair_chart(interval_chart(rated, "pair", "win rate", (0, 1)), width="stretch")
        st.caption("Share of ratings the first of each pair wins (ties count half), with its 95% Wilson interval.")
    if len(run.contenders) > 2:
        st.markdown("**Ranking** (Bradley–Terry strength: P(a beats b) = a / (a + b))")
        st.dataframe(pd.DataFrame(card.ranking), hide_index=True)
with scores:
    means = [dict(r, label=f"{r['contender']}: {r['criterion']}") for r in card.rubric if r["n"]]
    st.dataframe(pd.DataFrame(card.rubric), hide_index=True, width="stretch")
    if means:
        st.altair_chart(interval_chart(means, "label", "mean", (1, 5)), width="stretch")
with usage:
    st.dataframe(pd.DataFrame(card.usage), hide_index=True, width="stretch")
    st.caption("Means per answer; automatic checks are the share of answers that pass.")
with people:
    st.dataframe(pd.DataFrame(card.reviewers), hide_index=True)

downloads = st.columns(3)
downloads[0].download_button("Ratings (CSV)", scorecard.ratings_csv(run, ratings, answers),
                             f"run-{run.id}-ratings.csv", "text/csv", icon=":material/download:")  # fmt: skip
downloads[1].download_button("Scorecard (JSON)", scorecard.scorecard_json(card), f"run-{run.id}-scorecard.json",
                             "application/json", icon=":material/download:")  # fmt: skip
downloads[2].download_button("Report (HTML)", scorecard.report_html(card), f"run-{run.id}-report.html",
                             "text/html", icon=":material/download:")  # fmt: skip
