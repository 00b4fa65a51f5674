"""Rate: blind A/B ratings. Model names are revealed only after the rating is saved."""

import streamlit as st

from lib.errors import StudioError
from lib.judge import rating, scorecard
from lib.judge.run import earlier_turns, guideline_of, question_of, reviewer_key, settings_of
from lib.judge.runs import RESERVATION_MINUTES, list_runs, load_run, reviewer_ratings
from lib.ui.access import rateable, signed_in_person
from lib.ui.contenders import answer_markdown, show_passages
from lib.ui.plain import plain
from lib.ui.widgets import show_flash
from lib.words import plural

SCORES = [1, 2, 3, 4, 5]

st.title("Rate answers")
show_flash()
person = signed_in_person()
curator = person is None or person.role == "curator"
runs = [run for run in list_runs() if rateable(person, run.shared_with)]
if not runs:
    st.info("There is no evaluation run to rate yet." if curator else "No run has been shared with you yet.")
    if curator:
        st.page_link("pages/evaluate.py", label="Create one on Evaluate", icon=":material/science:")
    st.stop()

if person is not None:
    reviewer = person.name
    st.caption(f"Rating as **{plain(reviewer)}** (signed in).")
else:
    st.session_state.setdefault("rate_reviewer", st.query_params.get("reviewer", ""))  # a reload keeps the name
    reviewer = st.text_input("Your name", key="rate_reviewer", placeholder="so your ratings are kept apart")
by_id = {run.id: run for run in runs}
linked = st.query_params.get("run", "")
if "rate_run" not in st.session_state and linked.isdigit() and int(linked) in by_id:
    st.session_state["rate_run"] = int(linked)
run_id = st.selectbox("Run", list(by_id), key="rate_run", format_func=lambda i: f"{i} · {by_id[i].name}")
st.query_params.update({"run": str(run_id)} | ({"reviewer": reviewer.strip()} if person is None else {}))
if not reviewer.strip():
    st.info("Give your name to start; you can stop at any time and pick up where you left off.")
    st.stop()

run = by_id[run_id]
if revealed := st.session_state.pop("rate_revealed", None):
    message, given = revealed
    st.success(message, icon=":material/visibility:")
    for label, passages in given.items():  # shown only now, so they could not give the contender away
        st.caption(f"Retrieval gave **{plain(label)}** these passages:")
        show_passages(passages)
skipped: list[int] = st.session_state.setdefault(f"rate_skipped_{run.id}_{reviewer_key(reviewer)}", [])
assignment, done, total = rating.next_assignment(run, reviewer, skipped)
if total:
    needed = plural(run.reviews_needed, "reviewer")
    st.progress(done / total, f"{done} of {total} rated · each item needs {needed}")
data = load_run(run.id)  # the run's items, answers and ratings: read once per render
if done and (hint := scorecard.stop_hint(run, data.ratings, data.answers, data.items)):
    st.info(hint, icon=":material/flag:")
if assignment is None:
    status = rating.queue_status(run, data.ratings, data.items)
    mine = {r.position for r in reviewer_ratings(run.id, reviewer)}
    busy = sum(1 for item in status if item["Still needs"] and item["Item"] not in mine)
    if busy:
        st.info(
            f"Nothing left for you now: {plural(busy, 'item')} {'is' if busy == 1 else 'are'} being rated by others. "
            "If someone stops, their item "
            f"comes back here within {RESERVATION_MINUTES} minutes.", icon=":material/hourglass:",
        )  # fmt: skip
    elif len(mine) == len(status):
        st.success(f"All {plural(len(status), 'item')} rated. Thank you, {plain(reviewer)}!")
    else:
        st.success(f"Every item has its {plural(run.reviews_needed, 'reviewer')}. Thank you, {plain(reviewer)}!")
    if curator:
        st.page_link("pages/scorecard.py", label="Open the scorecard", icon=":material/leaderboard:")
    st.stop()

prompt = data.items[assignment.position]
stored = {a.contender: a for a in data.answers if a.position == assignment.position}
answers = {label: a.text for label, a in stored.items()}
if assignment.left not in answers or assignment.right not in answers:
    st.warning("This item's answers are not generated yet: finish the run on Evaluate first.")
    st.stop()
with st.expander("How to rate", expanded=done == 0):
    st.markdown(guideline_of(settings_of(run)))
if assignment.repeat:
    st.caption("You rated this item before: it is shown again, sides swapped, to measure how consistent ratings are.")
if earlier := earlier_turns(prompt):
    st.markdown("**The conversation so far:**")
    for turn in earlier:
        with st.chat_message(turn["role"]):
            st.markdown(answer_markdown(str(turn["content"])))
st.markdown(f"**Prompt:** {answer_markdown(question_of(prompt))}")  # a prompt's text, never Markdown
rubric = settings_of(run).rubric
item_key = f"{run.id}_{assignment.position}"  # fresh widgets for every item
with st.form(f"rate_form_{item_key}", border=False):
    columns = st.columns(2)
    scores: dict[str, list[int]] = {}
    for column, side, label in ((columns[0], "A", assignment.left), (columns[1], "B", assignment.right)):
        with column:
            st.subheader(f"Answer {side}", anchor=False)  # no link anchor: one tab stop fewer
            st.markdown(answer_markdown(answers[label]))
            picked = [
                st.radio(criterion, SCORES, index=None, horizontal=True, key=f"rate_{item_key}_{side}_{i}")
                for i, criterion in enumerate(rubric)
            ]
            scores[label] = [int(p) for p in picked if p is not None]
    choice = st.radio(
        "Which answer is better?", ["A", "B", "tie"], index=None, horizontal=True, key=f"rate_{item_key}_choice"
    )
    note = st.text_input("Note (optional)", key=f"rate_{item_key}_note")  # no help icon: it took a tab stop
    buttons = st.columns([2, 2, 3])  # wide enough for "Save rating" and its shortcut at 1400 px
    submitted = buttons[0].form_submit_button(
        "Save rating", type="primary", icon=":material/save:", shortcut="Ctrl+Enter"
    )
    skip = buttons[1].form_submit_button("Skip for now", icon=":material/skip_next:")
    st.caption("Keyboard: Tab moves to the next question, arrow keys pick, Ctrl+Enter saves.")
if skip:
    skipped[:] = [p for p in skipped if p != assignment.position] + [assignment.position]
    st.rerun()
if submitted:
    try:
        if choice is None:
            raise StudioError("Choose A, B or tie.")
        rating.rate(run, reviewer, assignment, choice, scores, note)
    except StudioError as error:
        st.error(str(error))
    else:
        st.session_state["rate_revealed"] = (
            f"Saved. Item {assignment.position}: "
            f"A was **{plain(assignment.left)}**, B was **{plain(assignment.right)}**.",
            {label: stored[label].passages for label in (assignment.left, assignment.right) if stored[label].passages},
        )
        st.rerun()
