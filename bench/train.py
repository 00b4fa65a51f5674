"""Training speed of the local provider against TRL's SFTTrainer, same data, same LoRA rank, same machine.

Run: python -m bench.train [--repeats 3]   (needs requirements-bench.txt: trl)

Ten sample limericks, 3 epochs, batch 1, LoRA r=16 on all linear layers of SmolLM2-135M-Instruct.
Arms, each in its own process, interleaved, median of --repeats:
  ours         lib.local.trainer (what the local server runs)
  trl-default  SFTTrainer with TRL's defaults (bf16, gradient checkpointing, lr 2e-5), as a user would start
  trl-tuned    SFTTrainer without gradient checkpointing, bf16 only where the CPU computes it, our learning rate
Every arm's held-out loss is measured the same way, on ten other limericks. Then, through the real server
(python -m lib.local, GGUF conversion done at its start and excluded), job created -> succeeded.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import machine, ratio, run_arms, seconds
from bench import median as median_of
from lib.paths import PROJECT_DIR

ARMS = ("ours", "trl-default", "trl-tuned")
EPOCHS, RANK = 3, 16


def limericks() -> tuple[list[Any], list[Any]]:
    from lib.curate.formats import read_jsonl

    examples = [e for _, e in read_jsonl((PROJECT_DIR / "data" / "limericks.jsonl").read_bytes()).valid_examples()]
    return examples[:10], examples[30:40]


def run_arm(arm: str, folder: Path) -> dict[str, Any]:
    """One training run in this process; returns its figures."""
    import torch

    from lib.local.models import load
    from lib.local.trainer import BASE_LEARNING_RATE, TrainingConfig, encode, evaluate, train

    torch.manual_seed(0)
    training, held_out = limericks()
    loaded = load(folder)
    real_tokens = EPOCHS * sum(len(encode(e, loaded.tokenizer, 2048).input_ids) for e in training)
    start = time.perf_counter()
    if arm == "ours":
        model, _ = train(loaded, training, TrainingConfig(n_epochs=EPOCHS, batch_size=1, seed=0, lora_rank=RANK))
    else:
        model = _trl(arm, loaded, training, BASE_LEARNING_RATE)
    seconds = time.perf_counter() - start
    pad = int(loaded.tokenizer.pad_token_id or 0)
    valid = [encode(e, loaded.tokenizer, 2048) for e in held_out]
    loss, _ = evaluate(model, valid, pad, next(model.parameters()).device)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "arm": arm,
        "seconds": seconds,
        "tokens_per_second": real_tokens / seconds,
        "peak_mb": peak_mb,
        "held_out_loss": loss,
    }


def _trl(arm: str, loaded: Any, training: list[Any], learning_rate: float) -> Any:
    import importlib

    import torch
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from lib.local.models import native_bf16_cpu

    pairs = [{"prompt": e["messages"][:-1], "completion": e["messages"][-1:]} for e in training]
    common: dict[str, Any] = {
        "output_dir": tempfile.mkdtemp(prefix="trl-"),
        "num_train_epochs": EPOCHS,
        "per_device_train_batch_size": 1,
        "use_cpu": not torch.cuda.is_available(),
        "report_to": [],
        "save_strategy": "no",
        "logging_steps": 10,
        "seed": 0,
    }
    if arm == "trl-tuned":
        bf16 = native_bf16_cpu()
        common |= {"gradient_checkpointing": False, "bf16": bf16, "learning_rate": learning_rate}
    lora = LoraConfig(r=RANK, lora_alpha=2 * RANK, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = SFTTrainer(
        model=loaded.model.float(),
        args=SFTConfig(**common),
        train_dataset=importlib.import_module("datasets").Dataset.from_list(pairs),
        processing_class=loaded.tokenizer,
        peft_config=lora,
    )
    trainer.train()
    model: Any = trainer.model
    return model.eval()


def server_job_seconds(repeats: int) -> list[float]:
    """Job created -> succeeded through the real server, ten limericks, 3 epochs."""
    import os

    from lib.train import local_client
    from tests.local_server import free_port

    data = tempfile.mkdtemp(prefix="studio-bench-")
    os.environ |= {"STUDIO_DATA_DIR": data, "STUDIO_LOCAL_URL": f"http://127.0.0.1:{free_port()}/v1"}
    server = local_client.start()
    try:
        while not local_client.answers():  # includes the one-time GGUF conversion: excluded from the figure
            assert server.poll() is None, local_client.log_path().read_text()
            time.sleep(0.5)
        client = local_client.client()
        ten = b"".join((PROJECT_DIR / "data" / "limericks.jsonl").read_bytes().splitlines(keepends=True)[:10])
        uploaded = client.files.create(file=("ten.jsonl", ten), purpose="fine-tune")
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            job = client.fine_tuning.jobs.create(
                model="smollm2-135m-instruct",
                training_file=uploaded.id,
                method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": EPOCHS}}},
            )
            while (job := client.fine_tuning.jobs.retrieve(job.id)).status not in ("succeeded", "failed", "cancelled"):
                time.sleep(0.2)
            assert job.status == "succeeded", job.error
            times.append(time.perf_counter() - start)
        return times
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--arm", choices=ARMS, help="(internal) run one arm in this process")
    parser.add_argument("--folder", type=Path, help="(internal) the prepared base model")
    parser.add_argument("--skip-server", action="store_true")
    args = parser.parse_args()
    if args.arm:
        print(json.dumps(run_arm(args.arm, args.folder)))
        return

    runs = run_arms("bench.train", ARMS, args.repeats)

    def median(arm: str, key: str) -> float:
        return median_of(runs, arm, key)

    print(machine())
    print(f"\nTen limericks, {EPOCHS} epochs, batch 1, LoRA r={RANK}; median of {args.repeats}, one process per run")
    print(f"{'arm':<14}{'real tok/s':>12}{'wall s':>9}{'peak MB':>10}{'held-out loss':>15}")
    for arm in ARMS:
        print(
            f"{arm:<14}{median(arm, 'tokens_per_second'):>12.1f}{median(arm, 'seconds'):>9.1f}"
            f"{median(arm, 'peak_mb'):>10.0f}{median(arm, 'held_out_loss'):>15.3f}"
        )
    ours = median("ours", "tokens_per_second")
    print(f"ours / trl-default: {ours / median('trl-default', 'tokens_per_second'):.2f}x (target >= 2x)")
    print(f"ours / trl-tuned:   {ours / median('trl-tuned', 'tokens_per_second'):.2f}x (target > 1x)")
    ratio("train_vs_trl_default", ours / median("trl-default", "tokens_per_second"))
    ratio("train_vs_trl_tuned", ours / median("trl-tuned", "tokens_per_second"))
    if not args.skip_server:
        jobs = server_job_seconds(args.repeats)
        runs_s = ", ".join(f"{t:.1f}" for t in jobs)
        print(f"server job created -> succeeded: median {statistics.median(jobs):.1f} s ({runs_s}) (target < 30 s)")
        seconds("job_created_to_succeeded", statistics.median(jobs))


if __name__ == "__main__":
    main()
