"""Token counting of 50,000 examples: ours against OpenAI cookbook's per-message loop, same run, same totals.

Run: python -m bench.tokens [--examples 50000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Any

from bench import machine, ratio
from bench.import_validate import make_jsonl


def cookbook_count(examples: list[Any], encoding: Any) -> int:
    """num_tokens_from_messages from OpenAI's data-preparation cookbook, summed over the dataset."""
    total = 0
    for example in examples:
        num_tokens = 0
        for message in example["messages"]:
            num_tokens += 3
            for key, value in message.items():
                num_tokens += len(encoding.encode(value))
                if key == "name":
                    num_tokens += 1
        num_tokens += 3
        total += num_tokens
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("STUDIO_DATA_DIR", tempfile.mkdtemp(prefix="studio-bench-"))

    from lib.curate.formats import read_jsonl
    from lib.price.tokens import Counter, encoding

    examples = [ex for _, ex in read_jsonl(make_jsonl(args.examples)).valid_examples()]
    enc = encoding("o200k_base")
    Counter("o200k_base")  # load both tokenisers once before timing, as the cookbook's encoding is
    ours_times, base_times, ours_total, base_total = [], [], 0, 0
    for _ in range(args.repeats):  # interleaved, fresh counter each time: no cache carried over
        start = time.perf_counter()
        ours_total = sum(c.total for c in Counter("o200k_base").count_all(examples))
        ours_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        base_total = cookbook_count(examples, enc)
        base_times.append(time.perf_counter() - start)
    ours, base = statistics.median(ours_times), statistics.median(base_times)
    print(machine())
    print(f"{len(examples):,} examples, o200k_base, median of {args.repeats}")
    print(f"{'':<12}{'ours':>10}{'cookbook loop':>16}")
    print(f"{'time':<12}{ours:>9.2f}s{base:>15.2f}s   speed-up {base / ours:.1f}x (target >= 3x)")
    print(f"{'tokens':<12}{ours_total:>10,}{base_total:>16,}   {'identical' if ours_total == base_total else 'DIFFER'}")
    ratio("tokens_vs_cookbook", base / ours)


if __name__ == "__main__":
    main()
