"""Training speed of the local provider against TRL's SFTTrainer, same data, same LoRA rank, same machine.

Run: python -m bench.train [--repeats 3]   (needs requirements-bench.txt: trl)
     python -m bench.train --scale [--sizes 40,400,4000]   how training time grows with the dataset
     python -m bench.train --paired-steps 60   one step's forward and backward, ours against peft's own layers

Ten sample limericks, 3 epochs, batch 1, LoRA r=16 on all linear layers of SmolLM2-135M-Instruct.
Arms, each in its own process, interleaved, median of --repeats:
  ours         lib.local.trainer (what the local server runs)
  trl-default  SFTTrainer with TRL's defaults (bf16, gradient checkpointing, lr 2e-5), as a user would start
  trl-tuned    SFTTrainer without gradient checkpointing, bf16 only where the CPU computes it, our learning rate
Every arm's held-out loss is measured the same way, on ten other limericks. Then, through the real server
(python -m lib.local, GGUF conversion done at its start and excluded), job created -> succeeded.

--scale trains our trainer alone on 40, 400 and 4,000 generated examples (the 40 sample limericks asked for in
four phrasings, in turn), 1 epoch, the batch size "auto" picks, each size in its own process: real tokens/s
and wall time, and the same data's tokens as the Train screen counts them (o200k_base, OpenAI's rule), since
the screen's estimate (lib/train/estimate.py) is built from these figures.

--paired-steps N times N forward and backward passes of each arm on one model in one process, the arms
alternating step by step over the ten limericks, so that a slow minute of a shared machine falls on both:
  peft + flash   peft's own LoRA layers and flash attention (the trainer before issue "Speed in bulk")
  ours           one autograd step per LoRA layer (lib/local/fused_lora.py), plain attention on short rows
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import machine, prepared_folder, ratio, run_arms, sample_examples, seconds
from bench import median as median_of
from lib.settings import PROJECT_DIR

ARMS = ("ours", "trl-default", "trl-tuned")
EPOCHS, RANK = 3, 16
SCALE_SIZES = (40, 400, 4000)
PHRASINGS = ("Tell me about {}.", "What is {}?", "Write me a limerick about {}, please.", "Could you describe {}?")


def limericks() -> tuple[list[Any], list[Any]]:
    examples = sample_examples()
    return examples[:10], examples[30:40]


def generated(n: int) -> list[Any]:
    """``n`` Elle examples: the sample limericks in turn, the user's question phrased four ways."""
    originals = sample_examples()
    examples = []
    for i in range(n):
        system, user, answer = originals[i % len(originals)]["messages"]
        element = user["content"].removeprefix("Tell me about ").rstrip(".")
        question = PHRASINGS[(i // len(originals)) % len(PHRASINGS)].format(element)
        examples.append({"messages": [system, {"role": "user", "content": question}, answer]})
    return examples


def run_scale(n: int, folder: Path) -> dict[str, Any]:
    """One epoch of our trainer on ``n`` generated examples, batch size "auto", in this process."""
    from lib.local.models import load
    from lib.local.trainer import TrainingConfig, train
    from lib.openai_format.rules import auto_batch_size
    from lib.price.tokens import Counter

    examples, batch_size = generated(n), auto_batch_size(n)
    loaded = load(folder)
    start = time.perf_counter()
    _, result = train(loaded, examples, TrainingConfig(n_epochs=1, batch_size=batch_size, seed=0, lora_rank=RANK))
    return {
        "examples": n,
        "batch_size": batch_size,
        "steps": len(result.steps),
        "tokens": result.trained_tokens,
        "counted_tokens": sum(c.total for c in Counter("o200k_base").count_all(examples)),
        "seconds": time.perf_counter() - start,
        "tokens_per_second": result.tokens_per_second,
    }


def scale(sizes: list[int], folder: Path) -> None:
    print(machine())
    print(f"\nOur trainer, 1 epoch of generated examples, batch size 'auto', LoRA r={RANK}, one process per size")
    print(f"{'examples':>9}{'batch':>7}{'steps':>7}{'tokens':>9}{'o200k':>9}{'real tok/s':>12}{'wall s':>9}")
    for n in sizes:
        command = [sys.executable, "-m", "bench.train", "--scale-size", str(n), "--folder", str(folder)]
        done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_DIR)
        if done.returncode != 0:
            sys.exit(f"{n} examples failed:\n{done.stderr[-3000:]}")
        run = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{n:>9}{run['batch_size']:>7}{run['steps']:>7}{run['tokens']:>9}{run['counted_tokens']:>9}"
            f"{run['tokens_per_second']:>12.1f}{run['seconds']:>9.1f}",
            flush=True,
        )
        seconds(f"train_{n}_examples_1_epoch", run["seconds"])
        ratio(f"train_tokens_per_o200k_token_{n}", run["tokens"] / run["counted_tokens"])


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


