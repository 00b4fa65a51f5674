"""The local OpenAI-compatible server, driven through the official openai SDK (tiny random model, no download)."""

from __future__ import annotations

import contextlib
import csv
import gzip
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx2
import openai
import pytest
from jsonschema import Draft202012Validator
from openai.types import FileObject, Model
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.job_create_params import Method
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from lib.local.store import LocalStore
from lib.settings import PROJECT_DIR
from lib.train import local_client
from lib.train.estimate import JobSpeed
from tests.local_server import running_server, tiny_settings
from tests.tiny_model import TINY

SAMPLE = (PROJECT_DIR / "data" / "limericks.jsonl").read_bytes()
TEN = b"".join(SAMPLE.splitlines(keepends=True)[:10])
SPEC = json.loads(gzip.decompress((PROJECT_DIR / "tests" / "specs" / "openai-openapi.json.gz").read_bytes()))
registry: Registry[Any] = Registry().with_resource("urn:openai", DRAFT202012.create_resource(SPEC))


def check_spec(obj: dict[str, Any], schema: str) -> None:
    """Validate a response against OpenAI's own published schema."""
    validator = Draft202012Validator({"$ref": f"urn:openai#/components/schemas/{schema}"}, registry=registry)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)]
    assert not errors, errors


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tiny_settings(tmp_path_factory.mktemp("local"))) as url:
        yield url


@pytest.fixture()
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)


def wait_for(client: openai.OpenAI, job_id: str, statuses: set[str], timeout: float = 180) -> FineTuningJob:
    deadline = time.time() + timeout
    while (job := client.fine_tuning.jobs.retrieve(job_id)).status not in statuses:
        assert time.time() < deadline, f"job still {job.status}"
        time.sleep(0.2)
    return job


def training_job(client: openai.OpenAI, n_epochs: int) -> FineTuningJob:
    """A job on the 40 sample limericks that has taken its first step."""
    uploaded = client.files.create(file=("elle.jsonl", SAMPLE), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=TINY,
        training_file=uploaded.id,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": n_epochs}}},
    )
    deadline = time.time() + 120
    while not any(e.type == "metrics" for e in client.fine_tuning.jobs.list_events(job.id, limit=5)):
        assert time.time() < deadline, "the job did not start"
        time.sleep(0.1)
    return job


def data(event: FineTuningJobEvent) -> dict[str, Any]:
    return cast(dict[str, Any], event.data)


def raw(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.http_response.json()
    return body


def test_files_upload_list_read_and_delete(client: openai.OpenAI) -> None:
    created = client.files.create(file=("elle.jsonl", TEN), purpose="fine-tune")
    assert (created.filename, created.bytes, created.purpose) == ("elle.jsonl", len(TEN), "fine-tune")
    body = raw(client.files.with_raw_response.retrieve(created.id))
    FileObject.model_validate(body)
    check_spec(body, "OpenAIFile")
    assert created.id in [f.id for f in client.files.list()]
    assert client.files.content(created.id).read() == TEN
    assert client.files.delete(created.id).deleted
    kept = client.files.create(file=("kept.jsonl", TEN), purpose="fine-tune")
    with pytest.raises(openai.NotFoundError, match=created.id) as missing:
        client.files.retrieve(created.id)
    assert f"Files (newest first): {kept.id}" in str(missing.value)  # the message says what does exist


def test_errors_come_in_openai_shape_and_say_what_exists(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing_job:
        client.fine_tuning.jobs.retrieve("ftjob-nope")
    body = missing_job.value.body
    jobs = [j.id for j in client.fine_tuning.jobs.list(limit=5).data]
    assert (f"Jobs (newest first): {jobs[0]}" if jobs else "There are no jobs yet.") in str(missing_job.value)
    assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}
    with pytest.raises(openai.NotFoundError, match=TINY):  # the message lists the models there are
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match=f"Base models: {TINY}"):
        client.fine_tuning.jobs.create(model="gpt-4o", training_file="file-x")
    uploaded = client.files.create(file=("elle.jsonl", TEN), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError, match="not supported"):
        client.fine_tuning.jobs.create(model=TINY, training_file=uploaded.id, method={"type": "reinforcement"})
    with pytest.raises(openai.BadRequestError, match="n_epochs"):
        client.fine_tuning.jobs.create(
            model=TINY,
            training_file=uploaded.id,
            method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}},
        )


