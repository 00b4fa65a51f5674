"""The dataset doctor on 50,000 varied examples with planted problems, next to the format checks of the same rows.

Run: python -m bench.doctor [--examples 50000]
Reference: lib.curate.import_export.check_rows (the validation panel the user already waits for), same rows.
Prints each rule's time, the whole doctor's, and what it found against what was planted.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from bench import machine
from bench import seconds as report_seconds

WORDS = [f"{a}{b}" for a in ("ka", "lo", "mi", "ne", "po", "ru", "sa", "ti", "vo", "ze") for b in
         ("ban", "cor", "dil", "fen", "gor", "hul", "jat", "kem", "lun", "mos", "nib", "pex", "quil", "rom",
          "sut", "tav", "ulm", "vex", "wid", "yor")]  # fmt: skip
SYSTEM = "You answer questions about the made-up world of Zembla in two sentences."


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def make_examples(n: int, seed: int = 0) -> tuple[list[Any], dict[str, int]]:
    """n varied examples; 1 in 200 a near-duplicate of the one before, 1 in 500 with an e-mail address."""
    rng = random.Random(seed)
    examples: list[Any] = []
    planted = {"near_duplicate": 0, "pii": 0}
    for i in range(n):
        if i % 200 == 199:
            copy = examples[-1]["messages"]
            examples.append(
                {"messages": [copy[0], copy[1], {"role": "assistant", "content": copy[2]["content"] + "!"}]}
            )
            planted["near_duplicate"] += 1
            continue
        answer = f"{sentence(rng, rng.randint(12, 30))} {sentence(rng, rng.randint(8, 20))}"
        if i % 500 == 3:
            answer += f" Write to keeper{i}@zembla.example.org."
            planted["pii"] += 1
        examples.append({"messages": [{"role": "system", "content": SYSTEM},
                                      {"role": "user", "content": sentence(rng, rng.randint(6, 14))},
                                      {"role": "assistant", "content": answer}]})  # fmt: skip
    return examples, planted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=50_000)
    args = parser.parse_args()

    from lib.curate import doctor
    from lib.openai_format.checks import check_example

    examples, planted = make_examples(args.examples)
    numbered = list(enumerate(examples, start=1))
    start = time.perf_counter()
    for line, example in numbered:
        check_example(example, line)
    format_seconds = time.perf_counter() - start

    texts = doctor.example_texts(numbered)
    timings = {}
    for name, rule in (("pii", doctor.personal_data), ("contradiction", doctor.contradictions),
                       ("near_duplicate", doctor.near_duplicates), ("outlier", doctor.outliers)):  # fmt: skip
        start = time.perf_counter()
        rule(texts)
        timings[name] = time.perf_counter() - start
    start = time.perf_counter()
    found = doctor.diagnose(numbered)
    total = time.perf_counter() - start

    print(machine())
    print(f"{args.examples:,} examples")
    print(f"{'format checks (reference)':<28}{format_seconds:>8.2f} s")
    for name, seconds in timings.items():
        print(f"{'doctor: ' + name:<28}{seconds:>8.2f} s")
    print(f"{'doctor: all rules':<28}{total:>8.2f} s   ({total / format_seconds:.1f}x the format checks)")
    counts = {
        code: sum(d.code == code for d in found) for code in ("near_duplicate", "pii", "contradiction", "outlier")
    }
    print(f"found: {counts}; planted: {planted}")
    report_seconds("doctor_all_rules", total)


if __name__ == "__main__":
    main()
