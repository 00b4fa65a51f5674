"""Reading jobs back: incremental events, metrics for the charts, the jobs table (fake transport, no server)."""

from __future__ import annotations

import math
from typing import Any

import httpx2
import pytest
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

from lib.train import providers, tracking
from lib.train.provenance import Provenance
from lib.train.providers import ProviderConfig

LOCAL = ProviderConfig("local")


def event(number: int, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "object": "fine_tuning.job.event",
        "id": f"ftevent-{number}",
        "created_at": 1_700_000_000 + number,
        "level": "info",
        "message": f"Step {number}" if data else f"Message {number}",
        "type": "metrics" if data else "message",
        "data": data or {},
    }


def job(job_id: str, status: str, finished_after: int | None = None) -> FineTuningJob:
    return FineTuningJob.model_validate(
        {
            "object": "fine_tuning.job",
            "id": job_id,
            "created_at": 1_700_000_000,
            "model": "smollm2-135m-instruct",
            "organization_id": "org-local",
            "training_file": "file-1",
            "validation_file": None,
            "status": status,
            "hyperparameters": {"n_epochs": 3},
            "fine_tuned_model": None,
            "result_files": [],
            "seed": 1,
            "finished_at": 1_700_000_000 + finished_after if finished_after else None,
            "error": None,
            "trained_tokens": 1234 if finished_after else None,
        }
    )


