"""Exported models answer as the server does: SmolLM2 tuned on the 40 limericks, its greedy answers to the 25
held-out questions from the server, from the exported GGUF in llama.cpp and from the merged folder in
transformers.

Run: python -m bench.export [--epochs 3] [--max-tokens 60]
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bench import machine, ratio
from lib.settings import PROJECT_DIR
from tests.local_server import free_port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=60)
    args = parser.parse_args()
    print(machine())

    import httpx2
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lib.judge.prompts import eval_file_prompts
    from lib.train import local_client

    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    os.environ |= {"STUDIO_DATA_DIR": str(work / "data"), "STUDIO_LOCAL_URL": f"http://127.0.0.1:{free_port()}/v1"}
    server = local_client.start()
    try:
        while not local_client.answers():
            assert server.poll() is None, local_client.log_path().read_text()
            time.sleep(0.5)
        client = local_client.client()
        sample = (PROJECT_DIR / "data" / "limericks.jsonl").read_bytes()
        uploaded = client.files.create(file=("limericks.jsonl", sample), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model="smollm2-135m-instruct", training_file=uploaded.id,
                                             hyperparameters={"n_epochs": args.epochs}, seed=1)  # fmt: skip
        while (job := client.fine_tuning.jobs.retrieve(job.id)).status not in ("succeeded", "failed"):
            time.sleep(1)
        assert job.status == "succeeded", job.error
        model = str(job.fine_tuned_model)
        prompts = [p.messages for p in eval_file_prompts()]
        served: list[str] = []
        for messages in prompts:
            answer = client.chat.completions.create(model=model, messages=messages, temperature=0,  # type: ignore[arg-type]
                                                    max_tokens=args.max_tokens)  # fmt: skip
            served.append(str(answer.choices[0].message.content))
        headers = {"Authorization": f"Bearer {local_client.api_key()}"}
        url = f"{local_client.base_url()}/models/{model}/export"
        started = time.perf_counter()
        gguf = httpx2.get(url, params={"format": "gguf"}, headers=headers, timeout=1800).content
        gguf_seconds = time.perf_counter() - started
        (work / "tuned.gguf").write_bytes(gguf)
        started = time.perf_counter()
        hf = httpx2.get(url, params={"format": "hf"}, headers=headers, timeout=1800).content
        hf_seconds = time.perf_counter() - started
        zipfile.ZipFile(io.BytesIO(hf)).extractall(work / "hf")
    finally:
        server.terminate()
        server.wait()
    [folder] = [p.parent for p in (work / "hf").rglob("config.json")]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    merged: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    llm = Llama(str(work / "tuned.gguf"), n_ctx=2048, verbose=False)
    stops = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")}
    same = {"gguf": 0, "hf": 0}
    for messages, expected in zip(prompts, served, strict=True):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = list(tokenizer.encode(text, add_special_tokens=False))
        produced: list[int] = []
        for token in llm.generate(ids, temp=0.0, top_k=1):
            if token in stops or len(produced) == args.max_tokens:
                break
            produced.append(token)
        llm.reset()
        same["gguf"] += tokenizer.decode(produced, skip_special_tokens=True) == expected
        out = merged.generate(torch.tensor([ids]), max_new_tokens=args.max_tokens, do_sample=False,
                              eos_token_id=sorted(stops))  # fmt: skip
        same["hf"] += tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True) == expected
    n = len(prompts)
    print(f"SmolLM2 tuned on 40 limericks ({args.epochs} epochs); greedy answers to {n} held-out questions, "
          f"{args.max_tokens} tokens at most, equal to the server's:")  # fmt: skip
    print("| export | size | written in | answers equal to the server's |\n| --- | --- | --- | --- |")
    print(f"| GGUF Q8_0 in llama.cpp | {len(gguf) / 2**20:.0f} MB | {gguf_seconds:.1f} s | {same['gguf']}/{n} |")
    print(f"| Hugging Face folder in transformers (fp32) | {len(hf) / 2**20:.0f} MB | {hf_seconds:.1f} s | "
          f"{same['hf']}/{n} |")  # fmt: skip
    ratio("export_gguf_answers_equal", same["gguf"] / n)
    ratio("export_hf_answers_equal", same["hf"] / n)


if __name__ == "__main__":
    main()