def test_openai_tutorial_workflow_trains_and_serves_the_tuned_model(client: openai.OpenAI) -> None:
    """OpenAI's fine-tuning tutorial, unchanged but for base_url and the model name."""
    training_file = client.files.create(file=("elle.jsonl", TEN), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        training_file=training_file.id,
        model=TINY,
        suffix="elle",
        seed=7,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 4}}},
    )
    assert job.status in ("validating_files", "queued")
    assert job.id in [j.id for j in client.fine_tuning.jobs.list(limit=10)]
    job = wait_for(client, job.id, {"succeeded", "failed", "cancelled"})
    assert job.status == "succeeded", job.error
    body = raw(client.fine_tuning.jobs.with_raw_response.retrieve(job.id))
    FineTuningJob.model_validate(body)
    check_spec(body, "FineTuningJob")
    assert job.fine_tuned_model == f"ft:{TINY}:local:elle:{job.id.removeprefix('ftjob-')[:8]}"
    assert job.hyperparameters.n_epochs == 4 and job.trained_tokens and job.trained_tokens > 0

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    for event in raw(client.fine_tuning.jobs.with_raw_response.list_events(job.id, limit=100))["data"]:
        FineTuningJobEvent.model_validate(event)
        check_spec(event, "FineTuningJobEvent")
    metrics = [e for e in events if e.type == "metrics"]
    assert len(metrics) == 40 and metrics[0].message.startswith("Step 40/40: training loss=")  # newest first
    assert data(metrics[-1])["step"] == 1 and "train_mean_token_accuracy" in data(metrics[-1])
    assert events[0].message == "The job has successfully completed"

    checkpoints = raw(client.fine_tuning.jobs.checkpoints.with_raw_response.list(job.id))["data"]
    for checkpoint in checkpoints:
        FineTuningJobCheckpoint.model_validate(checkpoint)
        check_spec(checkpoint, "FineTuningJobCheckpoint")
    assert [c["step_number"] for c in checkpoints] == [40, 30, 20]  # one per epoch, the last three kept
    assert checkpoints[0]["fine_tuned_model_checkpoint"] == f"{job.fine_tuned_model}:ckpt-step-40"

    results = client.files.content(job.result_files[0]).text.splitlines()
    assert results[0] == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy" and len(results) == 41
    losses = list(csv.reader(client.files.content(job.result_files[1]).text.splitlines()))  # the data map's figures
    assert losses[0] == ["example", "epoch_1", "epoch_2", "epoch_3", "epoch_4"]
    assert [int(line[0]) for line in losses[1:]] == list(range(1, 11)) and all(float(v) > 0 for v in losses[1][1:])

    models = {m.id for m in client.models.list()}
    assert {TINY, job.fine_tuned_model, checkpoints[-1]["fine_tuned_model_checkpoint"]} <= models
    Model.model_validate(raw(client.models.with_raw_response.retrieve(str(job.fine_tuned_model))))

    question: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "You are Elle."},
        {"role": "user", "content": "Tell me about neon."},
    ]
    answer = client.chat.completions.create(model=str(job.fine_tuned_model), messages=question, max_tokens=12, seed=1)
    ChatCompletion.model_validate(
        raw(
            client.chat.completions.with_raw_response.create(
                model=str(job.fine_tuned_model),
                messages=question,
                max_tokens=12,
                seed=1,
            )
        )
    )
    assert answer.usage and 0 < answer.usage.completion_tokens <= 12 and answer.usage.prompt_tokens > 10
    base = client.chat.completions.create(model=TINY, messages=question, max_tokens=12, temperature=0)
    assert base.choices[0].message.content is not None

    stream = client.chat.completions.create(
        model=str(job.fine_tuned_model),
        messages=question,
        max_tokens=12,
        seed=1,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == answer.choices[0].message.content  # same seed, same answer, streamed or not
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == answer.usage.completion_tokens

    assert client.models.delete(str(job.fine_tuned_model)).deleted
    assert job.fine_tuned_model not in {m.id for m in client.models.list()}


def test_a_bad_training_file_fails_the_job_naming_the_line(client: openai.OpenAI) -> None:
    lines = TEN.splitlines(keepends=True)
    broken = b"".join(lines[:3]) + b'{"messages": [{"role": "user"}]}\n' + b"".join(lines[3:])
    uploaded = client.files.create(file=("broken.jsonl", broken), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=TINY, training_file=uploaded.id)
    job = wait_for(client, job.id, {"failed", "succeeded"})
    assert job.status == "failed" and job.error is not None
    assert job.error.code == "invalid_training_file" and "Line 4" in job.error.message


def preference_file(n: int = 10) -> bytes:
    """Elle's limericks preferred to a flat answer, as OpenAI's preference lines."""
    lines = []
    for line in SAMPLE.splitlines()[:n]:
        messages = json.loads(line)["messages"]
        flat = [{"role": "assistant", "content": "No idea, sorry."}]
        pair = {"input": {"messages": messages[:-1]}, "preferred_output": [messages[-1]], "non_preferred_output": flat}
        lines.append(json.dumps(pair))
    return ("\n".join(lines) + "\n").encode()


def test_a_dpo_job_through_the_sdk_trains_on_preferences_and_serves_the_model(client: openai.OpenAI) -> None:
    uploaded = client.files.create(file=("prefs.jsonl", preference_file()), purpose="fine-tune")
    method: Any = {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2, "n_epochs": 2}}}
    job = client.fine_tuning.jobs.create(model=TINY, training_file=uploaded.id, method=method, suffix="prefs")
    check_spec(raw(client.fine_tuning.jobs.with_raw_response.retrieve(job.id)), "FineTuningJob")
    job = wait_for(client, job.id, {"succeeded", "failed"})
    assert job.status == "succeeded", job.error
    assert job.method is not None and job.method.type == "dpo" and job.method.dpo is not None
    chosen = job.method.dpo.hyperparameters
    assert chosen is not None and (chosen.beta, chosen.n_epochs, chosen.batch_size) == (0.2, 2, 1)
    metrics = [e for e in client.fine_tuning.jobs.list_events(job.id, limit=100).data if e.type == "metrics"]
    data = cast(dict[str, Any], metrics[0].data)
    assert {"train_loss", "train_reward_margin", "train_reward_accuracy"} <= set(
        data
    ) and "reward accuracy=" in metrics[0].message
    results = client.files.content(job.result_files[0]).text.splitlines()
    assert (
        results[0].startswith("step,train_loss,valid_loss,train_reward_margin,train_reward_accuracy")
        and len(results) == 21
    )
    question: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Neon?"}]
    answer = client.chat.completions.create(model=str(job.fine_tuned_model), messages=question, max_tokens=3)
    assert answer.choices[0].message.content is not None

    chats = client.files.create(file=("elle.jsonl", TEN), purpose="fine-tune")
    wrong = wait_for(client, client.fine_tuning.jobs.create(model=TINY, training_file=chats.id, method=method).id,
                     {"failed", "succeeded"})  # fmt: skip
    assert wrong.status == "failed" and wrong.error is not None
    assert wrong.error.message.endswith("Line 1: a DPO job trains on preference lines (input, preferred_output, "
                                        "non_preferred_output); this line is a chat.")  # fmt: skip
    plain = wait_for(
        client, client.fine_tuning.jobs.create(model=TINY, training_file=uploaded.id).id, {"failed", "succeeded"}
    )
    assert plain.status == "failed" and "needs a job with method 'dpo'" in str(plain.error and plain.error.message)
    one_epoch: Any = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}}
    sft = client.fine_tuning.jobs.create(model=TINY, training_file=chats.id, suffix="sft", method=one_epoch)
    supervised = str(wait_for(client, sft.id, {"succeeded"}).fine_tuned_model)
    with pytest.raises(openai.BadRequestError, match="trained further with method 'dpo'"):
        client.fine_tuning.jobs.create(model=supervised, training_file=chats.id)
    further = client.fine_tuning.jobs.create(model=supervised, training_file=uploaded.id, method=method, suffix="more")
    further = wait_for(client, further.id, {"succeeded", "failed"})
    assert further.status == "succeeded", further.error
    assert further.model == supervised and str(further.fine_tuned_model).startswith(f"ft:{TINY}:local:more:")
    assert str(further.fine_tuned_model) in {m.id for m in client.models.list()}
    continued = client.chat.completions.create(model=str(further.fine_tuned_model), messages=question, max_tokens=3)
    assert continued.choices[0].message.content is not None
    with pytest.raises(openai.BadRequestError, match="beta"):
        client.fine_tuning.jobs.create(model=TINY, training_file=uploaded.id,
                                       method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 5.0}}})  # fmt: skip


