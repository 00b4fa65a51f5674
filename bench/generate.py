"""Generation speed of the local provider: time to first token and greedy decode tokens/s, base vs tuned.

Run: python -m bench.generate [--repeats 3] [--tokens 128] [--concurrency 1,4,8]

The tuned model is trained for one epoch on ten limericks, then served the way the server serves it
(llama.cpp, Q8_0 GGUF with the adapter merged in). For comparison, in the same run: llama-cpp-python's
own decoding loop on the same file (no serving code: the ceiling), PyTorch
decoding (what served before), the tuned model with its adapter left unmerged (PEFT), and
Hugging Face's generate() on the base model.

With --concurrency, only the base model is measured: that many answers at once through the server's decoding (each
a different question, greedy, --tokens tokens each), as aggregate tokens/s from the first request to the last
token, beside the bare llama.cpp loop answering one question.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import machine, ratio, sample_examples

PROMPT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write a long, detailed story about a chemist who discovers a new element."},
]


def timed_decode(served: Any, tokens: int) -> tuple[float, float, int]:
    """(seconds to the first token, decode tokens/s after it, tokens produced), greedy, no early stop."""
    import torch

    from lib.local.decoding import Sampling, generate
    from lib.local.serving import prompt_ids

    ids = prompt_ids(served, PROMPT)
    if served.fast is not None:
        served.fast.reset()  # no prompt cache carried over from the previous run
    start = time.perf_counter()
    first = 0.0
    produced = 0
    with torch.inference_mode():
        for piece in generate(served, ids, Sampling(max_tokens=tokens, temperature=0), stop_at_end=False):
            if produced == 0:
                first = time.perf_counter() - start
            produced = piece.tokens
    total = time.perf_counter() - start
    return first, (produced - 1) / max(1e-9, total - first), produced


def bare_llamacpp(served: Any, llm: Any, tokens: int) -> tuple[float, float, int]:
    """The same GGUF decoded in this process by llama-cpp-python's own loop (Llama.generate, greedy): the ceiling
    for serving, which decodes in a child process (see lib/local/llama_child.py)."""
    from lib.local.serving import prompt_ids

    ids = prompt_ids(served, PROMPT)
    llm.reset()
    start = time.perf_counter()
    first, produced = 0.0, 0
    for _ in llm.generate(ids, top_k=1, temp=0.0, reset=True):
        produced += 1
        if produced == 1:
            first = time.perf_counter() - start
        if produced >= tokens:
            break
    total = time.perf_counter() - start
    return first, (produced - 1) / max(1e-9, total - first), produced


def hf_generate(loaded: Any, tokens: int) -> tuple[float, float, int]:
    import torch

    from lib.local.serving import prompt_ids

    ids = torch.tensor([prompt_ids(loaded, PROMPT)])
    start = time.perf_counter()
    out = loaded.model.generate(ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
    total = time.perf_counter() - start
    produced = out.shape[1] - ids.shape[1]
    return float("nan"), produced / total, produced


def together(served: Any, answers: int, tokens: int) -> float:
    """Aggregate tokens/s of ``answers`` greedy answers of ``tokens`` tokens decoded at once, prompts included."""
    from concurrent.futures import ThreadPoolExecutor

    from lib.local.decoding import Sampling, generate
    from lib.local.serving import prompt_ids

    subjects = ["a chemist", "a gardener", "a sailor", "a baker", "a pilot", "a teacher", "a miner", "a painter"]

    def one(n: int) -> int:
        story = [{"role": "user", "content": f"Write a long story about {subjects[n % len(subjects)]} (part {n})."}]
        pieces = generate(served, prompt_ids(served, story), Sampling(max_tokens=tokens, temperature=0), False)
        return [piece.tokens for piece in pieces][-1]

    start = time.perf_counter()
    with ThreadPoolExecutor(answers) as pool:
        produced = sum(pool.map(one, range(answers)))
    return produced / (time.perf_counter() - start)


def concurrency(levels: list[int], tokens: int, repeats: int) -> None:
    import llama_cpp

    from lib.local.models import BASE_MODELS, SMOLLM2, model_folder
    from lib.local.serving import Engine

    models_dir = Path(tempfile.mkdtemp(prefix="bench-models-"))
    model_folder(models_dir, SMOLLM2, BASE_MODELS[SMOLLM2])
    engine = Engine(models_dir, {SMOLLM2: BASE_MODELS[SMOLLM2]})
    served = engine.base(SMOLLM2)
    assert served.fast is not None, "llama-cpp-python is not installed"
    bare = llama_cpp.Llama(
        model_path=str(served.fast.path), n_ctx=0, n_batch=512, n_threads=os.cpu_count() or 1, verbose=False
    )
    bare_llamacpp(served, bare, tokens)  # warm-up
    single = statistics.median(bare_llamacpp(served, bare, tokens)[1] for _ in range(repeats))
    print(machine())
    print(f"SmolLM2-135M-Instruct, llama.cpp Q8_0, greedy, {tokens} tokens per answer, median of {repeats}")
    print(f"{'bare llama.cpp loop, one answer':<36}{single:>10.1f} tok/s")
    for level in levels:
        together(served, level, tokens)  # warm-up
        speed = statistics.median(together(served, level, tokens) for _ in range(repeats))
        print(f"{f'served, {level} answers at once':<36}{speed:>10.1f} tok/s{speed / single:>8.2f}x")
        ratio(f"served_concurrency{level}_vs_bare_single", speed / single)
    engine.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--concurrency", help="answers at once, e.g. 1,4,8: measures batched decoding only")
    args = parser.parse_args()
    if args.concurrency:
        concurrency([int(level) for level in args.concurrency.split(",")], args.tokens, args.repeats)
        return

    import llama_cpp
    import torch
    from peft import PeftModel

    from lib.local.models import BASE_MODELS, SMOLLM2, load, model_folder
    from lib.local.serving import Engine, Served
    from lib.local.trainer import TrainingConfig, train

    models_dir = Path(tempfile.mkdtemp(prefix="bench-models-"))
    folder = model_folder(models_dir, SMOLLM2, BASE_MODELS[SMOLLM2])
    base = load(folder)
    examples = sample_examples()
    adapter_dir = Path(tempfile.mkdtemp(prefix="bench-adapter-"))
    trained, _ = train(load(folder), examples[:10], TrainingConfig(n_epochs=1))
    trained.save_pretrained(str(adapter_dir))
    engine = Engine(models_dir, {SMOLLM2: BASE_MODELS[SMOLLM2]})
    served_base = engine.base(SMOLLM2)
    served_tuned = engine.tuned("ft:bench", SMOLLM2, adapter_dir)
    assert served_base.fast is not None and served_tuned.fast is not None, "llama-cpp-python is not installed"
    eos = served_base.eos_ids
    bare = llama_cpp.Llama(
        model_path=str(served_base.fast.path), n_ctx=0, n_batch=512, n_threads=os.cpu_count() or 1, verbose=False
    )
    peft_model: Any = PeftModel.from_pretrained(copy.deepcopy(base.model), adapter_dir)
    unmerged = Served(base.tokenizer, eos, torch_model=peft_model.eval())
    merged_model: Any = PeftModel.from_pretrained(copy.deepcopy(base.model), adapter_dir)
    merged = Served(base.tokenizer, eos, torch_model=merged_model.merge_and_unload().eval())

    arms = {
        "base (served)": lambda: timed_decode(served_base, args.tokens),
        "base, bare llama.cpp loop": lambda: bare_llamacpp(served_base, bare, args.tokens),
        "tuned (served)": lambda: timed_decode(served_tuned, args.tokens),
        "base, PyTorch": lambda: timed_decode(Served(base.tokenizer, eos, torch_model=base.model), args.tokens),
        "tuned, PyTorch merged": lambda: timed_decode(merged, args.tokens),
        "tuned, PyTorch PEFT": lambda: timed_decode(unmerged, args.tokens),
        "base, HF generate()": lambda: hf_generate(base, args.tokens),
    }
    results: dict[str, list[tuple[float, float, int]]] = {arm: [] for arm in arms}
    for arm in arms:
        arms[arm]()  # warm-up
    for _ in range(args.repeats):
        for arm, run in arms.items():
            results[arm].append(run())
    setup = f"served: llama.cpp Q8_0; PyTorch: {torch.get_num_threads()} threads, {base.model.dtype}"
    setup += f"; greedy, {args.tokens} tokens"
    print(machine())
    print(f"SmolLM2-135M-Instruct, {setup}, median of {args.repeats}")
    print(f"{'':<26}{'first token':>12}{'decode tok/s':>14}")
    for arm, runs in results.items():
        first = statistics.median(r[0] for r in runs)
        speed = statistics.median(r[1] for r in runs)
        print(f"{arm:<26}{first * 1000:>10.0f}ms{speed:>14.1f}")
    base_speed = statistics.median(r[1] for r in results["base (served)"])
    tuned_speed = statistics.median(r[1] for r in results["tuned (served)"])
    slower = 100 * (1 - tuned_speed / base_speed)
    verdict = f"{slower:.1f}% slower" if slower > 0 else f"{-slower:.1f}% faster"
    print(f"served tuned vs base: {verdict} (target: at most 10% slower)")
    print(f"served base: {base_speed:.1f} tok/s (target >= 50)")
    bare_speed = statistics.median(r[1] for r in results["base, bare llama.cpp loop"])
    ratio("served_vs_bare_llamacpp", base_speed / bare_speed)


if __name__ == "__main__":
    main()
