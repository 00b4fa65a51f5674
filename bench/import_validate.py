"""Import + validation of a 50,000-example JSONL, and how fast the Examples screen answers with it.

Run: python -m bench.import_validate [--examples 50000]
Baseline: the format checks of OpenAI's data-preparation cookbook, as a plain loop over the same lines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from bench import machine, ratio

SYSTEM = "Elle is a factual chatbot that answers questions about elements in the periodic table with a limerick"


def make_jsonl(n: int) -> bytes:
    lines = []
    for i in range(n):
        example: Any = {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"Tell me about element number {i}."},
                {"role": "assistant", "content": f"Element {i} is a marvel,\nits story is long\n... line {i}"},
            ]
        }
        if i % 1000 == 7:
            example = {"messages": [{"role": "user", "content": ""}]}  # a broken one now and then
        lines.append(json.dumps(example))
    return ("\n".join(lines) + "\n").encode()


def cookbook_checks(data: bytes) -> dict[str, int]:
    """OpenAI cookbook's format-error counting loop (json.loads per line, then the shape checks)."""
    dataset = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    errors: dict[str, int] = defaultdict(int)
    for ex in dataset:
        if not isinstance(ex, dict):
            errors["data_type"] += 1
            continue
        messages = ex.get("messages", None)
        if not messages:
            errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if "role" not in message or "content" not in message:
                errors["message_missing_key"] += 1
            if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
                errors["message_unrecognized_key"] += 1
            if message.get("role", None) not in ("system", "user", "assistant", "function"):
                errors["unrecognized_role"] += 1
            content = message.get("content", None)
            function_call = message.get("function_call", None)
            if (not content and not function_call) or not isinstance(content, str):
                errors["missing_content"] += 1
        if not any(message.get("role", None) == "assistant" for message in messages):
            errors["example_missing_assistant_message"] += 1
    return dict(errors)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def open_then_rerun(at: Any, page: str) -> tuple[float, float]:
    """Seconds to open a screen, then to run it again (what every click costs)."""
    start = time.perf_counter()
    at.switch_page(page).run()
    first = time.perf_counter() - start
    assert not at.exception, at.exception
    start = time.perf_counter()
    at.run()
    return first, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ["STUDIO_DATA_DIR"] = tempfile.mkdtemp(prefix="studio-bench-")
    os.environ["STUDIO_LOCAL_AUTOSTART"] = "0"  # time the screens alone, without starting the local server

    from lib.curate import import_export
    from lib.db import dataset_store
    from lib.openai_format.jsonl import read_jsonl
    from lib.settings import PROJECT_DIR

    data = make_jsonl(args.examples)
    print(machine())
    print(f"{args.examples:,} examples, {len(data) / 1e6:.1f} MB, median of {args.repeats}")
    base_times, our_times = [], []
    for _ in range(args.repeats):  # interleaved, so both arms see the same machine
        base_times.append(timed(lambda: cookbook_checks(data), 1)[0])
        seconds, parsed = timed(lambda: read_jsonl(data), 1)
        our_times.append(seconds)
    baseline_s, ours_s = statistics.median(base_times), statistics.median(our_times)
    print(f"{'read + validate':<34}{'ours':>10}{'cookbook loop':>16}")
    print(f"{'':<34}{ours_s:>9.2f}s{baseline_s:>15.2f}s   ({len(parsed.findings):,} findings, each with its line)")
    ratio("validate_vs_cookbook", baseline_s / ours_s)

    dataset = dataset_store.create_dataset("bench")
    import_s, _ = timed(lambda: import_export.import_parsed(dataset.id, parsed, True, "bench.jsonl"), 1)
    load_s, rows = timed(lambda: dataset_store.rows(dataset.id), args.repeats)
    check_s, _ = timed(lambda: import_export.check_rows(rows), 1)
    print(f"{'import into the database':<34}{import_s:>9.2f}s")
    print(f"{'load all rows':<34}{load_s:>9.2f}s   ({len(rows):,} rows)")
    print(f"{'validate the dataset':<34}{check_s:>9.2f}s")

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=120)
    at.run()
    first_s, again_s = open_then_rerun(at, "pages/examples.py")
    print(f"{'Examples screen, first open':<34}{first_s:>9.2f}s   (loads, validates, caches per version)")
    print(f"{'Examples screen, each rerun':<34}{again_s:>9.2f}s   (50 rows a page)")
    counted_s, costs_again_s = open_then_rerun(at, "pages/costs.py")
    print(f"{'Tokens and cost, first open':<34}{counted_s:>9.2f}s   (counts every example, cached per version)")
    print(f"{'Tokens and cost, once counted':<34}{costs_again_s:>9.2f}s   (target < 1 s)")


if __name__ == "__main__":
    main()