def test_cancel_stops_a_running_job_within_a_step(client: openai.OpenAI) -> None:
    job = training_job(client, n_epochs=50)
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    time.sleep(1.5)
    steps = [data(e)["step"] for e in client.fine_tuning.jobs.list_events(job.id, limit=100) if e.type == "metrics"]
    time.sleep(1.5)
    later = [data(e)["step"] for e in client.fine_tuning.jobs.list_events(job.id, limit=100) if e.type == "metrics"]
    assert steps == later and max(steps) < 50 * 40  # it stopped, long before the end
    assert client.fine_tuning.jobs.retrieve(job.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError, match="cannot be cancelled"):
        client.fine_tuning.jobs.cancel(job.id)


def test_events_and_jobs_page_with_cursors(client: openai.OpenAI) -> None:
    uploaded = client.files.create(file=("elle.jsonl", TEN), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=TINY,
        training_file=uploaded.id,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}},
    )
    wait_for(client, job.id, {"succeeded"})
    everything = [e.id for e in client.fine_tuning.jobs.list_events(job.id, limit=100).data]
    first = client.fine_tuning.jobs.list_events(job.id, limit=4)
    assert first.has_more and [e.id for e in first.data] == everything[:4]
    second = client.fine_tuning.jobs.list_events(job.id, limit=4, after=first.data[-1].id)
    assert [e.id for e in second.data] == everything[4:8]
    assert [e.id for e in client.fine_tuning.jobs.list_events(job.id, limit=3)] == everything  # the SDK follows pages
    check_spec(raw(client.fine_tuning.jobs.with_raw_response.list(limit=2)), "ListPaginatedFineTuningJobsResponse")


