"""Evaluation reads what earlier steps recorded: few-shot pools without the asked answer, tuned models recorded when
their job ends, the run's own candidate and baseline, and evaluation from a script."""

from __future__ import annotations

import json

import httpx2
import openai
import pytest

from lib import cli
from lib.curate.dataset import NewRow
from lib.curate.import_export import load_sample
from lib.db import dataset_store, provenance_store, run_store
from lib.judge import evaluation, scorecard
from lib.judge.prompts import dataset_prompts, held_out_prompts
from lib.judge.run import Contender, Prompt, Rating, RunSettings, StoredAnswer, contenders_of, question_of, subject_of
from lib.train import providers, tracking
from lib.train.provenance import Provenance
from lib.train.providers import ProviderConfig
from tests.tiny_model import TINY

LOCAL = ProviderConfig("local")


def shown_questions(messages: list[dict[str, str]]) -> list[str]:
    """The user turns a model was shown before the question it answers: its few-shot examples."""
    users = [m["content"] for m in messages if m["role"] == "user"]
    return users[:-1]


def test_a_run_on_a_datasets_own_rows_never_shows_a_few_shot_contender_its_answer(local: openai.OpenAI) -> None:
    sample = load_sample()  # four rows and three shots: every other row is needed, the asked one never
    dataset = dataset_store.create_dataset("Four", [NewRow(r.example) for r in dataset_store.rows(sample.id)[:4]])
    dataset = dataset_store.get_dataset(dataset.id)
    rows = dataset_store.rows(dataset.id)
    prompts = dataset_prompts(rows)
    contenders = [Contender("base", TINY), Contender("3-shot", TINY, 3)]
    pool = evaluation.shot_pool("local", contenders, dataset)
    assert pool is not None and pool[2] == [row.id for row in rows]
    settings = RunSettings(max_tokens=2, shots_dataset=pool[0], shots_version=pool[1], shots_rows=pool[2])
    run = evaluation.create_run("own rows", LOCAL, "Elle, all examples", prompts, contenders, settings)
    evaluation.generate(run, local, LOCAL)
    items = run_store.run_items(run.id)
    few = [a for a in run_store.run_answers(run.id) if a.contender == "3-shot"]
    assert len(few) == 4
    for answer in few:
        assert answer.messages is not None  # exactly what was sent is kept
        asked = question_of(items[answer.position])
        shown = shown_questions(answer.messages)
        assert len(shown) == 3 and asked not in shown  # k shots, none of them the item being asked
        assert answer.messages[-1]["content"] == asked


def test_a_tuned_contenders_shots_come_from_its_jobs_training_rows_never_its_validation_rows() -> None:
    dataset = load_sample()
    rows = [row.id for row in dataset_store.rows(dataset.id)]
    made = Provenance("local", "ftjob-7", dataset.id, dataset.name, dataset.version_id, 40, "file-1", "file-2", TINY,
                      fine_tuned_model=f"ft:{TINY}:local::7", training_rows=tuple(rows[:30]),
                      validation_rows=tuple(rows[30:]), status="succeeded")  # fmt: skip
    provenance_store.record_job(made)
    contenders = [Contender("tuned", f"ft:{TINY}:local::7"), Contender("3-shot", TINY, 3)]
    pool = evaluation.shot_pool("local", contenders, dataset)
    assert pool == (dataset.id, dataset.version_id, rows[:30])
    settings = RunSettings(shots_dataset=pool[0], shots_version=pool[1], shots_rows=pool[2])
    examples = evaluation.shots_for(settings)
    held_out = {question_of(p.messages) for p in held_out_prompts(made)}
    assert len(examples) == 30 and not held_out & {question_of(e["messages"]) for e in examples}
    run = evaluation.create_run("held out", LOCAL, "held out", held_out_prompts(made), contenders, settings)
    [tuned, _] = contenders_of(run)
    assert tuned.tuned and tuned.job_id == "ftjob-7"  # recorded, not guessed from the name
    assert subject_of(run) == ("tuned", "3-shot")


def jobs_server(jobs: list[dict[str, object]]) -> openai.OpenAI:
    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/fine_tuning/jobs"):
            return httpx2.Response(200, json={"object": "list", "data": jobs, "has_more": False})
        job_id = request.url.path.rsplit("/", 1)[-1]
        return httpx2.Response(200, json=next(j for j in jobs if j["id"] == job_id))

    openai_config = ProviderConfig("openai", api_key="sk-test")
    return providers.make_client(openai_config, http_client=httpx2.Client(transport=httpx2.MockTransport(answer)))


