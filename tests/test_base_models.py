"""Bring your own base model: three tiny architectures added by path train and answer through the openai SDK;
what cannot be a base model here is refused in one line; two processes train a job as one does."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import openai
import psutil
import pytest

from lib.local.base_models import BroughtModel, memory_refusal, remembered
from lib.settings import PROJECT_DIR
from tests.local_server import running_server, tiny_settings
from tests.test_local_server import wait_for
from tests.tiny_model import brought_folder

TEN = b"".join((PROJECT_DIR / "data" / "limericks.jsonl").read_bytes().splitlines(keepends=True)[:10])
FORTY = (PROJECT_DIR / "data" / "limericks.jsonl").read_bytes()
ARCHITECTURES = {"llama": "its own", "qwen2": "ChatML", "gemma3_text": "Gemma's"}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {a: brought_folder(tmp_path_factory.mktemp(a), a) for a in ARCHITECTURES}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("local")
    with running_server(tiny_settings(data)) as url:
        yield url, data


def _add(url: str, name: str, path: Path | str) -> httpx2.Response:
    return httpx2.post(f"{url}/models", json={"id": name, "path": str(path)}, timeout=120)


def test_three_architectures_added_by_path_train_and_answer(server: tuple[str, Path], models: dict[str, Path]) -> None:
    url, data = server
    client = openai.OpenAI(base_url=url, api_key="local", max_retries=0)
    uploaded = client.files.create(file=("ten.jsonl", TEN), purpose="fine-tune")
    for architecture, template in ARCHITECTURES.items():
        name = f"my-{architecture.replace('_', '-')}"
        added = _add(url, name, models[architecture])
        assert added.status_code == 200, added.text
        assert added.json()["chat_template"] == template and added.json()["architecture"] == architecture
        listed = {m.id: m.model_extra or {} for m in client.models.list()}
        assert listed[name]["source"] == "folder" and listed[name]["parameters"] > 80_000
        job = client.fine_tuning.jobs.create(model=name, training_file=uploaded.id, hyperparameters={"n_epochs": 1})
        job = wait_for(client, job.id, {"succeeded", "failed"})
        assert job.status == "succeeded", job.error
        said = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=50)]
        assert any(
            m.startswith(f"Training {name} on cpu in ") and m.endswith(f"1 process; chat template: {template}")
            for m in said
        ), said
        assert any(m.startswith("Peak memory: ") for m in said)
        for model in (name, str(job.fine_tuned_model)):
            answer = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "Tell me about argon."}], max_tokens=8
            )
            assert answer.choices[0].finish_reason in ("stop", "length") and answer.usage is not None
    assert set(remembered(data)) == {"my-llama", "my-qwen2", "my-gemma3-text"}  # offered again after a restart


def test_added_models_are_offered_again_after_a_restart(server: tuple[str, Path], models: dict[str, Path]) -> None:
    url, data = server
    assert _add(url, "kept", models["llama"]).status_code == 200
    with running_server(tiny_settings(data, start_worker=False)) as again:
        ids = [m.id for m in openai.OpenAI(base_url=again, api_key="local").models.list()]
    assert "kept" in ids and "tiny-llama" in ids


def test_what_cannot_be_a_base_model_is_refused_in_one_line(
    server: tuple[str, Path], models: dict[str, Path], tmp_path: Path
) -> None:
    url, _ = server
    (tmp_path / "empty").mkdir()
    vision = tmp_path / "vision"
    vision.mkdir()
    (vision / "config.json").write_text(json.dumps({"model_type": "vit", "hidden_size": 32}))
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((models["llama"] / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04")
    (tmp_path / "notes.gguf").write_text("not a model")
    cases = {
        "missing": (tmp_path / "nowhere", "Nothing at"),
        "empty": (tmp_path / "empty", "no config.json"),
        "vision": (vision, "Architecture 'vit' is not a text generator"),
        "pickled": (pickled, "Python pickles, which can run code"),
        "text": (tmp_path / "notes.gguf", "is not a GGUF file"),
        "tiny-llama": (models["llama"], "already offered"),
        "bad:name": (models["llama"], "cannot be a model id"),
    }
    for name, (path, said) in cases.items():
        refused = _add(url, name, path)
        assert refused.status_code == 400, name
        message = refused.json()["error"]["message"]
        assert said in message and "\n" not in message, (name, message)
        assert refused.json()["error"]["param"] == "path"


def test_a_model_too_large_for_the_memory_is_refused_with_the_estimate() -> None:
    big = BroughtModel("big", "/models/big", "folder", "llama", 8_000_000_000, "its own")
    refusal = memory_refusal(big, 2, 8 * 2**30, "available on this machine")
    assert refusal is not None and "\n" not in refusal
    assert "8.00 billion parameters need about 31.0 GiB" in refusal and "8.0 GiB available on this machine" in refusal
    assert memory_refusal(big, 2, 64 * 2**30, "available") is None


def test_the_server_refuses_to_start_with_a_base_model_it_cannot_use(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lib.local", "--base-model", f"mine={tmp_path / 'nowhere'}", "--port", "9"],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        env={"STUDIO_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"--base-model mine: Nothing at {tmp_path / 'nowhere'}: give the path of a model folder or a .gguf file."
    ]


@pytest.fixture
def two_process_server(tmp_path: Path) -> Iterator[str]:
    with running_server(tiny_settings(tmp_path / "local", train_processes=2)) as url:
        yield url


def test_a_job_trains_in_two_processes_and_a_dying_rank_fails_it_not_the_server(two_process_server: str) -> None:
    client = openai.OpenAI(base_url=two_process_server, api_key="local", max_retries=0)
    uploaded = client.files.create(file=("ten.jsonl", TEN), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="tiny-llama", training_file=uploaded.id, hyperparameters={"n_epochs": 2})
    job = wait_for(client, job.id, {"succeeded", "failed"})
    assert job.status == "succeeded", job.error
    said = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=50)]
    assert any(m.startswith("Training tiny-llama on cpu in ") and ", 2 processes;" in m for m in said), said

    long = client.files.create(file=("forty.jsonl", FORTY), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model="tiny-llama", training_file=long.id, hyperparameters={"n_epochs": 50, "batch_size": 2}
    )
    wait_for(client, job.id, {"running"})
    rank = _second_rank(time.time() + 60)
    while not any(e.type == "metrics" for e in client.fine_tuning.jobs.list_events(job.id, limit=5)):
        time.sleep(0.1)
    rank.kill()
    job = wait_for(client, job.id, {"succeeded", "failed"})
    assert job.status == "failed" and job.error is not None
    assert "training process 1 of 2 stopped unexpectedly" in str(job.error.message), job.error
    assert client.models.list().data  # the server is up


def _second_rank(deadline: float) -> psutil.Process:
    """The training process the worker started for rank 1 (a grandchild of this test process)."""
    while time.time() < deadline:
        for process in psutil.Process().children(recursive=True):
            try:
                if "lib.local.rank_process" in " ".join(process.cmdline()):
                    return process
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.1)
    raise AssertionError("no rank process started")


def _sidebar_form() -> None:
    from lib.ui.provider import _add_base_model

    _add_base_model()


def test_the_sidebar_adds_a_base_model_and_says_why_it_refuses_one(
    server: tuple[str, Path], models: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("STUDIO_LOCAL_URL", server[0])
    at = AppTest.from_function(_sidebar_form, default_timeout=60)  # (AppTest drops app.py's sidebar on a rerun)
    at.run()
    at.text_input[0].set_value("from-the-app")
    at.text_input[1].set_value(str(tmp_path / "nowhere"))
    at.button[0].click().run()
    assert [e.value for e in at.error] == [
        f"The local server rejected the request (400): Nothing at {tmp_path / 'nowhere'}: give the path of a model "
        "folder or a .gguf file."
    ]
    at.text_input[1].set_value(str(models["qwen2"]))
    at.button[0].click().run()
    assert not at.error and not at.exception
    assert at.success[0].value.startswith("Added from\\-the\\-app: qwen2, 0M parameters, chat template: ChatML.")
    ids = [m.id for m in openai.OpenAI(base_url=server[0], api_key="local").models.list()]
    assert "from-the-app" in ids