def test_new_events_fetches_only_what_is_newer_than_what_is_known() -> None:
    stored = [event(n) for n in range(250, 0, -1)]  # newest first, like the API
    requests: list[httpx2.Request] = []

    def pages(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        after = request.url.params.get("after")
        start = next(i + 1 for i, e in enumerate(stored) if e["id"] == after) if after else 0
        limit = int(request.url.params["limit"])
        return httpx2.Response(
            200,
            json={"object": "list", "data": stored[start : start + limit], "has_more": start + limit < len(stored)},
        )

    client = providers.make_client(LOCAL, http_client=httpx2.Client(transport=httpx2.MockTransport(pages)))
    first = tracking.new_events(client, LOCAL, "ftjob-1", [])
    assert [e.id for e in first] == [e["id"] for e in stored] and len(requests) == 3  # three pages of 100
    stored[:0] = [event(252), event(251)]
    requests.clear()
    second = tracking.new_events(client, LOCAL, "ftjob-1", first)
    assert [e.id for e in second[:3]] == ["ftevent-252", "ftevent-251", "ftevent-250"] and len(second) == 252
    assert len(requests) == 1  # stopped at the first event it already had


def test_metric_points_and_progress_come_from_metrics_events_only() -> None:
    events = [
        FineTuningJobEvent.model_validate(e)
        for e in (
            event(3, {"step": 2, "total_steps": 6, "train_loss": 1.5, "valid_loss": 2.0,
                      "valid_mean_token_accuracy": 0.4}),
            event(2),
            event(1, {"step": 1, "total_steps": 6, "train_loss": 2.5, "train_mean_token_accuracy": 0.2}),
        )
    ]  # fmt: skip
    points = tracking.metric_points(events)
    assert [(p["step"], p["metric"], p["value"]) for p in points] == [
        (1, "Training loss", 2.5),
        (1, "Training token accuracy", 0.2),
        (2, "Training loss", 1.5),
        (2, "Validation loss", 2.0),
        (2, "Validation token accuracy", 0.4),
    ]
    assert tracking.progress(events) == (2, 6)
    assert [row["Message"] for row in tracking.timeline(events)] == ["Message 2"]


def test_job_table_names_the_dataset_or_says_it_is_unknown() -> None:
    made = Provenance("local", "ftjob-a", 1, "Elle limericks", 7, 40, "file-1", None, "smollm2-135m-instruct")
    rows = tracking.job_table([job("ftjob-a", "succeeded", 95), job("ftjob-b", "running")], {"ftjob-a": made})
    assert rows[0]["Dataset"] == "Elle limericks (version 7)"
    assert (rows[0]["Duration"], rows[0]["Trained tokens"]) == ("1 min 35 s", "1,234")
    assert rows[1]["Trained tokens"] == "–"  # not "None" while it trains
    assert rows[1]["Dataset"] == "unknown dataset"


def test_durations_read_like_a_person_would_say_them() -> None:
    assert [tracking.format_duration(s) for s in (9, 60, 3599, 3600 * 2 + 61)] == [
        "9 s", "1 min 00 s", "59 min 59 s", "2 h 01 min",
    ]  # fmt: skip


def test_the_best_checkpoint_is_the_one_with_the_lowest_validation_loss() -> None:
    from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

    def checkpoint(step: int, valid_loss: float | None) -> FineTuningJobCheckpoint:
        return FineTuningJobCheckpoint.model_validate(
            {"id": f"ftckpt-{step}", "object": "fine_tuning.job.checkpoint", "created_at": step,
             "fine_tuned_model_checkpoint": f"ft:m:local::x:ckpt-step-{step}", "fine_tuning_job_id": "ftjob-x",
             "step_number": step, "metrics": {"step": step, "train_loss": 1.0, "valid_loss": valid_loss}}
        )  # fmt: skip

    rising = [checkpoint(30, 2.99), checkpoint(20, 2.73), checkpoint(10, 2.77)]  # newest first, as the API lists
    best = tracking.best_checkpoint(rising)
    assert best is not None and best.step_number == 20  # not the last, worst one
    assert tracking.best_checkpoint([checkpoint(10, None)]) is None  # no validation data: nothing to choose by
    assert tracking.better_checkpoint(rising) == best  # offered first in Compare and Evaluate
    falling = [checkpoint(30, 2.5), checkpoint(20, 2.73)]
    assert tracking.better_checkpoint(falling) is None  # the last is the best: the tuned model itself
    early_stopped = job("ftjob-x", "succeeded", 60).model_copy(update={"validation_file": "file-v"})
    early_stopped.hyperparameters = early_stopped.hyperparameters.model_validate(
        {"n_epochs": 3, "early_stopping_patience": 1}
    )
    assert tracking.keeps_best_epoch(early_stopped) and not tracking.keeps_best_epoch(job("ftjob-y", "succeeded", 60))
    assert tracking.better_checkpoint(rising, early_stopped) is None  # its tuned model already has step 20's weights


def test_the_data_map_groups_examples_by_confidence_and_variability() -> None:
    from lib.train import data_map

    csv_text = "example,epoch_1,epoch_2,epoch_3\n1,3.0,3.0,3.0\n2,0.1,0.1,0.1\n3,3.0,0.5,0.05\n4,2.5,2.6,2.5\n"
    losses = data_map.read_losses((csv_text + "5,oops\n6,0.2,0.2,0.2\n").encode())
    assert losses is not None and sorted(losses) == [1, 2, 3, 4, 6]  # a damaged line is left out, not the map
    assert data_map.read_losses(b"step,train_loss\n1,2.0\n") is None  # the metrics file is not the map
    made = Provenance(
        "local", "ftjob-m", 1, "Elle", 2, 6, "file-1", None, "tiny", training_rows=(11, 12, 13, 14, 15, 16)
    )
    found = {s.row_id: s for s in data_map.signals(losses, made)}
    assert found[13].group == data_map.AMBIGUOUS and found[13].variability > 0.3  # learned between epochs
    assert (found[11].group, found[14].group) == (data_map.HARD, data_map.HARD)  # never learned
    assert (found[12].group, found[16].group) == (data_map.EASY, data_map.EASY)  # always known
    assert 15 not in found and found[11].mean_loss == 3.0
    assert abs(found[12].confidence - math.exp(-0.1)) < 1e-9


def test_a_dpo_jobs_reward_accuracy_is_charted_as_its_accuracy() -> None:
    dpo = event(1, {"step": 1, "total_steps": 4, "train_loss": 0.69, "train_reward_accuracy": 0.5,
                    "train_reward_margin": 0.01})  # fmt: skip
    points = tracking.metric_points([FineTuningJobEvent.model_validate(dpo)])
    assert [(p["metric"], p["kind"], p["value"]) for p in points] == [
        ("Training loss", "loss", 0.69), ("Training reward accuracy (DPO)", "accuracy", 0.5)]  # fmt: skip


def test_the_training_estimate_grows_with_tokens_and_epochs_and_follows_this_machines_jobs() -> None:
    from lib.train import estimate

    table = estimate.BENCHMARK_TOKENS_PER_SECOND
    assert estimate.benchmark_speed(1) == table[1] and estimate.benchmark_speed(64) == table[max(table)]
    assert min(table[1], table[6]) <= estimate.benchmark_speed(3) <= max(table[1], table[6])  # between measured sizes
    one = estimate.training_estimate(10_000, n_epochs=1, batch_size=1)
    three = estimate.training_estimate(10_000, n_epochs=3, batch_size=1)
    assert not one.measured_here and one.seconds > estimate.JOB_START_SECONDS
    assert three.seconds - estimate.JOB_START_SECONDS == pytest.approx(3 * (one.seconds - estimate.JOB_START_SECONDS))
    assert estimate.training_estimate(0, n_epochs=3, batch_size=1).seconds == 0

    # a machine whose jobs ran twice as fast as the benchmark's trains in half the time
    twice = [estimate.JobSpeed(2 * table[1], 1), estimate.JobSpeed(2 * table[8], 8)]
    assert estimate.machine_factor(twice) == 2.0 and estimate.machine_factor([]) is None
    here = estimate.training_estimate(10_000, n_epochs=1, batch_size=1, factor=estimate.machine_factor(twice))
    assert here.measured_here and here.tokens_per_second == pytest.approx(2 * one.tokens_per_second)
    assert here.seconds - estimate.JOB_START_SECONDS == pytest.approx((one.seconds - estimate.JOB_START_SECONDS) / 2)


def test_an_estimate_is_said_no_more_precisely_than_it_is_known() -> None:
    from lib.train.estimate import rough_duration

    assert [rough_duration(s) for s in (3, 44, 89, 90, 116, 1716, 3599, 3600, 5100)] == [
        "10 s", "40 s", "90 s", "2 min", "2 min", "29 min", "60 min", "1 h 00 min", "1 h 25 min"
    ]  # fmt: skip


def test_a_busy_machine_widens_the_training_estimate() -> None:
    from lib.train.estimate import busy_slowdown

    assert busy_slowdown(0.0, 2) == 1.0  # idle: the benchmark's figure stands
    assert busy_slowdown(2.0, 2) == 2.0  # two cores kept busy by other work: the job gets about half
    assert busy_slowdown(6.0, 2) == 4.0