def test_a_small_validation_file_adds_validation_metrics(client: openai.OpenAI) -> None:
    training = client.files.create(file=("elle.jsonl", TEN), purpose="fine-tune")
    held_out = b"".join(SAMPLE.splitlines(keepends=True)[30:33])  # three examples are enough to validate on
    validation = client.files.create(file=("held-out.jsonl", held_out), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=TINY,
        training_file=training.id,
        validation_file=validation.id,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
    )
    assert wait_for(client, job.id, {"succeeded", "failed"}).status == "succeeded"
    metrics = [data(e) for e in client.fine_tuning.jobs.list_events(job.id, limit=100) if e.type == "metrics"]
    with_valid = [m for m in metrics if "valid_loss" in m]
    assert [m["step"] for m in with_valid] == [20, 10]  # each epoch's end, newest first
    assert all(m["valid_loss"] > 0 and 0 <= m["valid_mean_token_accuracy"] <= 1 for m in with_valid)
    rows = client.files.content(client.fine_tuning.jobs.retrieve(job.id).result_files[0]).text.splitlines()
    assert rows[10].startswith("10,") and rows[10].count(",") == 4 and not rows[10].endswith(",")


def test_early_stopping_keeps_the_best_epoch_and_says_so(client: openai.OpenAI) -> None:
    training = client.files.create(file=("elle.jsonl", TEN), purpose="fine-tune")
    held_out = b"".join(SAMPLE.splitlines(keepends=True)[30:33])
    validation = client.files.create(file=("held-out.jsonl", held_out), purpose="fine-tune")
    hyperparameters = {"n_epochs": 3, "early_stopping_patience": 1}  # the local provider's own hyperparameter
    job = client.fine_tuning.jobs.create(
        model=TINY,
        training_file=training.id,
        validation_file=validation.id,
        method=cast(Method, {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}}),
    )
    done = wait_for(client, job.id, {"succeeded", "failed"})
    assert done.status == "succeeded" and done.hyperparameters.model_extra == {"early_stopping_patience": 1}
    events = client.fine_tuning.jobs.list_events(job.id, limit=100).data[::-1]  # oldest first
    losses = [data(e)["valid_loss"] for e in events if e.type == "metrics" and "valid_loss" in data(e)]
    best_epoch = losses.index(min(losses)) + 1
    kept = f"The tuned model keeps the weights of epoch {best_epoch}, the lowest validation loss ({min(losses):.2f})"
    assert kept in [e.message for e in events]


def test_api_key_is_required_when_set(tmp_path: Path) -> None:
    with running_server(tiny_settings(tmp_path, api_key="s3cret", start_worker=False)) as url:
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url, api_key="wrong", max_retries=0).models.list()
        assert TINY in {m.id for m in openai.OpenAI(base_url=url, api_key="s3cret").models.list()}
        with httpx2.Client() as http:  # the scheme is case-insensitive (RFC 9110); the key is not
            for given, status in (("bearer s3cret", 200), ("BEARER s3cret", 200), ("Bearer S3CRET", 401),
                                  ("Basic s3cret", 401), ("s3cret", 401), ("Bearer", 401)):  # fmt: skip
                assert http.get(f"{url}/models", headers={"Authorization": given}).status_code == status, given