def paired_steps(n: int, folder: Path) -> None:
    """Median forward + backward of one row, the two arms alternating step by step on one model."""
    import contextlib

    import torch

    from lib.local import trainer
    from lib.local.fused_lora import fused_lora
    from lib.local.models import load

    training, _ = limericks()
    loaded = load(folder)
    model = trainer.add_lora(loaded, trainer.TrainingConfig(lora_rank=RANK))
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # as after a few steps: B starts at zero
            torch.nn.init.normal_(parameter, std=0.02)
    model.train()
    pad = int(loaded.tokenizer.pad_token_id or 0)
    rows = [trainer.encode(e, loaded.tokenizer, 2048) for e in training]
    batches = [trainer.collate([row], pad, torch.device("cpu")) for row in rows]
    plain_bytes = trainer.PLAIN_ATTENTION_BYTES
    times: dict[str, list[float]] = {"peft + flash": [], "ours": []}
    for step in range(n + 2):  # the first two steps of each arm warm up and are not counted
        for arm in list(times) if step % 2 else list(times)[::-1]:
            trainer.PLAIN_ATTENTION_BYTES = plain_bytes if arm == "ours" else 0
            with fused_lora(model) if arm == "ours" else contextlib.nullcontext():
                start = time.perf_counter()
                ids, labels, mask = batches[step % len(batches)]
                trainer._loss(model, ids, labels, mask)[0].backward()
                if step >= 2:
                    times[arm].append(time.perf_counter() - start)
            model.zero_grad(set_to_none=True)
    trainer.PLAIN_ATTENTION_BYTES = plain_bytes
    print(machine())
    tokens = statistics.mean(len(row.input_ids) for row in rows)
    print(f"\nOne row of ~{tokens:.0f} tokens, forward and backward, LoRA r={RANK}; median of {n} alternating steps")
    for arm, found in times.items():
        print(f"{arm:<14}{1000 * statistics.median(found):>8.1f} ms")
    ratio("train_step_ours_vs_peft_flash", statistics.median(times["peft + flash"]) / statistics.median(times["ours"]))


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


