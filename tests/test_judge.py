"""Compare and judge: runs, blind ratings, the scorecard and its exports (tiny local server, AppTest)."""

from __future__ import annotations

import html
import io
import json
import threading
from dataclasses import asdict

import openai
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lib.curate.import_export import load_sample
from lib.db import dataset_store, provenance_store, run_store
from lib.judge import approaches, elle_checks, evaluation, rating, reports, scorecard
from lib.judge import verdict as verdicts
from lib.judge.prompts import eval_file_prompts, held_out_prompts
from lib.judge.run import Contender, EvalRun, Prompt, Rating, RunSettings, StoredAnswer, default_label
from lib.judge.tables import oriented, pair_results
from lib.settings import PROJECT_DIR
from lib.train.provenance import Provenance
from lib.train.providers import ProviderConfig
from tests.test_pages import button, open_page
from tests.tiny_model import TINY

LOCAL = ProviderConfig("local")


def small_run(contenders: list[Contender], prompts: int = 4) -> EvalRun:
    """A run whose answers are written directly (no model needed) for rating and scorecard tests."""
    items = [[{"role": "user", "content": f"Tell me about {name}."}] for name in ("iron", "neon", "gold", "tin")]
    settings = RunSettings(repeat_share=0.0)  # repeats have their own test
    if any(c.shots for c in contenders):
        dataset = load_sample()
        settings = RunSettings(shots_dataset=dataset.id, shots_version=dataset.version_id, repeat_share=0.0)
    prompt_set = [Prompt(f"test:{i}", messages) for i, messages in enumerate(items[:prompts], start=1)]
    run = evaluation.create_run("test", LOCAL, "test prompts", prompt_set, contenders, settings)
    for position, prompt in enumerate(items[:prompts], start=1):
        element = elle_checks.element_in(prompt[0]["content"])
        assert element is not None
        for c in contenders:
            right = f"{element.name}, {element.symbol}, number {element.number}, shines.\nIt is fine."
            text = right if c.kind == "tuned" else "Some prose."
            run_store.save_answer(run.id, StoredAnswer(position, c.label, text, 40 if c.shots else 10, 30, 0.5, 0.0))
    return run


BASE, FEW = Contender("base", TINY), Contender("3-shot", TINY, 3)
TUNED = Contender("tuned", f"ft:{TINY}:local::x", tuned=True)  # as a run records a model a job made


def test_generate_answers_every_prompt_with_every_contender_and_resumes(local: openai.OpenAI) -> None:
    dataset = load_sample()
    prompts = eval_file_prompts()[:3]
    settings = RunSettings(max_tokens=6, shots_dataset=dataset.id, shots_version=dataset.version_id)
    run = evaluation.create_run("r", LOCAL, "eval", prompts, [BASE, Contender("2-shot", TINY, 2)], settings)
    run_store.save_answer(run.id, StoredAnswer(1, "base", "kept", 1, 1, 0.1, 0.0))  # as if a stopped run had begun
    seen: list[tuple[int, int]] = []
    assert evaluation.generate(run, local, LOCAL, lambda done, total: seen.append((done, total))) == 6
    answers = run_store.run_answers(run.id)
    assert len(answers) == 6 and seen[-1] == (6, 6) and len(seen) == 5  # the saved answer was not asked again
    assert next(a.text for a in answers if (a.position, a.contender) == (1, "base")) == "kept"
    shot = next(a for a in answers if (a.position, a.contender) == (2, "2-shot"))
    bare = next(a for a in answers if (a.position, a.contender) == (2, "base"))
    assert shot.prompt_tokens > bare.prompt_tokens + 100  # two examples went into its prompt
    assert 0 < shot.completion_tokens <= 6 and shot.latency_s > 0


