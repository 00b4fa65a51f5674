"""Reviewers' preferences become DPO training data."""

from __future__ import annotations

import openai
import pytest

from lib.curate.import_export import check_rows
from lib.db import dataset_store, dataset_versions, run_store
from lib.judge import preferences
from lib.judge.prompts import eval_file_prompts
from lib.judge.run import TIE, Rating, StoredAnswer, question_of
from lib.openai_format.examples import kind
from tests.test_judge import BASE, TUNED, small_run


def vote(run_id: int, reviewer: str, position: int, winner: str, repeat: bool = False) -> Rating:
    return Rating(run_id, reviewer, position, "base", "tuned", winner, {}, repeat=repeat)


def test_majority_preferences_become_preference_examples_and_ties_and_splits_are_counted() -> None:
    run = small_run([BASE, TUNED])
    ratings = [
        vote(run.id, "Ada", 1, "tuned"), vote(run.id, "Bob", 1, "tuned"),
        vote(run.id, "Bob", 1, "base", repeat=True),  # a second look is not a second vote
        vote(run.id, "Ada", 2, "tuned"), vote(run.id, "Bob", 2, "base"),  # split
        vote(run.id, "Ada", 3, TIE), vote(run.id, "Bob", 3, TIE),  # tie
        vote(run.id, "Ada", 4, "base"), vote(run.id, "Bob", 4, "base"), vote(run.id, "Cy", 4, "tuned"),
    ]  # fmt: skip
    found = preferences.from_ratings(ratings, run_store.run_answers(run.id), run_store.run_items(run.id))
    assert [(p.position, p.preferred, p.other, p.votes, p.reviewers) for p in found.found] == [
        (1, "tuned", "base", 2, 2), (4, "base", "tuned", 2, 3)]  # fmt: skip
    assert (found.ties, found.split, found.left_out()) == (1, 1, "1 ties, 1 split votes")
    first = found.found[0].example()
    assert first["input"]["messages"] == [{"role": "user", "content": "Tell me about iron."}]
    assert first["preferred_output"][0]["content"].startswith("Iron, Fe, number 26")
    assert first["non_preferred_output"] == [{"role": "assistant", "content": "Some prose."}]

    dataset = preferences.make_dataset(run, found.found, {1: "Tin, Sn, fifty, a better limerick."})
    rows = dataset_store.rows(dataset.id)
    assert dataset.name == f"Preferences from run {run.id} (test)" and len(rows) == 2
    assert all(kind(r.example) == "preference" for r in rows)
    assert [f.code for f in check_rows(rows)] == ["too_few_examples"]  # valid preference lines, only two of them
    assert rows[1].example["preferred_output"][0]["content"] == "Tin, Sn, fifty, a better limerick."
    assert rows[0].note == f"Run {run.id} item 1: tuned over base (2 of 2 reviewers)" and "run-" in rows[0].tags
    assert rows[1].note.endswith("(2 of 3 reviewers); answer corrected")
    assert dataset_versions.versions(dataset.id)[0].summary == f"Made from the ratings of run {run.id} “test”"
    again = preferences.make_dataset(run, found.found)
    assert again.name == f"Preferences from run {run.id} (test) 2"  # a second click makes a second dataset


def test_rate_make_preference_data_in_one_click_and_train_a_dpo_job_on_the_local_provider(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lib.judge import evaluation
    from lib.judge.run import Contender, RunSettings
    from lib.train.providers import ProviderConfig
    from tests.local_server import running_server, tiny_settings
    from tests.test_local_server import wait_for
    from tests.test_pages import button, open_page
    from tests.tiny_model import TINY

    prompts = eval_file_prompts()[:12]
    contenders = [Contender("base", TINY), Contender("tuned", f"ft:{TINY}:local::x")]
    run = evaluation.create_run("elle", ProviderConfig("local"), "eval", prompts, contenders, RunSettings())
    for position, prompt in enumerate(prompts, start=1):
        question = question_of(prompt.messages)
        run_store.save_answer(run.id, StoredAnswer(position, "base", "Some prose.", 10, 5, 0.1, 0.0))
        run_store.save_answer(run.id, StoredAnswer(position, "tuned", f"A limerick on: {question}", 10, 9, 0.1, 0.0))
        run_store.save_rating(Rating(run.id, "Ada", position, "base", "tuned", "tuned", {}))
    with running_server(tiny_settings(tmp_path_factory.mktemp("local"))) as url:
        monkeypatch.setenv("STUDIO_LOCAL_URL", url)
        at = open_page("pages/scorecard.py")
        assert any("12 rated pairs with a clear preference" in m.value for m in at.markdown)
        button(at, "Make preference data (12 examples)").click().run()
        assert not at.exception
        [made] = [d for d in dataset_store.list_datasets() if d.name.startswith("Preferences from run")]
        assert made.n_examples == 12 and at.sidebar.selectbox[-1].value == made.id
        assert any("trains with **DPO**" in i.value for i in at.info)
        at.switch_page("pages/train.py")  # AppTest reruns the page it was told, not the one switched to
        at.slider(key="train_validation").set_value(0).run()
        at.text_input(key="train_epochs").input("1").run()
        at.text_input(key="train_beta").input("0.2").run()
        button(at, "Upload and start training").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        client = openai.OpenAI(base_url=url, api_key="local", max_retries=0)
        [job] = client.fine_tuning.jobs.list().data
        job = wait_for(client, job.id, {"succeeded", "failed"})
        assert job.status == "succeeded", job.error
        assert job.method is not None and job.method.type == "dpo" and job.method.dpo is not None
        assert job.method.dpo.hyperparameters is not None and job.method.dpo.hyperparameters.beta == 0.2


def test_preference_examples_are_shown_and_edited_side_by_side_in_the_table_and_on_conversation() -> None:
    from lib.curate.dataset import NewRow
    from lib.curate.table import edits_from_editor, to_frame
    from tests.test_pages import open_page

    pair = {"input": {"messages": [{"role": "user", "content": "Neon?"}]},
            "preferred_output": [{"role": "assistant", "content": "Neon, Ne, number ten."}],
            "non_preferred_output": [{"role": "assistant", "content": "A gas."}]}  # fmt: skip
    dataset = dataset_store.create_dataset("Pairs")
    dataset_store.add_rows(dataset.id, [NewRow(pair)])
    [row] = dataset_store.rows(dataset.id)
    frame = to_frame([(1, row)])
    assert [frame.at[0, c] for c in ("user", "assistant", "not_preferred")] == [
        "Neon?",
        "Neon, Ne, number ten.",
        "A gas.",
    ]
    edits = edits_from_editor([row], {"edited_rows": {0: {"not_preferred": "A noble gas, I think."}}})
    assert edits.updates[row.id]["example"]["non_preferred_output"][0]["content"] == "A noble gas, I think."

    at = open_page("pages/conversation.py")
    rejected = f"preference_{row.id}_{dataset_store.get_dataset(dataset.id).version_id}_rejected"
    assert at.text_area(key=rejected).value == "A gas."
    at.text_area(key=rejected).input("Just a gas.").run()
    [saved] = dataset_store.rows(dataset.id)
    assert saved.example["non_preferred_output"] == [{"role": "assistant", "content": "Just a gas."}]
    assert saved.example["preferred_output"] == pair["preferred_output"] and saved.example["input"] == pair["input"]