def test_after_a_restart_queued_jobs_wait_and_a_running_one_is_failed_clearly(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path, start_worker=False)
    with running_server(settings) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        uploaded = client.files.create(file=("elle.jsonl", TEN), purpose="fine-tune")
        running = client.fine_tuning.jobs.create(model=TINY, training_file=uploaded.id)
        queued = client.fine_tuning.jobs.create(model=TINY, training_file=uploaded.id)
        wait_for(client, queued.id, {"queued"})
        wait_for(client, running.id, {"queued"})
    LocalStore(settings.store_path).update("jobs", running.id, status="running")  # as if killed mid-training
    with running_server(settings) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        assert client.fine_tuning.jobs.retrieve(queued.id).status == "queued"
        failed = client.fine_tuning.jobs.retrieve(running.id)
        assert (
            failed.status == "failed" and failed.error and "stopped while this job was training" in failed.error.message
        )
        assert client.files.content(uploaded.id).read() == TEN  # nothing else lost


def test_the_app_reads_the_trainer_speed_from_finished_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = tiny_settings(tmp_path, start_worker=False)
    store = LocalStore(settings.store_path)
    finished = [("supervised", 1, 80.0), ("supervised", 8, 300.0), ("supervised", 1, 100.0), ("dpo", 1, 40.0)]
    for i, (method, batch_size, speed) in enumerate(finished):
        hyperparameters = {"n_epochs": 3, "batch_size": batch_size, "learning_rate_multiplier": 1.0}
        job = {"id": f"ftjob-{i}", "model": TINY, "created_at": 1, "status": "succeeded", "tokens_per_second": speed}
        job |= {"hyperparameters": hyperparameters, "method": {"type": method, method: {"hyperparameters": {}}}}
        store.insert("jobs", job, status="succeeded")
    with running_server(settings) as url:
        monkeypatch.setenv("STUDIO_LOCAL_URL", url)
        speeds = local_client.finished_job_speeds()
    assert sorted(speeds, key=lambda s: s.tokens_per_second) == [
        JobSpeed(80.0, 1),
        JobSpeed(100.0, 1),
        JobSpeed(300.0, 8),  # DPO's speed is not the trainer's
    ]
    assert local_client.finished_job_speeds() == []  # no server: the screens fall back to the benchmark's figures


def test_pause_and_resume_a_running_job(client: openai.OpenAI) -> None:
    job = training_job(client, n_epochs=2)
    client.fine_tuning.jobs.pause(job.id)
    deadline = time.time() + 60
    while client.fine_tuning.jobs.with_raw_response.retrieve(job.id).http_response.json()["status"] != "paused":
        assert time.time() < deadline, "the job did not pause"
        time.sleep(0.1)
    with pytest.raises(openai.BadRequestError, match="Only a queued or running job can be paused"):
        client.fine_tuning.jobs.pause(job.id)
    client.fine_tuning.jobs.resume(job.id)
    assert wait_for(client, job.id, {"succeeded", "failed"}).status == "succeeded"
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
    assert "Fine-tuning job paused" in messages and any(m.startswith("Fine-tuning job resumed") for m in messages)


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"messages": [{"role": 123, "content": "hi"}]}, "messages.0.role"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
        ({"messages": []}, "messages"),
        ({"stop": [1, 2]}, "stop"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": "x"}, "top_p"),
        ({"seed": "abc"}, "seed"),
        ({"seed": 2**70}, "seed"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"n": 9}, "n"),
        ({"n": 0}, "n"),
        ({"stream_options": "x"}, "stream_options"),
        ({"rhyme_scheme": "ABAB"}, "rhyme_scheme"),
    ],
)
def test_a_chat_request_out_of_range_is_a_400_naming_the_parameter(
    client: openai.OpenAI, change: dict[str, Any], param: str
) -> None:
    body = {"model": TINY, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2} | change
    with pytest.raises(openai.BadRequestError) as refused:
        client.post("/chat/completions", body=body, cast_to=ChatCompletion)
    assert refused.value.status_code == 400 and refused.value.param == param
    assert "Invalid value" in refused.value.message and "Traceback" not in refused.value.message