def test_a_job_that_succeeds_while_nobody_watches_has_its_model_and_cost_on_the_scorecard() -> None:
    config = ProviderConfig("openai", api_key="sk-test")
    made = Provenance("openai", "ftjob-9", 1, "Elle", 3, 40, "file-1", None, "gpt-4o-mini-2024-07-18",
                      estimated_cost_usd=0.42)  # fmt: skip
    provenance_store.record_job(made)
    tuned_model = "ft:gpt-4o-mini-2024-07-18:acme:elle:abc"
    done = {"id": "ftjob-9", "object": "fine_tuning.job", "status": "succeeded", "fine_tuned_model": tuned_model,
            "model": "gpt-4o-mini-2024-07-18", "created_at": 1, "training_file": "file-1"}  # fmt: skip
    assert tracking.sync(jobs_server([done]), config) == 1  # at the app's start: no screen showed the job
    recorded = provenance_store.job_provenance("openai")["ftjob-9"]
    assert (recorded.fine_tuned_model, recorded.status) == (tuned_model, "succeeded")
    assert tracking.sync(jobs_server([done]), config) == 0  # finished: not asked again

    contenders = [Contender("elle", tuned_model), Contender("3-shot", "gpt-4o-mini-2024-07-18", 3)]
    dataset = load_sample()
    settings = RunSettings(shots_dataset=dataset.id, shots_version=dataset.version_id)
    prompt = [Prompt("x", [{"role": "user", "content": "q"}])]
    run = evaluation.create_run("r", config, "p", prompt, contenders, settings)
    assert scorecard.estimated_training_cost(run) == 0.42


def test_the_training_cost_of_a_job_started_elsewhere_is_unknown_not_zero() -> None:
    contenders = [Contender("elle", "ft:gpt-4o-mini-2024-07-18:acme:elle:zz", tuned=True), Contender("b", "gpt-4o")]
    run = evaluation.create_run(
        "r", ProviderConfig("openai", api_key="sk"), "p", [Prompt("x", [{"role": "user", "content": "q"}])],
        contenders, RunSettings(),
    )  # fmt: skip
    assert scorecard.estimated_training_cost(run) is None


def test_a_run_whose_candidate_is_an_azure_deployment_gets_its_verdict() -> None:
    azure = ProviderConfig("azure", api_key="k", endpoint="https://x.openai.azure.com", deployment="elle-prod")
    contenders = [Contender("elle", "elle-prod"), Contender("base", "gpt-4o-mini")]
    prompts = [Prompt(f"p{i}", [{"role": "user", "content": f"q{i}"}]) for i in range(40)]
    settings = RunSettings(candidate="elle", baseline="base", repeat_share=0.0)
    run = evaluation.create_run("azure", azure, "p", prompts, contenders, settings)
    for position in range(1, 41):
        for label in ("elle", "base"):
            run_store.save_answer(run.id, StoredAnswer(position, label, "an answer", 5, 5, 0.1, 0.0))
    ratings = [Rating(run.id, "Ada", p, "elle", "base", "elle", {"elle": [5, 5, 5], "base": [2, 2, 2]})
               for p in range(1, 41)]  # fmt: skip
    card = scorecard.build(run, run_store.run_answers(run.id), ratings, run_store.run_items(run.id))
    assert (card.tuned, card.baseline) == ("elle", "base")
    assert card.verdict.decision is not None and "elle" in card.verdict.headline


def test_evaluate_and_export_run_from_the_command_line(
    local: openai.OpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    load_sample()
    code = cli.main([
        "evaluate", "--prompts", "dataset:Elle limericks", "--contender", f"base={TINY}",
        "--contender", f"few={TINY},shots=2", "--candidate", "few", "--baseline", "base", "--max-tokens", "2",
        "--json",
    ])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    found = json.loads(out)
    assert found["answers"] == 80 and set(found["checks"]) == {"base", "few"}
    assert "answered 80 of 80" in err
    assert all("/" in passed for passed in found["checks"]["few"].values())

    assert cli.main(["export-run", str(found["run_id"])]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert (exported["candidate"], exported["baseline"]) == ("few", "base")
    assert len(exported["shots_pool"]["rows"]) == 40 and len(exported["answers"]) == 80
    few = [a for a in exported["answers"] if a["contender"] == "few"]
    assert all(len(shown_questions(a["messages"])) == 2 for a in few)
    assert all(a["prompt_source"].startswith("row:") for a in few)


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--prompts", "nowhere:x"], "give eval-file:PATH, dataset:NAME or heldout:JOB_ID"),
        (["--prompts", "dataset:Missing"], "There is no dataset 'Missing'"),
        (["--prompts", "dataset:Elle limericks", "--candidate", "other"], "--candidate 'other' is not one of"),
    ],
)
def test_bad_evaluate_arguments_exit_2_with_one_line(
    arguments: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    load_sample()
    base = ["evaluate", "--contender", f"a={TINY}", "--contender", "b=x", "--candidate", "a", "--baseline", "b"]
    assert cli.main([*base, *arguments]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and said in err


def test_evaluate_says_how_to_start_an_unreachable_local_server(capsys: pytest.CaptureFixture[str]) -> None:
    load_sample()
    arguments = ["evaluate", "--prompts", "dataset:Elle limericks", "--contender", f"a={TINY}", "--contender",
                 "b=x", "--candidate", "a", "--baseline", "b"]  # fmt: skip
    assert cli.main(arguments) == 2
    assert "start it with `python -m lib.local`" in capsys.readouterr().err
