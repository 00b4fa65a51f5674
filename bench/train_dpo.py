"""DPO speed of the local provider against TRL's DPOTrainer, same preference data, same LoRA rank, same machine.

Run: python -m bench.train_dpo [--repeats 3]   (needs requirements-bench.txt: trl)

Ten preference pairs from the sample (the element's limerick preferred to the limerick of the element
after it: right form, wrong facts), 3 epochs, batch 1, LoRA r=16 on all linear layers of
SmolLM2-135M-Instruct, beta 0.1. Arms, each in its own process, interleaved, median of --repeats:
  ours         lib.local.dpo.train_dpo (what the local server runs for method "dpo")
  trl-default  DPOTrainer with TRL's defaults, as a user would start it (our epochs, batch, seed and rank)
Every arm's reward accuracy (chosen over rejected, against the untuned model) is measured the same way,
on ten other pairs.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import machine, run_arms, sample_examples
from bench import median as median_of
from bench import ratio as report_ratio

ARMS = ("ours", "trl-default")
EPOCHS, RANK, BETA = 3, 16, 0.1


def pairs() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    examples = sample_examples()
    made = [
        {"input": {"messages": e["messages"][:-1]}, "preferred_output": [e["messages"][-1]],
         "non_preferred_output": [examples[(i + 1) % len(examples)]["messages"][-1]]}
        for i, e in enumerate(examples)
    ]  # fmt: skip
    return made[:10], made[30:40]


def run_arm(arm: str, folder: Path) -> dict[str, Any]:
    import torch

    from lib.local import dpo
    from lib.local.models import load
    from lib.local.trainer import BASE_LEARNING_RATE, TrainingConfig

    torch.manual_seed(0)
    training, held_out = pairs()
    loaded = load(folder)
    encoded = [dpo.encode_pair(p, loaded.tokenizer, 2048) for p in training]
    real_tokens = EPOCHS * sum(len(p.chosen.input_ids) + len(p.rejected.input_ids) for p in encoded)
    start = time.perf_counter()
    if arm == "ours":
        config = TrainingConfig(n_epochs=EPOCHS, batch_size=1, seed=0, lora_rank=RANK)
        model, _ = dpo.train_dpo(loaded, training, config, beta=BETA)
    else:
        model = _trl(loaded, training, BASE_LEARNING_RATE)
    seconds = time.perf_counter() - start
    model.eval()
    valid = [dpo.encode_pair(p, loaded.tokenizer, 2048) for p in held_out]
    pad = int(loaded.tokenizer.pad_token_id or 0)
    device = next(model.parameters()).device
    with torch.no_grad():
        tuned = dpo._forward(model, valid, pad, device)
        with model.disable_adapter():
            reference = dpo._forward(model, valid, pad, device)
    margin = (tuned[0] - reference[0]) - (tuned[1] - reference[1])
    return {
        "arm": arm,
        "seconds": seconds,
        "tokens_per_second": real_tokens / seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "reward_accuracy": float((margin > 0).float().mean()),
    }


def _trl(loaded: Any, training: list[dict[str, Any]], learning_rate: float) -> Any:
    import importlib

    import torch
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    rows = [{"prompt": p["input"]["messages"], "chosen": p["preferred_output"], "rejected": p["non_preferred_output"]}
            for p in training]  # fmt: skip
    config = DPOConfig(
        output_dir=tempfile.mkdtemp(prefix="trl-dpo-"), num_train_epochs=EPOCHS, per_device_train_batch_size=1,
        use_cpu=not torch.cuda.is_available(), report_to=[], save_strategy="no", logging_steps=10, seed=0, beta=BETA,
    )  # fmt: skip
    lora = LoraConfig(r=RANK, lora_alpha=2 * RANK, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = DPOTrainer(
        model=loaded.model.float(),
        args=config,
        train_dataset=importlib.import_module("datasets").Dataset.from_list(rows),
        processing_class=loaded.tokenizer,
        peft_config=lora,
    )
    trainer.train()
    return trainer.model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--arm", choices=ARMS, help="(internal) run one arm in this process")
    parser.add_argument("--folder", type=Path, help="(internal) the prepared base model")
    args = parser.parse_args()
    if args.arm:
        print(json.dumps(run_arm(args.arm, args.folder)))
        return

    runs = run_arms("bench.train_dpo", ARMS, args.repeats)

    def median(arm: str, key: str) -> float:
        return median_of(runs, arm, key)

    print(machine())
    print(f"\nTen preference pairs, {EPOCHS} epochs, batch 1, LoRA r={RANK}, beta {BETA}; median of {args.repeats}")
    print(f"{'arm':<14}{'real tok/s':>12}{'wall s':>9}{'peak MB':>10}{'held-out reward acc.':>22}")
    for arm in ARMS:
        print(
            f"{arm:<14}{median(arm, 'tokens_per_second'):>12.1f}{median(arm, 'seconds'):>9.1f}"
            f"{median(arm, 'peak_mb'):>10.0f}{median(arm, 'reward_accuracy'):>22.2f}"
        )
    ratio = median("ours", "tokens_per_second") / median("trl-default", "tokens_per_second")
    print(f"ours / trl-default: {ratio:.2f}x (target > 1x, with no more memory)")
    report_ratio("dpo_train_vs_trl_default", ratio)


if __name__ == "__main__":
    main()