def test_n_answers_in_one_request_are_the_answers_of_seed_plus_index_streamed_or_not(client: openai.OpenAI) -> None:
    """``n`` answers to one request: choice i is what the request alone with seed + i answers; streamed, the same
    texts arrive under their indices, each with its finish; the usage counts every answer's tokens."""
    asked: dict[str, Any] = {"model": TINY, "messages": [{"role": "user", "content": "Tell me about neon."}],
                             "max_tokens": 8, "temperature": 1.0, "seed": 11}  # fmt: skip
    alone = [client.chat.completions.create(**asked | {"seed": 11 + i}) for i in range(3)]
    texts = [a.choices[0].message.content for a in alone]
    assert len(set(texts)) > 1  # three seeds, different samples: the test can tell the choices apart

    together = client.chat.completions.with_raw_response.create(**asked, n=3)
    check_spec(raw(together), "CreateChatCompletionResponse")
    answer = together.parse()
    assert [c.index for c in answer.choices] == [0, 1, 2]
    assert [c.message.content for c in answer.choices] == texts
    assert answer.usage is not None
    assert answer.usage.completion_tokens == sum(a.usage.completion_tokens for a in alone if a.usage is not None)

    streamed, finished, usage = ["", "", ""], set(), None
    for chunk in client.chat.completions.create(**asked, n=3, stream=True, stream_options={"include_usage": True}):
        for choice in chunk.choices:
            streamed[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finished.add(choice.index)
        usage = chunk.usage or usage
    assert streamed == texts and finished == {0, 1, 2}
    assert usage is not None and usage.completion_tokens == answer.usage.completion_tokens


@pytest.mark.parametrize(
    "change",
    [
        {"method": "supervised"},
        {"method": {"type": "supervised", "supervised": {"hyperparameters": {"batch_size": 0}}}},
        {"hyperparameters": ["n_epochs"]},
        {"hyperparameters": {"n_epochs": True}},
        {"method": {"type": "supervised", "supervised": {}}, "hyperparameters": {"n_epochs": 2}},
        {"seed": "abc"},
        {"method": {"type": "supervised", "supervised": {"hyperparameters": {"early_stopping_patience": 2}}}},
    ],
)
def test_a_job_request_out_of_range_is_a_400(client: openai.OpenAI, change: dict[str, Any]) -> None:
    uploaded = client.files.create(file=("elle.jsonl", TEN), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError):
        body = {"model": TINY, "training_file": uploaded.id} | change
        client.post("/fine_tuning/jobs", body=body, cast_to=FineTuningJob)


def test_a_cancel_after_the_last_step_stays_cancelled(tmp_path: Path) -> None:
    from lib.local import lifecycle
    from lib.local.tuned_models import tuned_models

    store = LocalStore(tmp_path / "local.db")
    job = lifecycle.create(store, {"id": "ftjob-late", "model": TINY, "suffix": None})
    assert store.transition(job["id"], ("validating_files",), status="queued")
    assert lifecycle.start_next(store) is not None  # the worker took it: running
    lifecycle.cancel(store, job["id"])  # the user cancels while the last step finishes
    assert not lifecycle.succeed(store, job["id"], f"ft:{TINY}:local::late")  # the worker's success comes too late
    assert store.get("jobs", job["id"])["status"] == "cancelled"  # type: ignore[index]
    assert tuned_models(store) == {}  # and no model is offered
    with pytest.raises(lifecycle.JobStateError, match="already cancelled"):
        lifecycle.cancel(store, job["id"])


def test_only_requests_for_this_server_from_no_other_site_are_served(base_url: str) -> None:
    models = f"{base_url}/models"
    with httpx2.Client() as http:
        assert http.get(models).status_code == 200
        rebound = http.get(models, headers={"Host": "evil.example:8765"})  # DNS rebinding: another name, our address
        assert rebound.status_code == 403 and rebound.json()["error"]["code"] == "forbidden_host"
        cross_site = http.post(f"{base_url}/files", headers={"Origin": "https://evil.example"}, files={"x": b"1"})
        assert cross_site.status_code == 403 and cross_site.json()["error"]["code"] == "forbidden_origin"
        assert http.get(models, headers={"Host": "localhost", "Origin": "http://127.0.0.1:8501"}).status_code == 200
        for host in ("127.0.0.1:8791@evil.com", "[::1].evil.com", "localhost/evil", "localhost.evil.com"):
            refused = http.get(models, headers={"Host": host})
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_host", host
        for origin in ("http://[::1]@evil.com", "http://127.0.0.1.evil.com", "null", "http://localhost/evil"):
            refused = http.get(models, headers={"Origin": origin})
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_origin", origin


@pytest.mark.parametrize("n", [1, 3])
def test_a_client_that_leaves_a_stream_does_not_hold_the_model(client: openai.OpenAI, base_url: str, n: int) -> None:
    body = {"model": TINY, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2000, "stream": True,
            "temperature": 1.0, "seed": 3, "n": n}  # fmt: skip
    with httpx2.Client(timeout=30) as http:
        with http.stream("POST", f"{base_url}/chat/completions", json=body) as response:
            lines = (line for line in response.iter_lines() if line.startswith("data: "))
            assert [next(lines) for _ in range(2)]
        started = time.monotonic()
        answer = client.chat.completions.create(model=TINY, messages=[{"role": "user", "content": "hi"}], max_tokens=3)
        assert answer.choices[0].message.content is not None
        assert time.monotonic() - started < 10  # the model was released when the first client left


def test_a_dead_worker_fails_its_job_truthfully_and_a_new_one_runs_the_queue(tmp_path: Path) -> None:
    import multiprocessing
    import os
    import signal

    others = {p.pid for p in multiprocessing.active_children()}  # other tests' servers have workers too
    with running_server(tiny_settings(tmp_path)) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        uploaded = client.files.create(file=("elle.jsonl", TEN), purpose="fine-tune")
        long = client.fine_tuning.jobs.create(model=TINY, training_file=uploaded.id, hyperparameters={"n_epochs": 50})
        wait_for(client, long.id, {"running"})
        [worker] = [p for p in multiprocessing.active_children() if p.name == "studio-trainer" and p.pid not in others]
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)  # what the out-of-memory killer does
        failed = wait_for(client, long.id, {"failed", "succeeded"}, timeout=30)
        assert failed.status == "failed" and failed.error and "stopped unexpectedly" in failed.error.message
        short = client.fine_tuning.jobs.create(model=TINY, training_file=uploaded.id, hyperparameters={"n_epochs": 1})
        assert wait_for(client, short.id, {"succeeded", "failed"}).status == "succeeded"  # a new worker took it


