"""Scorecard: did fine-tuning pay off? Wins, rubric scores, agreement, reviewers, cost, and the verdict."""

import pandas as pd
import streamlit as st

from lib.judge import approaches, reports, scorecard
from lib.judge.run import contenders_of, subject_of
from lib.judge.runs import list_runs, load_run
from lib.judge.tables import pair_rows
from lib.judge.verdict import FINE_TUNE, KEEP_BASELINE
from lib.ui.charts import interval_chart
from lib.ui.check_preference_view import check_preference_data
from lib.ui.judge_view import judge_form, judges_table
from lib.ui.preference_view import make_preference_data
from lib.ui.provider import sync_jobs
from lib.ui.queue_view import review_queue
from lib.words import plural

st.title("Scorecard")
sync_jobs(again=True)  # the training cost of a job that finished while nobody watched it
runs = list_runs()
if not runs:
    st.info("There is no evaluation run yet.")
    st.page_link("pages/evaluate.py", label="Create one on Evaluate", icon=":material/science:")
    st.stop()
by_id = {run.id: run for run in runs}
run_id = st.selectbox("Run", list(by_id), key="score_run", format_func=lambda i: f"{i} · {by_id[i].name}")
data = load_run(run_id)  # the run's items, answers and ratings: read once per render
run, ratings, answers, items = data.run, data.ratings, data.answers, data.items
left, right = st.columns(2)
tuned, recorded_baseline = subject_of(run)
rivals = [c.label for c in contenders_of(run) if c.label != tuned]
baseline = left.selectbox(
    f"Baseline {tuned or 'the candidate'} is judged against", rivals, key=f"score_baseline_{run.id}",
    index=rivals.index(recorded_baseline) if recorded_baseline in rivals else 0,
)  # fmt: skip
training_cost = right.number_input(
    "Training cost ($)", 0.0, None, scorecard.estimated_training_cost(run), key=f"score_training_cost_{run.id}",
    placeholder="unknown", help="The estimate Train recorded when it launched the candidate's job; 0 on the local "
    "provider. Unknown for a job started outside the app: type it to count it.",
)  # fmt: skip
if training_cost is None:
    right.caption("Training cost unknown: the verdict leaves it out until you type it.")
counted = None
if data.judges:
    people_only = "No: people only"
    chosen = st.selectbox("Count a judge in the verdict", [people_only, *(j.name for j, _ in data.judges)],
                          key=f"score_count_judge_{run.id}", help="Adds the judge's votes as one more reviewer. "
                          "Check its agreement with people first (Reviewers tab).")  # fmt: skip
    counted = None if chosen == people_only else chosen
card = scorecard.build(run, answers, ratings, items, training_cost or 0.0, repeats=data.repeats, baseline=baseline,
                       judges=data.judges, count_judge=counted)  # fmt: skip

verdict = card.verdict
show = {FINE_TUNE: st.success, KEEP_BASELINE: st.warning}.get(verdict.decision or "", st.info)
show(f"**Should we fine-tune?** {verdict.headline}", icon=":material/gavel:")
for reason in verdict.reasons:
    st.markdown(f"- {reason}")
st.caption(f"Equivalence margin: {card.run.settings.get('margin', 0.05):.0%} around an even split (set on Evaluate).")
cells = st.columns(3)
cells[0].metric("Ratings", len(ratings))
cells[1].metric("Reviewers", len(card.reviewers))
agree = card.agreement
cells[2].metric(
    agree["measure"] if agree["value"] is not None else "Agreement",
    f"{agree['value']:.2f}" if agree["value"] is not None else "undefined",
    help=f"On the winner, over {plural(agree['items'], 'item')} rated by more than one reviewer (1: full agreement, "
    "0: chance). Undefined with fewer than two reviewers per item, or when all give the same answer.",
)

wins, ways, scores, usage, people, prefs = st.tabs(
    ["Who wins", "Prompt, retrieve or fine-tune?", "Rubric", "Cost and checks", "Reviewers", "Preference data"]
)
with prefs:
    make_preference_data(run, ratings, answers, items)
    check_preference_data(data)
with ways:
    requests = st.number_input("Requests you expect", 1, None, 100_000, step=10_000, key="score_requests")
    ranked = approaches.rank_run(run, answers, items, card.ranking, training_cost or 0.0)
    ways_found = approaches.summary(ranked, int(requests))
    st.info(ways_found["recommendation"], icon=":material/alt_route:")
    st.dataframe(pd.DataFrame(ways_found["rows"]), hide_index=True, width="stretch")
    st.caption(
        "Best quality first, with 95% intervals: reviewers' Bradley–Terry strength when every contender was rated, "
        "else the share of automatic checks an answer passes. Prompt tokens grow with examples and passages; "
        "the total adds the one-off training cost to the running cost at the volume above."
    )
with wins:
    st.dataframe(pd.DataFrame(pair_rows(card.pairs)), hide_index=True, width="stretch")
    rated = [{"pair": f"{p.first} vs {p.second}", "win rate": p.win_rate, "low": p.win_low, "high": p.win_high}
             for p in card.pairs if p.items]  # fmt: skip
    if rated:
        st.altair_chart(interval_chart(rated, "pair", "win rate", (0, 1)), width="stretch")
        st.caption("Share the first of each pair wins, per item (ties count half), with its 95% Wilson interval.")
    if len(run.contenders) > 2:
        st.markdown("**Ranking** (Bradley–Terry strength: P(a beats b) = a / (a + b); 95% intervals over items)")
        st.dataframe(pd.DataFrame(card.ranking), hide_index=True)
with scores:
    means = [dict(r, label=f"{r['contender']}: {r['criterion']}") for r in card.rubric if r["n"] > 1]
    st.dataframe(pd.DataFrame(card.rubric), hide_index=True, width="stretch")
    if means:
        st.altair_chart(interval_chart(means, "label", "mean", (1, 5)), width="stretch")
    if agree["scores"] is not None:
        st.caption(f"Agreement on the 1–5 scores: Krippendorff's alpha (ordinal) {agree['scores']:.2f}.")
with usage:
    st.dataframe(pd.DataFrame(card.usage), hide_index=True, width="stretch")
    st.caption("Means per answer; automatic checks are the share of answers that pass.")
with people:
    st.dataframe(pd.DataFrame(card.reviewers), hide_index=True, width="stretch")
    st.caption(
        "Picks left: how often a reviewer chose the answer shown on the left (A) when not a tie; near 50% is "
        "unbiased. Consistent: on items shown again with sides swapped, how often they chose the same answer."
    )
    if agree["pairs"]:
        st.markdown("**Agreement per pair of reviewers** (Cohen's kappa on the items both rated)")
        st.dataframe(pd.DataFrame(agree["pairs"]), hide_index=True)
    judges_table(card)
    judge_form(data)
    review_queue(data)

downloads = st.columns(3)
name = f"run-{run.id}"
downloads[0].download_button("Ratings (CSV)", reports.ratings_csv(run, ratings, answers), f"{name}-ratings.csv",
                             "text/csv", icon=":material/download:")  # fmt: skip
downloads[1].download_button("Scorecard (JSON)", reports.scorecard_json(card, ways_found), f"{name}-scorecard.json",
                             "application/json", icon=":material/download:")  # fmt: skip
downloads[2].download_button("Report (HTML)", reports.report_html(card, ways_found), f"{name}-report.html",
                             "text/html", icon=":material/download:")  # fmt: skip