def test_items_come_blind_in_a_reviewer_order_with_sides_drawn_per_reviewer() -> None:
    run = small_run([BASE, TUNED], prompts=4)
    ada, bob = rating.assignments(run, "Ada"), rating.assignments(run, "Bob")
    assert sorted(a.position for a in ada) == [1, 2, 3, 4]
    assert rating.assignments(run, " ada ") == ada  # the same reviewer gets the same order back
    pairs = {a.position: {a.left, a.right} for a in ada}
    assert pairs == {b.position: {b.left, b.right} for b in bob}  # same pair per item: reviewers comparable
    many = [rating.assignments(run, f"reviewer {i}") for i in range(20)]
    assert len({tuple(a.position for a in m) for m in many}) > 1  # orders differ
    assert len({m[0].left for m in many}) == 2  # both contenders appear on the left


def test_rating_is_saved_and_a_reviewer_resumes_where_they_stopped() -> None:
    run = small_run([BASE, TUNED])
    first, done, total = rating.next_assignment(run, "Ada")
    assert first is not None and (done, total) == (0, 4)
    rating.rate(run, "Ada", first, "A", {first.left: [5, 4, 3], first.right: [1, 2, 3]}, "nice")
    upcoming, done, _ = rating.next_assignment(run, "ADA")
    assert done == 1 and upcoming is not None and upcoming.position != first.position
    [saved] = run_store.run_ratings(run.id)
    assert (saved.winner, saved.scores[first.left], saved.note) == (first.left, [5, 4, 3], "nice")
    with pytest.raises(Exception, match="Score each answer 1 to 5"):
        rating.rate(run, "Ada", upcoming, "B", {upcoming.left: [5, 4]}, "")