def test_startup_never_depends_on_a_users_file(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path, start_worker=False)
    with running_server(settings) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        uploaded = client.files.create(file=("elle.jsonl", TEN), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model=TINY, training_file=uploaded.id)
    store = LocalStore(settings.store_path)
    store.update("jobs", job.id, status="validating_files")  # as if the server stopped while validating
    (settings.files_dir / uploaded.id).write_bytes(b'{"messages": [], "n": ' + b"9" * 5000 + b"}\n")  # hostile
    with running_server(settings) as url:  # starts all the same
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        failed = client.fine_tuning.jobs.retrieve(job.id)
        assert failed.status == "failed" and failed.error and "more than 4,300 digits" in failed.error.message


def test_a_stream_of_several_answers_left_by_its_client_stops_every_answer() -> None:
    """Closing the stream of n answers stops each answer at its next piece and closes it (which releases the
    model's sequence); an answer that fails ends the stream with its error and stops the others."""
    import threading

    from lib.local.decoding import Piece
    from lib.local.routers.chat import _as_they_come

    closed: list[int] = []
    everyone_closed = threading.Event()

    def endless(index: int, fail_after: int | None = None) -> Iterator[Piece]:
        try:
            for count in itertools.count(1):
                if fail_after is not None and count > fail_after:
                    raise RuntimeError("decoder broke")
                time.sleep(0.01)
                yield Piece(text=str(index), tokens=count)
        finally:
            closed.append(index)
            if len(closed) == 3:
                everyone_closed.set()

    pieces = _as_they_come([endless(0), endless(1), endless(2)])
    seen = {next(pieces)[0] for _ in range(30)}
    assert seen == {0, 1, 2}  # the three answers come together
    pieces.close()
    assert everyone_closed.wait(2) and sorted(closed) == [0, 1, 2]

    closed.clear()
    everyone_closed.clear()
    with pytest.raises(RuntimeError, match="decoder broke"):
        for _ in _as_they_come([endless(0), endless(1, fail_after=3), endless(2)]):
            pass
    assert everyone_closed.wait(2) and sorted(closed) == [0, 1, 2]


def test_an_error_in_the_middle_of_a_stream_is_sent_as_an_error_event() -> None:
    import queue
    import threading

    from lib.local.routers.chat import _produce

    def failing() -> Iterator[str]:
        yield "data: {}\n\n"
        raise RuntimeError("decoder broke")

    out: queue.SimpleQueue[str | None] = queue.SimpleQueue()
    _produce(failing(), out, threading.Event())
    sent = [out.get() for _ in range(3)]
    assert sent[0] == "data: {}\n\n" and sent[2] is None  # then the stream closes
    assert sent[1] is not None and json.loads(sent[1].removeprefix("data: "))["error"]["message"].endswith(
        "decoder broke"
    )