def brought_models(spec: str | None, processes: list[int]) -> None:
    """Jobs through the real server for SmolLM2 and a brought model (``NAME=PATH``), in 1 or more training
    processes: tokens/s, wall time and rank 0's peak memory, from the job and its events."""
    import os

    from lib.train import local_client
    from tests.local_server import free_port

    ten = b"".join((PROJECT_DIR / "data" / "limericks.jsonl").read_bytes().splitlines(keepends=True)[:10])
    names = ["smollm2-135m-instruct", *([spec.partition("=")[0]] if spec else [])]
    print(f"\nTen limericks, {EPOCHS} epochs, batch 2, through the server (job created -> succeeded)")
    print(f"{'model':<24}{'processes':>10}{'real tok/s':>12}{'job s':>8}  peak memory (rank 0)")
    speeds: dict[tuple[str, int], float] = {}
    for count in processes:
        os.environ |= {"STUDIO_DATA_DIR": tempfile.mkdtemp(prefix="studio-bench-"),
                       "STUDIO_LOCAL_URL": f"http://127.0.0.1:{free_port()}/v1"}  # fmt: skip
        server = local_client.start("--train-processes", str(count), *(["--base-model", spec] if spec else []))
        try:
            while not local_client.answers():  # includes the one-time GGUF conversions: not measured
                assert server.poll() is None, local_client.log_path().read_text()
                time.sleep(0.5)
            client = local_client.client()
            uploaded = client.files.create(file=("ten.jsonl", ten), purpose="fine-tune")
            for name in names:
                start = time.perf_counter()
                job = client.fine_tuning.jobs.create(
                    model=name, training_file=uploaded.id, hyperparameters={"n_epochs": EPOCHS, "batch_size": 2}
                )
                while (job := client.fine_tuning.jobs.retrieve(job.id)).status not in ("succeeded", "failed"):
                    time.sleep(0.2)
                assert job.status == "succeeded", job.error
                wall = time.perf_counter() - start
                speed = float((job.model_extra or {}).get("tokens_per_second") or 0)
                events = client.fine_tuning.jobs.list_events(job.id)
                peak = next(e.message for e in events if e.message.startswith("Peak memory"))
                speeds[name, count] = speed
                print(f"{name:<24}{count:>10}{speed:>12.1f}{wall:>8.1f}  {peak.removeprefix('Peak memory: ')}")
        finally:
            server.terminate()
            server.wait()
    for name in names:
        for count in processes[1:]:
            ratio(f"train_{name}_{count}_processes_vs_{processes[0]}", speeds[name, count] / speeds[name, processes[0]])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--arm", choices=ARMS, help="(internal) run one arm in this process")
    parser.add_argument("--folder", type=Path, help="(internal) the prepared base model")
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--scale", action="store_true", help="how training time grows with the dataset")
    parser.add_argument("--sizes", default=",".join(map(str, SCALE_SIZES)), help="with --scale: examples per run")
    parser.add_argument("--scale-size", type=int, help="(internal) one --scale run in this process")
    parser.add_argument("--paired-steps", type=int, metavar="N", help="ours against peft's own layers, step by step")
    parser.add_argument("--base-model", metavar="NAME=PATH", help="a brought model beside SmolLM2, through the server")
    parser.add_argument("--train-processes", metavar="N,M", help="with or without --base-model: e.g. 1,2")
    args = parser.parse_args()
    if args.base_model or args.train_processes:
        print(machine())
        brought_models(args.base_model, [int(n) for n in (args.train_processes or "1").split(",")])
        return
    if args.arm:
        print(json.dumps(run_arm(args.arm, args.folder)))
        return
    if args.scale_size:
        print(json.dumps(run_scale(args.scale_size, args.folder)))
        return
    if args.paired_steps:
        paired_steps(args.paired_steps, prepared_folder())
        return
    if args.scale:
        scale([int(n) for n in args.sizes.split(",")], prepared_folder())
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
    print(f"ours / trl-default: {ours / median('trl-default', 'tokens_per_second'):.2f}x (target >= 3x on a bf16 CPU)")
    print(f"ours / trl-tuned:   {ours / median('trl-tuned', 'tokens_per_second'):.2f}x (target > 1x)")
    ratio("train_vs_trl_default", ours / median("trl-default", "tokens_per_second"))
    ratio("train_vs_trl_tuned", ours / median("trl-tuned", "tokens_per_second"))
    if not args.skip_server:
        jobs = server_job_seconds(args.repeats)
        runs_s = ", ".join(f"{t:.1f}" for t in jobs)
        print(f"server job created -> succeeded: median {statistics.median(jobs):.1f} s ({runs_s}) (target <= 10 s)")
        seconds("job_created_to_succeeded", statistics.median(jobs))


if __name__ == "__main__":
    main()