def test_several_reviewers_rating_at_once_lose_nothing() -> None:
    run = small_run([BASE, TUNED, FEW])
    errors: list[BaseException] = []

    def review(name: str) -> None:
        try:
            for item in rating.assignments(run, name):
                scores = {item.left: [3, 3, 3], item.right: [4, 4, 4]}
                rating.rate(run, name, item, "B", scores)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=review, args=(f"reviewer {i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    ratings = run_store.run_ratings(run.id)
    assert len(ratings) == 8 * 4 and len({(r.reviewer, r.position) for r in ratings}) == 32


def test_scorecard_verdict_agreement_and_exports() -> None:
    run = small_run([BASE, TUNED, FEW])
    for reviewer in ("Ada", "Bob"):
        for item in rating.assignments(run, reviewer):
            winner = "tuned" if "tuned" in (item.left, item.right) else "3-shot"
            choice = "A" if item.left == winner else "B"
            rating.rate(run, reviewer, item, choice, {item.left: [4, 4, 4], item.right: [2, 2, 2]})
    card = scorecard.build(
        run, run_store.run_answers(run.id), run_store.run_ratings(run.id), run_store.run_items(run.id)
    )
    assert card.agreement["measure"] == "Cohen's kappa" and card.agreement["value"] == 1.0
    assert card.ranking[0]["contender"] == "tuned"
    usage = {row["contender"]: row for row in card.usage}
    assert usage["tuned"]["symbol right"] == 1.0 and usage["base"]["symbol right"] == 0.0
    assert usage["3-shot"]["prompt tokens"] == 40
    pair = next(p for p in card.pairs if {p.first, p.second} == {"tuned", "3-shot"})
    assert pair.ratings == 2 * pair.items  # two reviewers per item, counted once per item
    report = reports.report_html(card).decode()
    assert not any(tag in report for tag in ("<script", "<link", "src=", "href="))  # self-contained: fetches nothing
    assert report.count("<svg") == 2  # the win-rate and rubric charts, inline
    assert card.verdict.headline in report and "position bias" in report
    data = json.loads(reports.scorecard_json(card))
    assert data["agreement"]["value"] == 1.0 and data["run"]["id"] == run.id
    assert data["verdict"]["decision"] == card.verdict.decision
    ranked = approaches.rank_run(run, run_store.run_answers(run.id), run_store.run_items(run.id), card.ranking, 0)
    ways = approaches.summary(ranked, 50_000)
    report = reports.report_html(card, ways).decode()
    assert "Prompt, retrieve or fine-tune? (priced at 50,000 requests)" in report
    assert html.escape(ways["recommendation"]) in report and "fine-tuning" in report and "prompt engineering" in report
    data = json.loads(reports.scorecard_json(card, ways))
    assert [row["contender"] for row in data["approaches"]["rows"]] == [r.contender for r in ranked]
    assert data["approaches"]["rows"][0]["contender"] == "tuned" and data["approaches"]["requests"] == 50_000
    exported = reports.ratings_csv(run, run_store.run_ratings(run.id), run_store.run_answers(run.id))
    table = pd.read_csv(io.BytesIO(exported))
    assert len(table) == 8 and set(table["reviewer"]) == {"Ada", "Bob"}
    assert set(table["A: Factually correct"]) | set(table["B: Factually correct"]) == {2, 4}


def ratings_of(outcomes: list[tuple[int, str, str]]) -> list[Rating]:
    """(item, reviewer, winner) -> ratings of tuned against 3-shot."""
    return [Rating(1, who, item, "tuned", "3-shot", winner, {}) for item, who, winner in outcomes]


def verdict_of(outcomes: list[tuple[int, str, str]], tuned_cost: float = 0.10) -> verdicts.Verdict:
    [pair] = pair_results(["tuned", "3-shot"], ratings_of(outcomes))
    return verdicts.verdict(
        "tuned", "3-shot", oriented(pair, "tuned"), pair.ratings, 0.05, (tuned_cost, 0.50), (30, 250), 2.0
    )


def test_verdict_never_reads_not_significant_as_equivalent() -> None:
    lost_all = verdict_of([(i, "r", "3-shot") for i in range(3)])  # lost 3 of 3, tuned is cheaper
    assert lost_all.decision == verdicts.NOT_ENOUGH and lost_all.more_items_needed
    seven_of_ten = verdict_of([(i, "r", "3-shot" if i < 7 else "tuned") for i in range(10)])
    assert seven_of_ten.decision == verdicts.NOT_ENOUGH
    twelve_of_twenty = verdict_of([(i, "r", "3-shot" if i < 12 else "tuned") for i in range(20)])
    assert twelve_of_twenty.decision == verdicts.NOT_ENOUGH
    assert "between 22% and 61%" in twelve_of_twenty.reasons[0]


def test_reviewers_of_one_item_are_one_observation() -> None:
    outcomes = [(i, who, "tuned" if i < 8 else "3-shot") for i in range(10) for who in ("Ada", "bob", "Cy")]
    [pair] = pair_results(["tuned", "3-shot"], ratings_of(outcomes))
    assert (pair.items, pair.ratings) == (10, 30)
    assert (pair.win_low, pair.win_high) == pytest.approx((0.49, 0.94), abs=0.005)  # per item, not n = 30
    assert verdict_of(outcomes).decision == verdicts.NOT_ENOUGH  # was "Yes: fine-tune" with n = 30
    same_name = [(0, "Ada", "tuned"), (0, " ada ", "3-shot")]  # one reviewer, one item: names match as everywhere
    assert pair_results(["tuned", "3-shot"], ratings_of(same_name))[0].items == 1


def test_verdict_three_ways() -> None:
    better = verdict_of([(i, "r", "tuned" if i < 18 else "3-shot") for i in range(20)])
    assert better.decision == verdicts.FINE_TUNE and better.headline.startswith("Fine-tune:")
    assert "repaid after 5,000 requests" in " ".join(better.reasons)  # $2 / ($0.40 per 1,000)
    worse = verdict_of([(i, "r", "tuned" if i < 2 else "3-shot") for i in range(20)])
    assert worse.decision == verdicts.KEEP_BASELINE and "3-shot gives better answers" in worse.headline
    even = [(i, "r", "tie") for i in range(800)]  # as good, within the margin
    assert verdict_of(even).decision == verdicts.FINE_TUNE  # and cheaper
    assert verdict_of(even, tuned_cost=0.90).decision == verdicts.KEEP_BASELINE  # as good, not cheaper
    assert verdicts.verdict("tuned", "3-shot", [], 0).decision is None


def test_rate_says_when_the_verdict_is_settled() -> None:
    assert verdicts.settled_while_rating([1.0] * 18 + [0.0] * 2, 5, 0.05, True) == verdicts.FINE_TUNE
    assert verdicts.settled_while_rating([1.0, 0.0], 100, 0.05, True) is None  # still open: keep rating
    assert verdicts.settled_while_rating([1.0, 0.0], 1, 0.05, True) == verdicts.NOT_ENOUGH  # cannot be settled


def test_repeated_items_come_back_swapped_and_count_once() -> None:
    run = small_run([BASE, TUNED])
    settings = dict(run.settings, repeat_share=0.5)
    run = run_store.create_run("r", "local", "p", settings, run.contenders, [
        (f"q:{i}", run_store.run_items(run.id)[i]) for i in (1, 2, 3, 4)
    ])  # fmt: skip
    for i in (1, 2, 3, 4):
        for label in ("base", "tuned"):
            run_store.save_answer(run.id, StoredAnswer(i, label, "x", 1, 1, 0.1, 0.0))
    queue = rating.assignments(run, "Ada")
    again = [a for a in queue if a.repeat]
    assert len(queue) == 6 and len(again) == 2
    for repeat in again:
        first = next(a for a in queue if a.position == repeat.position and not a.repeat)
        assert (repeat.left, repeat.right) == (first.right, first.left)  # sides swapped
        assert queue.index(repeat) > queue.index(first)
    while (item := rating.next_assignment(run, "Ada")[0]) is not None:
        rating.rate(run, "Ada", item, "A", {item.left: [3, 3, 3], item.right: [3, 3, 3]})
    assert len(run_store.run_ratings(run.id)) == 4 and len(run_store.run_ratings(run.id, repeats=True)) == 2
    card = scorecard.build(
        run, run_store.run_answers(run.id), run_store.run_ratings(run.id), run_store.run_items(run.id),
        repeats=run_store.run_ratings(run.id, repeats=True),
    )  # fmt: skip
    [ada] = card.reviewers
    assert ada["picks left"] == 1.0 and ada["repeated"] == 2 and ada["consistent"] == 0.0  # always left: biased
    assert card.pairs[0].ratings == 4  # repeats never counted twice


def test_rate_screen_hides_names_until_saved_then_moves_on() -> None:
    run = small_run([BASE, TUNED])
    at = open_page("pages/rate.py")
    at.text_input(key="rate_reviewer").input("Ada").run()
    assert "0 of 4 rated" in at.get("progress")[0].proto.text
    shown = " ".join(m.value for m in at.markdown)
    assert "tuned" not in shown and "base" not in shown  # blind
    first, _, _ = rating.next_assignment(run, "Ada")
    assert first is not None
    key = f"{run.id}_{first.position}"
    for side in "AB":
        for i in range(3):
            at.radio(key=f"rate_{key}_{side}_{i}").set_value(4)
    at.radio(key=f"rate_{key}_choice").set_value("B")
    at.text_input(key=f"rate_{key}_note").input("B scans better")
    button(at, "Save rating").click().run()
    assert not at.exception
    assert at.success[0].value == f"Saved. Item {first.position}: A was **{first.left}**, B was **{first.right}**."
    assert "1 of 4 rated" in at.get("progress")[0].proto.text
    [saved] = run_store.run_ratings(run.id)
    assert (saved.winner, saved.note) == (first.right, "B scans better")


def test_rate_screen_refuses_an_incomplete_rating_and_keeps_it() -> None:
    run = small_run([BASE, TUNED])
    at = open_page("pages/rate.py")
    at.text_input(key="rate_reviewer").input("Ada").run()
    first, _, _ = rating.next_assignment(run, "Ada")
    assert first is not None
    at.radio(key=f"rate_{run.id}_{first.position}_choice").set_value("A")
    button(at, "Save rating").click().run()
    assert "Score each answer 1 to 5" in at.error[0].value
    assert run_store.run_ratings(run.id) == []
    assert at.radio(key=f"rate_{run.id}_{first.position}_choice").value == "A"  # what was picked stays


def test_scorecard_screen_shows_the_verdict_and_offers_three_exports() -> None:
    run = small_run([BASE, TUNED])
    for item in rating.assignments(run, "Ada"):
        choice = "A" if item.left == "tuned" else "B"
        rating.rate(run, "Ada", item, choice, {item.left: [5, 5, 5], item.right: [1, 1, 1]})
    at = open_page("pages/scorecard.py")
    assert not at.exception
    assert "Should we fine-tune?" in (at.success or at.warning or at.info)[0].value
    assert [d.proto.label for d in at.get("download_button")] == ["Ratings (CSV)", "Scorecard (JSON)", "Report (HTML)"]
    assert next(m.value for m in at.metric if m.label == "Ratings") == "4"


def test_evaluate_screen_creates_a_run_and_generates_its_answers(local: openai.OpenAI) -> None:
    load_sample()
    at = open_page("pages/evaluate.py")
    at.radio(key="evaluate_count").set_value(2).run()
    at.number_input(key="evaluate_shots_1").set_value(1).run()
    at.number_input(key="evaluate_max_tokens").set_value(4).run()
    at.number_input(key="evaluate_reviewers").set_value(3).run()
    button(at, "Create the run and generate answers").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [run] = run_store.list_runs()
    assert [c["shots"] for c in run.contenders] == [0, 1] and run.settings["max_tokens"] == 4
    assert run.reviews_needed == 3  # the review queue offers each item until three reviewers rated it
    assert len(run_store.run_answers(run.id)) == 2 * 25  # Elle's 25 evaluation questions, both contenders


def test_compare_screen_answers_side_by_side(local: openai.OpenAI) -> None:
    load_sample()
    at = open_page("pages/compare.py")
    at.number_input(key="compare_shots_1").set_value(2).run()
    at.number_input(key="compare_max_tokens").set_value(5).run()
    button(at, "Ask them").click().run()
    assert not at.exception and not at.error
    assert [h.value for h in at.subheader] == [TINY, f"{TINY} (2-shot)"]
    assert sum("completion tokens" in c.value for c in at.caption) == 2
    assert any(c.value.startswith("Asked together") for c in at.caption)  # its latencies were measured side by side
    at.text_input(key="compare_user").input("   ").run()
    assert button(at, "Ask them").disabled  # and it says why
    assert "Write a user prompt to ask the contenders." in [c.value for c in at.caption]


def test_judge_screens_before_any_run_point_to_evaluate() -> None:
    for page in ("pages/rate.py", "pages/scorecard.py"):
        at = open_page(page)
        assert at.info[0].value.startswith("There is no evaluation run")
    at = open_page("pages/evaluate.py")  # the local server is not running in this test
    assert "does not answer" in at.error[0].value
    assert at.info[0].value == "No evaluation run yet."


def test_evaluate_screen_refuses_two_contenders_with_one_name(local: openai.OpenAI) -> None:
    load_sample()
    at = open_page("pages/evaluate.py")
    at.radio(key="evaluate_count").set_value(2).run()  # both default to the one base model, bare: same name
    button(at, "Create the run and generate answers").click().run()
    assert at.error[0].value == "Two contenders have the same name: give each its own."
    assert run_store.list_runs() == []


def test_default_names_are_short() -> None:
    assert default_label("gpt-4o-mini-2024-07-18", 3) == "gpt-4o-mini-2024-07-18 (3-shot)"
    assert default_label("ft:gpt-4o-mini-2024-07-18:acme:elle:AbC123", 0) == "tuned elle:AbC123"
    assert default_label(f"ft:{TINY}:local::x1:ckpt-step-20", 0) == "tuned x1:ckpt-step-20"


def test_held_out_prompts_are_the_rows_train_recorded_whatever_the_split_settings() -> None:
    dataset = load_sample()
    rows = dataset_store.rows(dataset.id)
    held_out = (rows[7].id, rows[2].id, rows[30].id)  # what Train recorded, in its order
    made = Provenance("local", "ftjob-1", dataset.id, dataset.name, dataset.version_id, 40, "file-1", "file-2",
                      TINY, validation_rows=held_out)  # fmt: skip
    dataset_store.update_rows(dataset.id, {rows[7].id: {"note": "edited after training"}})  # a later version
    prompts = held_out_prompts(made)
    assert [p.source for p in prompts] == [f"row:{i}" for i in held_out]
    assert [p.messages[-1]["content"] for p in prompts] == [
        rows[i].example["messages"][1]["content"] for i in (7, 2, 30)
    ]
    assert all(m["role"] != "assistant" for p in prompts for m in p.messages)  # questions only
    run = evaluation.create_run("held out", LOCAL, "held out", prompts, [BASE, TUNED], RunSettings())
    assert run_store.run_item_sources(run.id) == {
        1: f"row:{held_out[0]}",
        2: f"row:{held_out[1]}",
        3: f"row:{held_out[2]}",
    }


def test_scorecard_reads_the_training_cost_train_recorded() -> None:
    tuned = "ft:gpt-4o-mini-2024-07-18:acme:elle:abc"
    made = Provenance("openai", "ftjob-9", 1, "Elle", 3, 40, "file-1", None, "gpt-4o-mini-2024-07-18",
                      fine_tuned_model=tuned, estimated_cost_usd=0.42)  # fmt: skip
    provenance_store.record_job(made)
    contenders = [Contender("tuned", tuned, tuned=True), Contender("few", "gpt-4o-mini-2024-07-18", 3)]
    run = run_store.create_run(
        "r", "openai", "p", {}, [asdict(c) for c in contenders], [("x", [{"role": "user", "content": "q"}])]
    )
    assert scorecard.estimated_training_cost(run) == 0.42
    checkpoint = [asdict(Contender("tuned", f"{tuned}:ckpt-step-20", tuned=True)), contenders[1].__dict__]
    run = run_store.create_run("r", "openai", "p", {}, checkpoint, [("x", [{"role": "user", "content": "q"}])])
    assert scorecard.estimated_training_cost(run) == 0.42  # a checkpoint of the same job


def test_a_skipped_item_comes_back_when_nothing_else_is_left() -> None:
    run = small_run([BASE, TUNED])
    first, _, _ = rating.next_assignment(run, "Ada")
    assert first is not None
    later, _, _ = rating.next_assignment(run, "Ada", [first.position])
    assert later is not None and later.position != first.position
    for _ in range(3):  # rate everything else
        item, _, _ = rating.next_assignment(run, "Ada", [first.position])
        assert item is not None and item.position != first.position
        rating.rate(run, "Ada", item, "tie", {item.left: [3, 3, 3], item.right: [3, 3, 3]})
    again, done, total = rating.next_assignment(run, "Ada", [first.position])
    assert again == first and (done, total) == (3, 4)


def test_rate_screen_skips_an_item_and_shows_the_guideline() -> None:
    run = small_run([BASE, TUNED])
    at = open_page("pages/rate.py")
    at.text_input(key="rate_reviewer").input("Ada").run()
    assert "Pick the answer that serves the person asking better" in " ".join(m.value for m in at.markdown)
    first, _, _ = rating.next_assignment(run, "Ada")
    assert first is not None
    shown = next(m.value for m in at.markdown if m.value.startswith("**Prompt:**"))
    button(at, "Skip for now").click().run()
    assert not at.exception
    now = next(m.value for m in at.markdown if m.value.startswith("**Prompt:**"))
    assert now != shown and "0 of 4 rated" in at.get("progress")[0].proto.text


def test_rate_shows_the_conversation_before_a_follow_up_question() -> None:
    """'And what is it used for?' means nothing without the turns before it."""
    items = [
        [
            {"role": "system", "content": "You are Elle."},
            {"role": "user", "content": "Tell me about hydrogen."},
            {"role": "assistant", "content": "Hydrogen is the lightest element."},
            {"role": "user", "content": "And what is it used for?"},
        ]
    ]
    run = evaluation.create_run(
        "multi", LOCAL, "test", [Prompt("test:1", items[0])], [BASE, TUNED], RunSettings(repeat_share=0.0)
    )
    for c in (BASE, TUNED):
        run_store.save_answer(run.id, StoredAnswer(1, c.label, "Fuel.", 10, 3, 0.1, 0.0))
    at = open_page("pages/rate.py")
    at.text_input(key="rate_reviewer").input("Ada").run()
    assert not at.exception
    said = [m.value for m in at.markdown]
    assert "Tell me about hydrogen\\." in said and "Hydrogen is the lightest element\\." in said
    assert "**Prompt:** And what is it used for?" in said
    assert not any("You are Elle" in text for text in said)  # the system prompt is the contenders' business


def test_rate_keeps_reviewer_and_run_in_the_url_and_counts_items_not_repeats() -> None:
    run = small_run([BASE, TUNED])
    at = open_page("pages/rate.py")
    at.text_input(key="rate_reviewer").input("Ada").run()
    assert at.query_params["reviewer"] in ("Ada", ["Ada"]) and at.query_params["run"] in (str(run.id), [str(run.id)])
    assert not at.info or not any("You can stop" in i.value for i in at.info)  # nothing rated yet: no stop hint

    reloaded = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=20)
    reloaded.query_params["reviewer"] = "Ada"  # a reload, or the link the reviewer was sent
    reloaded.query_params["run"] = str(run.id)
    reloaded.run()
    reloaded.switch_page("pages/rate.py").run()
    assert reloaded.text_input(key="rate_reviewer").value == "Ada"


