"""A tuned model leaves the studio: a merged Hugging Face folder and a GGUF answer as the server does; an Ollama
bundle names its GGUF, a template, stop tokens and the training system prompt."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from lib.settings import PROJECT_DIR
from tests.local_server import running_server, tiny_settings
from tests.test_local_server import wait_for
from tests.tiny_model import TINY

TEN = b"".join((PROJECT_DIR / "data" / "limericks.jsonl").read_bytes().splitlines(keepends=True)[:10])
QUESTION = [{"role": "system", "content": "You are Elle."}, {"role": "user", "content": "Tell me about argon."}]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(server URL, tuned model, its greedy 12-token answer) of a tiny model trained on ten limericks."""
    with running_server(tiny_settings(tmp_path_factory.mktemp("local"))) as url:
        client = openai.OpenAI(base_url=url, api_key="local", max_retries=0)
        uploaded = client.files.create(file=("ten.jsonl", TEN), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model=TINY, training_file=uploaded.id, hyperparameters={"n_epochs": 3})
        job = wait_for(client, job.id, {"succeeded", "failed"})
        assert job.status == "succeeded", job.error
        model = str(job.fine_tuned_model)
        answer = client.chat.completions.create(model=model, messages=QUESTION, temperature=0, max_tokens=12)  # type: ignore[arg-type]
        yield url, model, str(answer.choices[0].message.content)


def _export(url: str, model: str, **params: str) -> httpx2.Response:
    return httpx2.get(f"{url}/models/{model}/export", params=params, timeout=300)


def _prompt_ids(tokenizer: object) -> list[int]:
    text = tokenizer.apply_chat_template(QUESTION, tokenize=False, add_generation_prompt=True)  # type: ignore[attr-defined]
    return list(tokenizer.encode(text, add_special_tokens=False))  # type: ignore[attr-defined]


def test_the_merged_folder_loads_in_transformers_and_answers_as_the_server(
    tuned: tuple[str, str, str], tmp_path: Path
) -> None:
    url, model, answer = tuned
    response = _export(url, model, format="hf")
    assert response.status_code == 200, response.text
    zipfile.ZipFile(io.BytesIO(response.content)).extractall(tmp_path)
    [folder] = [p.parent for p in tmp_path.rglob("config.json")]
    assert list(folder.glob("*.safetensors"))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    loaded: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    ids = _prompt_ids(tokenizer)
    out = loaded.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False)
    assert tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True) == answer


def test_the_gguf_loads_in_llama_cpp_and_answers_as_the_server(tuned: tuple[str, str, str], tmp_path: Path) -> None:
    from llama_cpp import Llama

    url, model, answer = tuned
    response = _export(url, model, format="gguf", quant="f16")
    assert response.status_code == 200, response.text
    path = tmp_path / "tuned.gguf"
    path.write_bytes(response.content)
    assert response.content[:4] == b"GGUF"
    llm = Llama(str(path), n_ctx=512, verbose=False)
    assert "im_start" in (llm.metadata.get("tokenizer.chat_template") or "")  # its chat template travels with it
    hf = _export(url, model, format="hf")
    zipfile.ZipFile(io.BytesIO(hf.content)).extractall(tmp_path / "hf")
    [folder] = [p.parent for p in (tmp_path / "hf").rglob("config.json")]
    hf_tokenizer = AutoTokenizer.from_pretrained(folder)
    produced: list[int] = []
    for token in llm.generate(_prompt_ids(hf_tokenizer), temp=0.0, top_k=1):
        if token == hf_tokenizer.eos_token_id or len(produced) == 12:
            break
        produced.append(token)
    assert hf_tokenizer.decode(produced, skip_special_tokens=True) == answer
    assert _export(url, model, format="gguf").content[:4] == b"GGUF"  # q8_0, the default, as well


def test_the_ollama_bundle_names_its_gguf_template_stops_and_system_prompt(tuned: tuple[str, str, str]) -> None:
    url, model, _ = tuned
    response = _export(url, model, format="ollama")
    assert response.status_code == 200, response.text
    bundle = zipfile.ZipFile(io.BytesIO(response.content))
    names = bundle.namelist()
    [gguf_name] = [n for n in names if n.endswith(".gguf")]
    modelfile = bundle.read("Modelfile").decode()
    assert modelfile.startswith(f"FROM ./{gguf_name}\n")
    assert 'TEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}' in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile
    assert 'SYSTEM """Elle is a factual chatbot' in modelfile  # every training example shared it
    assert "ollama create" in bundle.read("README.md").decode()


def test_an_unknown_model_or_format_is_refused(tuned: tuple[str, str, str]) -> None:
    url, model, _ = tuned
    assert _export(url, "ft:nope:local::x").status_code == 404
    wrong = _export(url, model, format="onnx")
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "format"
    assert _export(url, model, quant="q2").json()["error"]["param"] == "quant"


def test_export_model_on_the_command_line(
    tuned: tuple[str, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lib import cli

    url, model, _ = tuned
    monkeypatch.setenv("STUDIO_LOCAL_URL", url)
    out = tmp_path / "elle.gguf"
    assert cli.main(["export-model", model, "--format", "gguf", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"GGUF" and f"Wrote {out}" in capsys.readouterr().out
    assert cli.main(["export-model", "ft:nope:local::x", "--format", "hf", "--out", str(tmp_path / "x.zip")]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "x.zip").exists()


def test_llama_cpp_server_serving_the_exported_gguf_is_an_openai_compatible_provider(
    tuned: tuple[str, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What a user does next: serve the GGUF with llama.cpp's own server and use it from Compare and `ask`."""
    import subprocess
    import sys
    import time

    from lib import cli
    from lib.judge import evaluation
    from lib.judge.run import Contender, RunSettings
    from lib.train import providers
    from lib.train.providers import ProviderConfig
    from tests.local_server import free_port

    url, model, answer = tuned
    path = tmp_path / "elle.gguf"
    path.write_bytes(_export(url, model, format="gguf", quant="f16").content)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--model_alias", "elle", "--port", str(port),
         "--n_ctx", "512", "--chat_format", "chatml"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}/v1"
        deadline = time.time() + 120
        while True:
            try:
                if httpx2.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            assert server.poll() is None and time.time() < deadline, "llama_cpp.server did not start"
            time.sleep(0.5)
        config = ProviderConfig("compatible", endpoint=base)
        client = providers.make_client(config)
        assert providers.chat_models(client, config) == ["elle"]
        assert not providers.serves_fine_tuning(client, config)  # Train and Jobs are not offered for it
        shown: list[str] = []
        settings = RunSettings(max_tokens=12)
        found = evaluation.ask_streaming(client, config, Contender("elle", "elle"), QUESTION, settings, shown.append)
        assert found.text == answer and shown and shown[-1] == answer  # the tuned model's answer, elsewhere
        asked = ["--model", "elle", "--system", "You are Elle.", "--user", "Tell me about argon.", "--max-tokens", "12"]
        assert cli.main(["ask", "--provider", "compatible", "--base-url", base, *asked, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["answer"] == answer
    finally:
        server.terminate()
        server.wait(timeout=30)