def test_a_failed_upload_leaves_no_partial_file_and_failed_jobs_offer_no_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lib.local import files
    from lib.local.tuned_models import tuned_models

    settings = tiny_settings(tmp_path)
    store = LocalStore(settings.store_path)

    def disk_full(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", disk_full)
    with pytest.raises(OSError):
        files.save_file(store, settings, TEN, "elle.jsonl", "fine-tune")
    assert list(settings.files_dir.iterdir()) == [] and store.page("files", None, 10)[0] == []
    store.insert("jobs", {"id": "ftjob-x", "status": "failed"}, status="failed")
    checkpoint = {"id": "ftckpt-1", "fine_tuning_job_id": "ftjob-x", "created_at": 1,
                  "fine_tuned_model_checkpoint": f"ft:{TINY}:local::x:ckpt-step-3"}  # fmt: skip
    store.insert("checkpoints", checkpoint, job_id="ftjob-x", model=checkpoint["fine_tuned_model_checkpoint"], path="p")
    assert tuned_models(store) == {}


def test_the_app_keeps_one_private_key_for_the_server_it_starts(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STUDIO_LOCAL_API_KEY", raising=False)
    key = local_client.api_key()
    path = data_dir / "local" / "api-key"
    assert len(key) >= 24 and path.read_text() == key and path.stat().st_mode & 0o077 == 0  # only the user reads it
    assert local_client.api_key() == key  # the same key after a restart
    monkeypatch.setenv("STUDIO_LOCAL_API_KEY", "given")
    assert local_client.api_key() == "given"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB file system of the test's own (tmpfs), to fill up; skipped where mounting is not allowed."""
    import os
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if os.geteuid() != 0 or done.returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_refuses_uploads_cleanly_and_reads_go_on(small_disk: Path) -> None:
    settings = tiny_settings(small_disk, start_worker=False)
    with running_server(settings) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        kept = client.files.create(file=("elle.jsonl", TEN), purpose="fine-tune")
        filler = small_disk / "filler"
        with filler.open("wb", buffering=0) as out:
            for size in (65536, 4096, 1):  # fill to the last byte
                with contextlib.suppress(OSError):
                    while out.write(b"\0" * size):
                        pass
        with pytest.raises(openai.InternalServerError, match="Free some disk space"):
            client.files.create(file=("big.jsonl", TEN * 50), purpose="fine-tune")
        assert sorted(p.name for p in settings.files_dir.iterdir()) == [kept.id]  # nothing partial left behind
        assert [f.id for f in client.files.list()] == [kept.id]  # reads go on
        assert client.files.content(kept.id).read() == TEN
        filler.unlink()
        assert client.files.create(file=("again.jsonl", TEN), purpose="fine-tune").id  # and work comes back


def test_requests_that_once_gave_500s_are_400s_naming_the_parameter(base_url: str) -> None:
    def chat(content: str, stream: str = "false") -> httpx2.Response:
        body = f'{{"model": "{TINY}", "max_tokens": 2, "stream": {stream}, "messages": [{{"role": "user", '
        body += f'"content": {content}}}]}}'  # raw JSON: the escapes below are what a client sends
        return http.post(f"{base_url}/chat/completions", content=body, headers={"content-type": "application/json"})

    with httpx2.Client(timeout=30) as http:
        for stream in ("false", "true"):
            answer = chat('"hi \\ud800"', stream)  # JSON's escape for a lone surrogate
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["param"] == "messages.0.content" and "surrogate" in answer.text
        for text in ("123", '["a"]'):
            answer = chat(f'[{{"type": "text", "text": {text}}}]')
            assert answer.status_code == 400 and answer.json()["error"]["param"].startswith("messages.0.content"), text
        assert chat('[{"type": "text", "text": null}]').status_code == 200  # a part without text is ignored
        huge = http.get(f"{base_url}/files", params={"limit": "99999999999999999999999"})
        assert huge.status_code == 400 and huge.json()["error"]["param"] == "limit"


def test_an_upload_over_the_limit_is_a_413_and_leaves_nothing(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path, start_worker=False, max_upload_bytes=4096)
    with running_server(settings) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        with pytest.raises(openai.APIStatusError) as raised:
            client.files.create(file=("big.jsonl", b"x" * 5000), purpose="fine-tune")
        assert raised.value.status_code == 413 and "larger than the 0 MB" not in str(raised.value)
        assert raised.value.code == "file_too_large"
        assert list(settings.files_dir.iterdir()) == [] and client.files.list().data == []
        kept = client.files.create(file=("small.jsonl", TEN[:4000]), purpose="fine-tune")  # under the limit: kept
        assert client.files.content(kept.id).content == TEN[:4000]  # and streamed back as it was


def test_a_full_queue_is_a_503_with_retry_after(base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from lib.local.serving import Served

    monkeypatch.setattr(Served, "busy", lambda self: True)  # as when MAX_WAITING answers wait for llama.cpp
    with httpx2.Client(timeout=30) as http:
        body = {"model": TINY, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        answer = http.post(f"{base_url}/chat/completions", json=body)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert answer.json()["error"]["code"] == "server_busy"
