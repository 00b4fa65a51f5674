"""An evaluation run through the real local server, its requests sent one at a time and 8 at once, in one run.

Run: python -m bench.evaluate [--data DIR]

The 25 held-out questions of data/limericks-eval.jsonl, greedy, 120 tokens, four contenders: the shipped
SmolLM2-135M-Instruct bare, with 3 examples in its prompt (from the tuned model's training rows), with 3 passages
from data/elements.csv, and the sample's recipe tuned on the 40 limericks with passages (trained first, exactly as
``python -m bench.elle`` trains it; with --data, a folder kept between runs, a model trained there earlier is
reused). The run is made twice and answered once with one request at a time (as the app asked the local server
before it decoded answers together) and once with ``in_parallel.LOCAL_AT_ONCE`` at a time (as it asks now).
Prints each wall time, their ratio, and how many answers the two runs share word for word.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench import local_server, machine, ratio, seconds
from bench.elle import BASE, trained
from lib.settings import SAMPLE_DIR


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, help="a data folder kept between runs")
    args = parser.parse_args()
    print(machine())
    from lib.db import run_store
    from lib.judge import evaluation
    from lib.judge.in_parallel import LOCAL_AT_ONCE
    from lib.judge.prompts import eval_file_prompts
    from lib.judge.run import Contender, RunSettings
    from lib.retrieve.passages import SAMPLE_FILE, source_from_file
    from lib.train.providers import ProviderConfig

    with local_server(args.data, "studio-evaluate-") as client:
        config = ProviderConfig("local")
        tuned, _ = trained(client, config, SAMPLE_DIR / "limericks.jsonl", SAMPLE_FILE, 3, None)
        source = source_from_file(SAMPLE_FILE)
        contenders = [
            Contender("base", BASE),
            Contender("base (3-shot)", BASE, shots=3),
            Contender("base + 3 passages", BASE, passages=3),
            Contender("tuned with passages + 3", tuned, passages=3),
        ]
        pool = evaluation.shot_pool("local", contenders, None)  # the tuned model's training rows
        assert pool is not None, "the tuned model's job recorded no training rows"
        settings = RunSettings(knowledge_source=source.id, knowledge_version=source.version_id,
                               knowledge_name=source.name, shots_dataset=pool[0], shots_version=pool[1],
                               shots_rows=pool[2])  # fmt: skip
        prompts = eval_file_prompts()
        answers = {}
        took = {}
        for at_once in (1, LOCAL_AT_ONCE):
            run = evaluation.create_run(f"bench-evaluate-{at_once}", config, "eval_file", prompts, contenders, settings)
            start = time.perf_counter()
            evaluation.generate(run, client, config, at_once=at_once)
            took[at_once] = time.perf_counter() - start
            answers[at_once] = {(a.position, a.contender): a.text for a in run_store.run_answers(run.id)}
            print(
                f"{len(prompts)} questions x {len(contenders)} contenders, {at_once} at a time: {took[at_once]:.0f} s"
            )
            seconds(f"evaluate_{at_once}_at_a_time", took[at_once])
    same = sum(answers[1][key] == answers[LOCAL_AT_ONCE].get(key) for key in answers[1])
    print(f"answers the two runs share word for word: {same} of {len(answers[1])}")
    ratio(f"evaluate_{LOCAL_AT_ONCE}_at_once_vs_one_at_a_time_speedup", took[1] / took[LOCAL_AT_ONCE])


if __name__ == "__main__":
    main()