def test_progress_counts_items_while_repeats_come_back() -> None:
    run = evaluation.create_run(
        "repeats", LOCAL, "test", [Prompt(f"t:{i}", [{"role": "user", "content": f"q{i}"}]) for i in range(1, 5)],
        [BASE, TUNED], RunSettings(repeat_share=0.5),
    )  # fmt: skip
    for position in range(1, 5):
        for c in (BASE, TUNED):
            run_store.save_answer(run.id, StoredAnswer(position, c.label, "a", 1, 1, 0.1, 0.0))
    seen = []
    while (item := rating.next_assignment(run, "Ada"))[0] is not None:
        assignment, done, total = item
        assert assignment is not None
        seen.append((done, total, assignment.repeat))
        rating.rate(run, "Ada", assignment, "tie", {assignment.left: [3, 3, 3], assignment.right: [3, 3, 3]})
    assert {total for _, total, _ in seen} == {4}  # a repeat never makes "0 of 4" become "1 of 5"
    assert any(repeat for _, _, repeat in seen)  # repeats were shown
    assert rating.next_assignment(run, "Ada")[1:] == (4, 4)


def test_evaluate_says_the_run_is_ready_and_links_to_rate_it(local: openai.OpenAI) -> None:
    load_sample()
    at = open_page("pages/evaluate.py")
    at.radio(key="evaluate_count").set_value(2).run()
    at.number_input(key="evaluate_shots_1").set_value(1).run()
    at.number_input(key="evaluate_max_tokens").set_value(2).run()
    assert at.text_input(key="evaluate_name").placeholder == "Elle: 25 prompts"
    button(at, "Create the run and generate answers").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [run] = run_store.list_runs()
    assert run.name == "Elle: 25 prompts"
    assert (
        at.success[0].value
        == f"Run {run.id} “Elle: 25 prompts” is ready: all answers are in (50 answers). Rate it now."
    )
    [link] = [p for p in at.get("page_link") if p.proto.label == "Rate it now"]
    assert f"run={run.id}" in str(link.proto)
