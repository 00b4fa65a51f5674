"""Token counting of 50,000 examples: ours against OpenAI cookbook's per-message loop, same run, same totals.

Run: python -m bench.tokens [--examples 50000]

Two situations, each against the cookbook loop counting the whole dataset: the first count in a fresh
process (no string counted before), and the count of the next version after one example was edited
(what the Tokens and Train screens do after every edit: strings counted for the previous version are known).
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

    from lib.openai_format.jsonl import read_jsonl
    from lib.price.tokens import Counter, encoding, forget_counted_strings

    examples = [ex for _, ex in read_jsonl(make_jsonl(args.examples)).valid_examples()]
    enc = encoding("o200k_base")
    Counter("o200k_base")  # load both tokenisers once before timing, as the cookbook's encoding is
    times: dict[str, list[float]] = {"fresh": [], "edited": [], "cookbook": []}
    totals: dict[str, int] = {}

    def ours(dataset: list[Any]) -> int:
        return sum(c.total for c in Counter("o200k_base").count_all(dataset))

    def timed(arm: str, count: Any, dataset: list[Any]) -> None:
        start = time.perf_counter()
        totals[arm] = count(dataset)
        times[arm].append(time.perf_counter() - start)

    for repeat in range(args.repeats):  # interleaved
        forget_counted_strings()
        timed("fresh", ours, examples)
        edited = [*examples]
        answer = {"role": "assistant", "content": f"An answer rewritten in edit {repeat}, rhyme and all."}
        edited[len(edited) // 2] = {"messages": [*examples[len(edited) // 2]["messages"][:-1], answer]}
        timed("edited", ours, edited)
        timed("cookbook", lambda dataset: cookbook_count(dataset, enc), examples)
        totals["cookbook edited"] = cookbook_count(edited, enc)
    fresh, after_edit, base = (statistics.median(times[arm]) for arm in ("fresh", "edited", "cookbook"))
    same = totals["fresh"] == totals["cookbook"] and totals["edited"] == totals["cookbook edited"]
    print(machine())
    print(f"{len(examples):,} examples, o200k_base, median of {args.repeats}; the cookbook loop counts everything")
    print(f"{'':<34}{'ours':>9}{'cookbook loop':>15}{'speed-up':>10}")
    print(f"{'first count in a fresh process':<34}{fresh:>8.2f}s{base:>14.2f}s{base / fresh:>9.1f}x")
    print(f"{'next version, one example edited':<34}{after_edit:>8.2f}s{base:>14.2f}s{base / after_edit:>9.1f}x")
    print(f"tokens {totals['fresh']:,} / {totals['cookbook']:,}: {'identical' if same else 'DIFFER'} (both versions)")
    ratio("tokens_vs_cookbook", base / fresh)
    ratio("tokens_vs_cookbook_after_edit", base / after_edit)


if __name__ == "__main__":
    main()
